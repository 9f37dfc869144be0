"""Consumer-law points: cooling-off deadlines, templates, sources, validation."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from bot.triage.consumer_law import LawBook, contract_date, cooling_off_deadline, format_date, validate as validate_text
from bot.triage.facts import DateMention
from bot.triage.loader import load_law

ROOT = Path(__file__).resolve().parents[1]
LAW_FILE = ROOT / "responses" / "consumer_law.yml"
ANCHORS = ROOT.parent / "shared" / "reference" / "anchors.md"

EIGHT_DAYS = ["cooling_off_houmon_hanbai", "cooling_off_denwa_kanyu", "cooling_off_houmon_kounyu",
              "cooling_off_tokutei_keizoku"]
TWENTY_DAYS = ["cooling_off_rensa", "cooling_off_gyomu_teikyo"]
OTHERS = ["no_cooling_off_online", "okuritsuke", "reikan", "minor_cancel", "minor_cancel_adult",
          "kakuu_seikyu", "refund_fraud", "cooling_off_notice_how"]
TODAY = date(2026, 11, 27)


@pytest.fixture(scope="module")
def book() -> LawBook:
    return load_law(LAW_FILE)


def validate(path: Path):
    """The issues of a law file on disk (the loader reads it, the core checks the text)."""
    return validate_text(str(path), path.read_text(encoding="utf-8"))


def one(book: LawBook, pid: str, contract: date | None, today: date = TODAY, **kw):
    (point,) = book.points([pid], contract_date=contract, today=today, **kw)
    return point


def test_file_is_valid():
    assert validate(LAW_FILE) == []


def test_all_points_present(book):
    assert set(EIGHT_DAYS + TWENTY_DAYS + OTHERS) <= set(book.ids)


@pytest.mark.parametrize("pid", EIGHT_DAYS)
def test_eight_day_running(book, pid):
    p = one(book, pid, date(2026, 11, 23))
    assert p.deadline == date(2026, 11, 30)
    assert p.days_left == 3
    assert p.running is True
    assert "11月30日まで、あと3日" in p.full
    assert "11月23日" in p.full


def test_counting_includes_receipt_day():
    assert cooling_off_deadline(date(2026, 11, 20), 8) == date(2026, 11, 27)
    assert cooling_off_deadline(date(2026, 11, 1), 20) == date(2026, 11, 20)


@pytest.mark.parametrize("pid", TWENTY_DAYS)
def test_twenty_day_running(book, pid):
    p = one(book, pid, date(2026, 11, 10))
    assert p.deadline == date(2026, 11, 29)
    assert p.days_left == 2
    assert p.running
    assert "11月29日まで、あと2日" in p.full


def test_last_day_is_today(book):
    p = one(book, "cooling_off_houmon_hanbai", date(2026, 11, 20))
    assert p.deadline == TODAY
    assert p.days_left == 0
    assert p.running is True
    assert "今日" in p.full and "までです" in p.full
    assert "あと0日" not in p.full


def test_passed(book):
    p = one(book, "cooling_off_denwa_kanyu", date(2026, 11, 1))
    assert p.deadline == date(2026, 11, 8)
    assert p.days_left < 0
    assert p.running is False
    assert "11月8日" in p.full
    assert "始まっていない" in p.full      # the period may not have started
    assert "188" in p.full                 # still consult
    assert not re.search(r"あと-?\d+日", p.full)


def test_twenty_days_still_open_when_eight_would_have_passed(book):
    contract = date(2026, 11, 15)
    assert not one(book, "cooling_off_houmon_hanbai", contract).running
    assert one(book, "cooling_off_rensa", contract).running


def test_unknown_date_states_the_period(book):
    p = one(book, "cooling_off_rensa", None)
    assert p.deadline is None and p.days_left is None
    assert p.running is False
    assert "20日間" in p.full
    assert "1日目" in p.full


def test_year_boundary(book):
    today = date(2026, 12, 30)
    p = one(book, "cooling_off_houmon_hanbai", date(2026, 12, 28), today=today)
    assert p.deadline == date(2027, 1, 4)
    assert p.days_left == 5
    assert "2027年1月4日まで、あと5日" in p.full
    assert "12月28日に" in p.full          # same year as today: no year shown


def test_format_date():
    assert format_date(date(2026, 11, 30), TODAY) == "11月30日"
    assert format_date(date(2027, 1, 4), TODAY) == "2027年1月4日"
    assert format_date(date(2025, 12, 31), TODAY) == "2025年12月31日"


@pytest.mark.parametrize("contract", [None, date(2026, 11, 23), date(2026, 11, 20), date(2026, 10, 1)])
def test_every_point_renders_without_placeholders(book, contract):
    for p in book.points(book.ids, contract_date=contract, today=TODAY):
        assert "{" not in p.full and "}" not in p.full, p.id
        assert p.full.strip() and p.title.strip()


def test_non_cooling_off_points_have_no_deadline(book):
    for p in book.points(OTHERS, contract_date=date(2026, 11, 23), today=TODAY):
        assert p.deadline is None and p.days_left is None and p.running is False, p.id


def test_every_point_has_source_url(book):
    for p in book.points(book.ids, contract_date=date(2026, 11, 23), today=TODAY):
        urls = p.source.split()
        assert urls, p.id
        assert all(re.match(r"https?://", u) for u in urls), p.id


def test_cooling_off_points_cite_the_counting_rule(book):
    for p in book.points(EIGHT_DAYS + TWENTY_DAYS, contract_date=None, today=TODAY):
        assert "https://www.sagara-law.jp/field/shouhisha/faq73.html" in p.source.split()


@pytest.mark.skipif(not ANCHORS.exists(), reason="shared anchors.md not available")
def test_sources_come_from_anchors(book):
    anchors = ANCHORS.read_text(encoding="utf-8")
    for p in book.points(book.ids, contract_date=None, today=TODAY):
        for url in p.source.split():
            assert url in anchors, (p.id, url)


def test_legal_terms_are_explained(book):
    for p in book.points(EIGHT_DAYS + TWENTY_DAYS + ["no_cooling_off_online"], contract_date=None, today=TODAY):
        assert "クーリング・オフ（" in p.text, p.id


def test_key_facts(book):
    text = {p.id: p.text for p in book.points(OTHERS, contract_date=None, today=TODAY)}
    assert "ありません" in text["no_cooling_off_online"] and "2022年6月1日" in text["no_cooling_off_online"]
    assert "取り消す" in text["no_cooling_off_online"]
    assert "2021年7月6日" in text["okuritsuke"] and "払う必要はありません" in text["okuritsuke"]
    assert "4条3項" in text["reikan"] and "3年" in text["reikan"] and "10年" in text["reikan"]
    assert "家族" in text["reikan"]
    assert "18歳未満" in text["minor_cancel_adult"] and "使えません" in text["minor_cancel_adult"]
    assert "カード会社" in text["minor_cancel_adult"] and "188" in text["minor_cancel_adult"]
    assert "支払督促" in text["kakuu_seikyu"] and "無視してはいけません" in text["kakuu_seikyu"]
    assert "ATM" in text["refund_fraud"]
    assert "出した日" in text["cooling_off_notice_how"] and "メール" in text["cooling_off_notice_how"]


def test_minor_switch(book):
    ask = ["minor_cancel"]
    assert [p.id for p in book.points(ask, contract_date=None, today=TODAY, minor=True)] == ["minor_cancel"]
    assert [p.id for p in book.points(ask, contract_date=None, today=TODAY, minor=False)] == ["minor_cancel_adult"]
    ask = ["minor_cancel_adult"]
    assert [p.id for p in book.points(ask, contract_date=None, today=TODAY, minor=True)] == ["minor_cancel"]
    both = ["minor_cancel", "minor_cancel_adult"]
    assert [p.id for p in book.points(both, contract_date=None, today=TODAY)] == both
    assert [p.id for p in book.points(both, contract_date=None, today=TODAY, minor=False)] == ["minor_cancel_adult"]


def test_order_kept_and_duplicates_dropped(book):
    ids = ["okuritsuke", "cooling_off_houmon_hanbai", "okuritsuke"]
    assert [p.id for p in book.points(ids, contract_date=None, today=TODAY)] == ids[:2]


def test_unknown_id_raises(book):
    with pytest.raises(KeyError):
        book.points(["no_such_point"], contract_date=None, today=TODAY)


def _mention(d: date, approximate: bool = False) -> DateMention:
    return DateMention(date=d, text="", start=0, end=0, approximate=approximate)


def test_contract_date_picks_most_recent_past_exact():
    dates = [_mention(date(2026, 11, 20)), _mention(date(2026, 11, 23)), _mention(date(2026, 12, 5))]
    assert contract_date(dates, TODAY) == date(2026, 11, 23)
    assert contract_date([_mention(TODAY)], TODAY) == TODAY


def test_contract_date_ignores_approximate():
    dates = [_mention(date(2026, 10, 1), approximate=True), _mention(date(2026, 11, 20))]
    assert contract_date(dates, TODAY) == date(2026, 11, 20)
    assert contract_date([_mention(date(2026, 10, 1), approximate=True)], TODAY) is None
    assert contract_date([], TODAY) is None
    assert contract_date([_mention(date(2026, 12, 1))], TODAY) is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "law.yml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_TEMPLATES = """\
deadline:
  running: "{deadline}まで、あと{days_left}日"
  last_day: "今日（{deadline}）まで"
  passed: "{deadline}で終わり"
  unknown: "{days}日間"
  source: https://example.org/rule
"""
MINORS = """\
  - id: minor_cancel
    title: t
    text: x
    source: https://example.org/a
  - id: minor_cancel_adult
    title: t
    text: x
    source: https://example.org/b
"""


def test_validate_reports_missing_source_and_bad_placeholder(tmp_path):
    path = _write(tmp_path, GOOD_TEMPLATES + "points:\n" + MINORS + """\
  - id: a
    title: t
    days: 8
    text: "{deadline}です"
  - id: b
    title: t
    text: x
    source: not-a-url
""")
    issues = validate(path)
    messages = [i.message for i in issues]
    assert any("unknown placeholder {deadline}" in m for m in messages)
    assert any("point a: missing source" in m for m in messages)
    assert any("not an http(s) URL" in m for m in messages)
    assert all(i.file == str(path) and i.line > 0 for i in issues)
    line_of_a = next(i.line for i in issues if "point a: missing source" in i.message)
    assert path.read_text(encoding="utf-8").splitlines()[line_of_a - 1].strip() == "- id: a"
    with pytest.raises(ValueError):
        load_law(path)


def test_validate_reports_template_problems(tmp_path):
    path = _write(tmp_path, """\
deadline:
  running: "{deadline}まで、あと{days_left}日"
  passed: "{days_left}"
  unknown: "{deadline}"
points:
""" + MINORS + """\
  - id: c
    title: t
    days: 0
    text: x
    source: https://example.org/c
  - id: c
    title: t
    text: x
    source: https://example.org/c
""")
    messages = [i.message for i in validate(path)]
    assert any("missing template 'last_day'" in m for m in messages)
    assert any("deadline passed: unknown placeholder {days_left}" in m for m in messages)
    assert any("deadline unknown: unknown placeholder {deadline}" in m for m in messages)
    assert any("deadline: missing source" in m for m in messages)
    assert any("days must be a positive whole number" in m for m in messages)
    assert any("duplicate id 'c'" in m for m in messages)


def test_validate_yaml_error_and_required_ids(tmp_path):
    bad = _write(tmp_path, "points: [\n")
    (issue,) = validate(bad)
    assert "YAML error" in issue.message
    path = tmp_path / "law2.yml"
    path.write_text(GOOD_TEMPLATES + "points:\n  - id: a\n    title: t\n    text: x\n    source: https://e.org\n",
                    encoding="utf-8")
    messages = [i.message for i in validate(path)]
    assert "required point 'minor_cancel' is missing" in messages


def test_from_dict_matches_file(book):
    import yaml

    data = yaml.safe_load(LAW_FILE.read_text(encoding="utf-8"))
    other = LawBook.from_dict(data)
    assert other.ids == book.ids
