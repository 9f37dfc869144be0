"""Date extraction, resolved against a fixed today (Wednesday 2026-11-25)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.triage.consumer_law import contract_date
from bot.triage.extract.dates import attach_to_signing, find_dates
from bot.triage.extract.people import DEFAULT_LEXICON
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
    # words for days gone by, in kanji and in kana
    ("きのう訪問販売で契約した", ("きのう", "2026-11-24", False)),
    ("きのう契約", ("きのう", "2026-11-24", False)),
    ("きょう業者が来る", ("きょう", "2026-11-25", False)),
    ("さきおととい", ("さきおととい", "2026-11-22", False)),
    ("さきおとつい来た", ("さきおとつい", "2026-11-22", False)),
    ("一昨昨日", ("一昨昨日", "2026-11-22", False)),
    ("今朝", ("今朝", "2026-11-25", False)),
    ("けさ電話があった", ("けさ", "2026-11-25", False)),
    ("けさから", ("けさ", "2026-11-25", False)),
    ("昨夜", ("昨夜", "2026-11-24", False)),
    ("ゆうべ暴れた", ("ゆうべ", "2026-11-24", False)),
    ("昨晩", ("昨晩", "2026-11-24", False)),
    ("先週月曜", ("先週月曜", "2026-11-16", False)),
    ("先週の月曜日に", ("先週の月曜日", "2026-11-16", False)),
    ("先月の10日", ("先月の10日", "2026-10-10", False)),
    ("この前の日曜に", ("この前の日曜", "2026-11-22", False)),
    ("こないだの水曜", ("こないだの水曜", "2026-11-18", False)),  # today is a Wednesday: a week ago
    ("今日は相談があります", ("今日", "2026-11-25", False)),      # a day, not the greeting
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
    "おけさ",          # a folk song, not けさ
    "けさき",
    "今日は。",        # the greeting こんにちは
    "今日は!",
    "今晩は",
    "こんにちは",
])
def test_not_dates(text):
    assert dates_in(text) == []


def test_month_end_arithmetic():
    assert dates_in("先月", date(2026, 3, 31)) == [("先月", "2026-02-28", True)]
    assert dates_in("去年", date(2028, 2, 29)) == [("去年", "2027-02-28", True)]
    assert dates_in("先週の月曜", date(2026, 1, 1)) == [("先週の月曜", "2025-12-22", False)]


@pytest.mark.parametrize("today, text, expected", [
    # the year boundary: Friday 2027-01-01
    (date(2027, 1, 1), "きのう", "2026-12-31"),
    (date(2027, 1, 1), "おととい", "2026-12-30"),
    (date(2027, 1, 1), "さきおととい", "2026-12-29"),
    (date(2027, 1, 1), "3日前", "2026-12-29"),
    (date(2027, 1, 1), "ゆうべ", "2026-12-31"),
    (date(2027, 1, 5), "先月の10日", "2026-12-10"),
    (date(2027, 1, 5), "先週の月曜", "2026-12-28"),
    # month ends, with and without a leap day
    (date(2026, 3, 1), "昨日", "2026-02-28"),
    (date(2028, 3, 1), "昨日", "2028-02-29"),
    (date(2026, 3, 1), "一昨日", "2026-02-27"),
    (date(2026, 5, 1), "けさ", "2026-05-01"),
    # weeks run Monday to Sunday: said on Monday 11/30 and on Sunday 11/29
    (date(2026, 11, 30), "先週の月曜", "2026-11-23"),
    (date(2026, 11, 30), "先週月曜", "2026-11-23"),
    (date(2026, 11, 30), "先週の日曜", "2026-11-29"),
    (date(2026, 11, 29), "先週の月曜", "2026-11-16"),
    (date(2026, 11, 29), "今週の月曜", "2026-11-23"),
    (date(2026, 11, 29), "先週の日曜", "2026-11-22"),
    (date(2026, 11, 30), "この前の月曜", "2026-11-23"),
    (date(2026, 11, 29), "この前の月曜", "2026-11-23"),
])
def test_relative_days_at_the_edges(today, text, expected):
    found = find_dates(clean(text), today)
    assert [d.date.isoformat() for d in found] == [expected]


def test_a_day_the_month_lacks_is_only_approximate():
    # February has no 31st: 先月 alone (approximate, so no deadline) rather than a wrong exact day
    assert dates_in("先月の31日", date(2026, 3, 31)) == [("先月", "2026-02-28", True)]


# -- which date is the contract's ----------------------------------------------------------------

def contract_in(text: str, today: date = TODAY) -> date | None:
    cleaned = clean(text)
    dates = attach_to_signing(find_dates(cleaned, today), cleaned, DEFAULT_LEXICON.signing_re)
    return contract_date(dates, today)


@pytest.mark.parametrize("text, expected", [
    ("きのう訪問販売で契約した", date(2026, 11, 24)),
    ("きのう業者が来ました。布団を契約しました。", date(2026, 11, 24)),          # the sentence before
    ("屋根の工事を契約しました。三日前です", date(2026, 11, 22)),                # said on its own
    ("ハンコを押した。電話は5日前、書類が届いたのは昨日", date(2026, 11, 24)),   # the sentence after
    ("11/20に契約しました。きのう息子に話したら怒られました", date(2026, 11, 20)),  # not the later talk
    ("布団を買わされた。業者の名刺がある。11月18日のことで、今日で8日目", date(2026, 11, 18)),
    ("カードで払いました。今日です", TODAY),
    ("今日、業者が来て契約してしまった", TODAY),
    ("きのう業者が来た", date(2026, 11, 24)),            # no signing told: the date it gives
    # the day of writing is not the contract's
    ("今日は相談があります。母が布団を契約しました", None),
    ("今日は。先月、訪問販売で布団を契約しました", None),
    ("本日はよろしくお願いします。浄水器を契約した件です", None),
])
def test_contract_date_is_the_one_told_with_the_signing(text, expected):
    assert contract_in(text) == expected


def test_no_signing_leaves_dates_unmarked():
    text = "きのう息子が部屋から出てきた"
    dates = attach_to_signing(find_dates(text, TODAY), text, DEFAULT_LEXICON.signing_re)
    assert [d.contract for d in dates] == [None]


# -- end to end ------------------------------------------------------------------------------------

#: Friday 2026-11-27, 10:00 in Japan.
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_yesterdays_door_to_door_contract_gets_its_deadline(triage):
    decision = triage.decide("きのう訪問販売で契約した", now=NOW)
    assert decision.intent == "houmon_hanbai"
    (point,) = [p for p in decision.law if p.id == "cooling_off_houmon_hanbai"]
    assert point.deadline == date(2026, 12, 3) and point.days_left == 6 and point.running
    assert "11月26日に契約書を受け取ったなら、12月3日まで、あと6日" in decision.reply
    assert decision.urgency == "urgent"


def test_the_deadline_moves_with_now(triage):
    later = triage.decide("きのう訪問販売で契約した", now=NOW.replace(year=2027, month=1, day=1))
    (point,) = [p for p in later.law if p.id == "cooling_off_houmon_hanbai"]
    assert point.deadline == date(2027, 1, 7)
    assert "2026年12月31日に契約書を受け取ったなら" in later.reply


def test_a_greeting_gives_no_contract_date(triage):
    decision = triage.decide("今日は。先月、訪問販売で布団を契約しました", now=NOW)
    assert [d.text for d in decision.facts.dates] == ["先月"]
    (point,) = [p for p in decision.law if p.id == "cooling_off_houmon_hanbai"]
    assert point.deadline is None and not point.running
    assert "受け取った日を1日目として8日間" in decision.reply


def test_the_day_of_writing_is_not_the_contract_day(triage):
    decision = triage.decide("今日は相談があります。母が訪問販売で布団を契約しました", now=NOW)
    assert all(p.deadline is None for p in decision.law)
    assert not any(r.kind == "urgency" and "今日" in r.detail for r in decision.reasons)


def test_a_greeting_in_a_message_without_a_contract(triage):
    decision = triage.decide("今日は。ひきこもりの息子のことで相談です", now=NOW)
    assert decision.facts.dates == ()
    assert all(p.deadline is None for p in decision.law)


@pytest.mark.parametrize("text", ["", "999999999日前", "9999年99月99日", "令和999年1月1日",
                                  "0/0", "明日" * 3000, "\x00昨日\x00"])
def test_never_crashes(text):
    assert isinstance(find_dates(text, TODAY), list)
