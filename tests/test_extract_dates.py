"""Date extraction, resolved against a fixed today (Wednesday 2026-11-25)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.triage.extract.dates import find_dates
from bot.triage.text import clean

TODAY = date(2026, 11, 25)  # a Wednesday


def dates_in(text: str, today: date = TODAY) -> list[tuple[str, str, bool]]:
    return [(d.text, d.date.isoformat(), d.approximate) for d in find_dates(clean(text), today)]


@pytest.mark.parametrize("text, expected", [
    ("今日", ("今日", "2026-11-25", False)),
    ("本日ご本人と面談", ("本日", "2026-11-25", False)),
    ("昨日の夜", ("昨日", "2026-11-24", False)),
    ("きのうから", ("きのう", "2026-11-24", False)),
    ("一昨日", ("一昨日", "2026-11-23", False)),
    ("おととい来た", ("おととい", "2026-11-23", False)),
    ("3日前です", ("3日前", "2026-11-22", False)),
    ("３日前です", ("3日前", "2026-11-22", False)),
    ("三日前", ("三日前", "2026-11-22", False)),
    ("1週間前", ("1週間前", "2026-11-18", False)),
    ("一週間前", ("一週間前", "2026-11-18", False)),
    ("2週間前に", ("2週間前", "2026-11-11", False)),
    ("3日ほど前", ("3日ほど前", "2026-11-22", True)),
    ("3か月前", ("3か月前", "2026-08-25", True)),
    ("半年前", ("半年前", "2026-05-25", True)),
    ("2年前", ("2年前", "2024-11-25", True)),
    ("先週は髪を引っ張られた", ("先週", "2026-11-18", True)),
    ("先週の火曜", ("先週の火曜", "2026-11-17", False)),
    ("先週火曜日に", ("先週火曜日", "2026-11-17", False)),
    ("先週の日曜", ("先週の日曜", "2026-11-22", False)),
    ("今週の月曜", ("今週の月曜", "2026-11-23", False)),
    ("先月の話です", ("先月", "2026-10-25", True)),
    ("去年", ("去年", "2025-11-25", True)),
    ("昨年の春", ("昨年", "2025-11-25", True)),
    ("今月3日", ("今月3日", "2026-11-03", False)),
    ("先月20日", ("先月20日", "2026-10-20", False)),
    ("11月20日", ("11月20日", "2026-11-20", False)),
    ("十一月二十日", ("十一月二十日", "2026-11-20", False)),
    ("11/20", ("11/20", "2026-11-20", False)),
    ("12/20に契約", ("12/20", "2025-12-20", False)),  # after today: last year
    ("12月20日に来た", ("12月20日", "2025-12-20", False)),
    ("12月1日までに払う", ("12月1日", "2026-12-01", False)),  # a deadline: the next one
    ("去年11月20日", ("去年11月20日", "2025-11-20", False)),
    ("令和6年11月20日", ("令和6年11月20日", "2024-11-20", False)),
    ("令和元年5月1日", ("令和元年5月1日", "2019-05-01", False)),
    ("平成31年4月30日", ("平成31年4月30日", "2019-04-30", False)),
    ("2026年11月20日", ("2026年11月20日", "2026-11-20", False)),
    ("2026/11/20", ("2026/11/20", "2026-11-20", False)),
    ("２０２６／１１／２０", ("2026/11/20", "2026-11-20", False)),
    ("明日取りに来る", ("明日", "2026-11-26", False)),
    ("あした来るって", ("あした", "2026-11-26", False)),
    ("明後日", ("明後日", "2026-11-27", False)),
    ("3日後に", ("3日後", "2026-11-28", False)),
    ("来週", ("来週", "2026-12-02", True)),
    ("来週の月曜に", ("来週の月曜", "2026-11-30", False)),
])
def test_single_dates(text, expected):
    assert dates_in(text) == [expected]


def test_several_dates_in_order_with_spans():
    text = "昨日共有したケース、本日面談。3日前に契約、11/20に入金"
    found = find_dates(text, TODAY)
    assert [d.text for d in found] == ["昨日", "本日", "3日前", "11/20"]
    for d in found:
        assert text[d.start:d.end] == d.text


def test_longest_match_wins():
    assert dates_in("一昨日") == [("一昨日", "2026-11-23", False)]
    assert dates_in("一昨年") == [("一昨年", "2024-11-25", True)]
    assert dates_in("2026年11月20日") == [("2026年11月20日", "2026-11-20", False)]


@pytest.mark.parametrize("text", [
    "相場の１/１０だったと知った",
    "1/10の値段で買い取られた",
    "価格の1/3",
    "2/30",            # no such day
    "13/1",            # no such month
    "20日前後に",       # around the 20th, not 20 days ago
    "きょうだいがいる",  # siblings
    "きょうみがない",
    "５３歳の兄",
    "３０万円",
    "2026年",
    "十五年ほど家におります",
    "3か月の合宿",
    "毎日",
    "090-1234-5678",
    "〒060-0001",
    "1,500円",
])
def test_not_dates(text):
    assert dates_in(text) == []


def test_month_end_arithmetic():
    assert dates_in("先月", date(2026, 3, 31)) == [("先月", "2026-02-28", True)]
    assert dates_in("去年", date(2028, 2, 29)) == [("去年", "2027-02-28", True)]
    assert dates_in("先週の月曜", date(2026, 1, 1)) == [("先週の月曜", "2025-12-22", False)]


@pytest.mark.parametrize("text", ["", "999999999日前", "9999年99月99日", "令和999年1月1日",
                                  "0/0", "明日" * 3000, "\x00昨日\x00"])
def test_never_crashes(text):
    assert isinstance(find_dates(text, TODAY), list)
