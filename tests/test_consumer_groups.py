"""適格消費者団体: the directory file, its validation, which group for an area, and where it shows
(LINE through signed webhooks and a fake LINE API; Slack through signed requests and a fake Web API)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from bot.live import build
from bot.triage import load_gazetteer
from bot.triage.consumer_groups import COLUMNS
from bot.triage.facts import Area
from bot.triage.loader import load_directory
from engines import Target
from fakes.slack_api import block_problems
from test_slack import platform_env

RESPONSES = Path(__file__).resolve().parents[1] / "responses"
GROUPS_CSV = RESPONSES / "directory" / "consumer_groups.csv"
CAA_PAGE = ("https://www.caa.go.jp/policies/policy/consumer_system/collective_litigation_system/"
            "about_qualified_consumer_organization/")
KANSAI = "消費者支援機構関西"
TOHOKU = "消費者市民ネットとうほく"
FUKUOKA = "消費者支援機構福岡"
EHIME = "えひめ消費者ネット"

# Our own messages: a business's dealings in four regions, and worries that are not about one.
OSAKA = "大阪府豊中市の母の家に業者が来て、高い羽毛布団を契約させられました"
MIYAGI = "宮城県石巻市の父が、訪問してきた業者から健康食品を何十万円分も買わされました"
FUKUOKA_CASE = "福岡県久留米市に住む祖母が、家に来たセールスマンに浄水器を契約させられた"
IWATE = "岩手県花巻市の実家に業者が来て、母が高額なリフォームの契約をしてしまいました"   # no group of its own
NO_AREA = "家に来た業者に、母が高い布団を買わされてしまいました"
NOT_CONSUMER = {
    "hikikomori": "30代の息子が10年ほど部屋から出てきません。大阪府に住んでいます。どう接したらいいでしょうか",
    "crisis": "もう消えてしまいたいと思う日が続いています。大阪府に住んでいます",
    "emergency": "大阪府の家で、いま息子が暴れて母を殴っています",
    "tokushu_sagi": "大阪府の母に、息子を名乗る男から電話があり、お金が必要だと言われました",
}


def copy_responses(tmp_path: Path) -> Path:
    target = tmp_path / "responses"
    shutil.copytree(RESPONSES, target)
    return target


def rows() -> list[dict[str, str]]:
    with GROUPS_CSV.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def groups():
    return load_directory(RESPONSES).groups


# -- the file -------------------------------------------------------------------------------------
def test_the_shipped_file_loads_and_validates(groups):
    data = rows()
    assert list(data[0]) == list(COLUMNS)
    assert len(groups.groups) == len(data) == 26
    kinds = [g.kind for g in groups.groups]
    assert kinds.count("適格") == 22 and kinds.count("特定適格") == 4
    assert all(g.source_url.startswith("https://") and g.note for g in groups.groups)
    assert len({g.id for g in groups.groups}) == 26
    mine = [i for i in load_directory(RESPONSES).validate()
            if "consumer_groups" in i.file or "regions" in i.file or "consumer_groups" in i.message]
    assert [i for i in mine if i.severity == "error"] == []


def test_regions_agree_with_the_gazetteer(groups):
    """Every prefecture once, with the code and name the area extraction uses, in one of 8 地方."""
    prefectures = load_gazetteer().prefectures      # name -> code
    assert {r.pref: r.code for r in groups.regions} == dict(prefectures)
    assert len({r.block for r in groups.regions}) == 8
    assert {r.pref: r.block for r in groups.regions}["沖縄県"] == "九州・沖縄"


def broken(tmp_path: Path, change) -> list:
    """validate() after ``change(rows)`` rewrote consumer_groups.csv in a copy of responses/."""
    root = copy_responses(tmp_path)
    path = root / "directory" / "consumer_groups.csv"
    data = rows()
    change(data)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(data[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(data)
    return [i for i in load_directory(root).validate() if i.file.endswith("consumer_groups.csv")]


def test_a_broken_row_is_reported_with_file_and_line(tmp_path):
    def change(data):
        bad = dict(data[2], id=data[0]["id"], kind="適格団体", hq_pref_code="27", hq_pref="京都府",
                   prefs_covered="京都府;大坂府", info_url="javascript:alert(1)", group_url="https://ex ample.jp/",
                   phone="225-3300", source_url="")
        data[2] = bad
    issues = broken(tmp_path, change)
    line = 4        # header, two rows, then the broken one (retrieved_note holds no line break)
    at_line = " | ".join(i.message for i in issues if i.line == line and i.severity == "error")
    assert issues and all(i.file == "responses/directory/consumer_groups.csv" for i in issues)
    for expected in ("duplicate id 'cooj'", "kind '適格団体'", "hq_pref '京都府' does not match code 27",
                     "unknown prefecture '大坂府'", "source_url is empty", "info_url 'javascript:alert(1)'",
                     "group_url 'https://ex ample.jp/'"):
        assert expected in at_line, expected
    assert any(i.line == line and i.severity == "warning" and "225-3300" in i.message for i in issues)
    assert not [i for i in issues if i.line != line]


def test_a_missing_column_and_an_unknown_code_are_errors(tmp_path):
    def change(data):
        for row in data:
            del row["kind"]
        data[0]["hq_pref_code"] = "48"
    issues = broken(tmp_path, change)
    assert any(i.line == 1 and "columns missing: kind" in i.message for i in issues)
    assert any(i.line == 2 and "hq_pref_code '48'" in i.message for i in issues)


def test_the_rule_in_contacts_yml_is_checked(tmp_path):
    root = copy_responses(tmp_path)
    path = root / "contacts.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    url: " + CAA_PAGE, "    url: https://www.caa.go.jp/made-up/"),
                    encoding="utf-8")
    d = load_directory(root)
    assert any(i.file == "responses/contacts.yml" and "not a source_url" in i.message and i.line > 1
               for i in d.validate())
    assert [i.message for i in d.groups.intent_issues(["houmon_hanbai"]) if "'tenken'" in i.message]


# -- which group -------------------------------------------------------------------------------------
@pytest.mark.parametrize("area, expected, level", [
    (Area("大阪府", "27"), KANSAI, "prefecture"),
    (Area("宮城県", "04"), TOHOKU, "prefecture"),
    (Area("福岡県", "40"), FUKUOKA, "prefecture"),
    (Area("岩手県", "03"), TOHOKU, "region"),        # 東北: the group in 宮城県
    (Area("高知県", "39"), EHIME, "region"),         # 四国: the only group has no known page
])
def test_the_group_of_an_area(groups, area, expected, level):
    first = groups.for_area(area)[0]
    assert expected in first.name and first.level == level
    assert first.kind in ("適格", "特定適格") and first.source_url and first.activities


def test_a_region_lists_groups_with_a_page_first(groups):
    tottori = groups.for_area(Area("鳥取県", "31"))     # 中国: 広島 (no page) is listed before 岡山 in the file
    assert [g.level for g in tottori] == ["region", "region"]
    assert tottori[0].url and not tottori[1].url


def test_no_area_or_no_group_points_to_the_caa_page(groups):
    for area in (None, Area("どこか", "99")):
        [guide] = groups.for_area(area)
        assert guide.level == "guide" and guide.url == CAA_PAGE
    assert groups.for_case("houmon_hanbai", "emergency", Area("大阪府", "27")) == ()
    assert groups.for_case("hikikomori_general", "normal", Area("大阪府", "27")) == ()


def test_decisions_carry_the_group_only_for_a_business_case(triage, now):
    expect = {OSAKA: KANSAI, MIYAGI: TOHOKU, FUKUOKA_CASE: FUKUOKA, IWATE: TOHOKU}
    for text, name in expect.items():
        d = triage.decide(text, now=now)
        assert d.intent in ("houmon_hanbai", "tenken") and d.groups and name in d.groups[0].name, text
    assert triage.decide(NO_AREA, now=now).groups[0].url == CAA_PAGE
    for kind, text in NOT_CONSUMER.items():
        d = triage.decide(text, now=now)
        assert d.groups == (), kind
    assert triage.decide(NOT_CONSUMER["emergency"], now=now).urgency == "emergency"


# -- LINE and Slack ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def version(settings):
    return build(settings, escalation=True)


@pytest.fixture
def env(tmp_path, version):
    with platform_env(Target("sqlite", str(tmp_path / "t.db")), version) as e:
        yield e


def group_bubble(messages: list[dict]) -> dict | None:
    lead = "同じ業者の被害を防ぐために"
    found = [m for m in messages if m["type"] == "flex" and lead in json.dumps(m, ensure_ascii=False)]
    assert len(found) <= 1
    return found[0] if found else None


def uris(node) -> list[str]:
    text = json.dumps(node, ensure_ascii=False)
    return [part.split('"', 1)[0] for part in text.split('"uri": "')[1:]]


@pytest.mark.parametrize("text, name", [(OSAKA, KANSAI), (MIYAGI, TOHOKU), (FUKUOKA_CASE, FUKUOKA), (IWATE, TOHOKU)])
def test_line_shows_the_regional_group_after_the_card(env, text, name):
    messages = env.line_says(text)
    assert 3 <= len(messages) <= 5
    assert [m["type"] for m in messages[:2]] == ["text", "flex"]
    card, bubble = messages[1], group_bubble(messages)
    assert "tel:188" in uris(card) or any(u.startswith("tel:0") for u in uris(card))   # the center stays
    assert bubble is not None and messages.index(bubble) == 2
    body = json.dumps(bubble, ensure_ascii=False)
    assert name in body and "tel:" not in body
    [uri] = uris(bubble)
    expected = next(r for r in rows() if name in r["name"])
    assert uri == (expected["info_url"] or expected["group_url"])


def test_line_names_a_group_without_a_page_and_guides_without_an_area(env):
    kochi = env.line_says("高知県の父の家に、屋根の無料点検と言って業者が来て、高い工事を契約しました", "U" + "b" * 32)
    bubble = group_bubble(kochi)
    assert EHIME in json.dumps(bubble, ensure_ascii=False) and uris(bubble) == []
    unknown = env.line_says(NO_AREA, "U" + "c" * 32)
    assert uris(group_bubble(unknown)) == [CAA_PAGE]
    assert "quickReply" in unknown[-1]          # the location quick reply still sits under the last message


@pytest.mark.parametrize("kind", sorted(NOT_CONSUMER))
def test_line_never_shows_a_group_for_other_worries(env, kind):
    messages = env.line_says(NOT_CONSUMER[kind], "U" + "d" * 32)
    assert group_bubble(messages) is None
    if kind == "emergency":
        assert messages[0]["type"] == "flex" and "tel:110" in uris(messages[0])


def test_slack_command_and_mention_list_the_partner_group(env):
    data = env.ask(OSAKA)
    text = json.dumps(data["blocks"], ensure_ascii=False)
    assert "連携先" in text and KANSAI in text and "特定適格消費者団体" in text and "<https://kc-s.or.jp/|" in text
    assert block_problems(data["blocks"]) == []
    for kind in ("hikikomori", "tokushu_sagi"):
        assert "連携先" not in json.dumps(env.ask(NOT_CONSUMER[kind])["blocks"], ensure_ascii=False)
    env.mention("<@U0BOT> " + FUKUOKA_CASE, event_id="Ev0042")
    env.settle()
    [post] = [c for c in env.slack.calls_to("chat.postMessage") if FUKUOKA in json.dumps(c.args, ensure_ascii=False)]
    assert "連携先" in json.dumps(post.args["blocks"], ensure_ascii=False)


def test_slack_area_lookup_includes_the_group(env):
    text = json.dumps(env.ask("窓口 盛岡市")["blocks"], ensure_ascii=False)
    assert "連携先" in text and TOHOKU in text
    osaka = json.dumps(env.ask("窓口 大阪市北区")["blocks"], ensure_ascii=False)
    assert KANSAI in osaka and TOHOKU not in osaka
