"""Dates a message refers to (3日前, 先週の火曜, 11/20, 令和6年11月20日), resolved against today.

Weeks run Monday to Sunday (as on a Japanese business calendar and in ISO 8601): said on
Sunday 11/29, 先週の月曜 is 11/16 and 今週の月曜 11/23.  A reply that states a deadline also
says which date it assumed (「11月16日に契約書を受け取ったとすると」), so the family can correct it.

:func:`attach_to_signing` marks which dates are about signing (契約した, 買わされた), so that
the greeting 「今日は相談があります」 does not become the date of a contract told elsewhere.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Callable, Iterable

from ..facts import DateMention
from .numbers import SMALL_NUMBER as _N, parse_number

#: A handler turns a match into ``(date, approximate)`` or None (not a date after all).
Handler = Callable[[re.Match, date], "tuple[date, bool] | None"]

_ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925}
_WEEKDAYS = "月火水木金土日"
_KANA_FOLLOWERS = "はもがのにでまかっ、。!?\n "
_FUTURE_CUES = re.compile(r"(?:に|の)?(?:まで|予定|期限|締め?切|〆切|来る|届く|支払|払う|引き落とし|発送)")
_FRACTION_CUES = re.compile(r"だった|の値段|の価格|の金額|程度|くらい|ぐらい|位|以下|以上|未満|倍|に(?:なる|減|値)")
_FRACTION_BEFORE = re.compile(r"(?:相場|値段|価格|定価|金額|約|およそ)の?$")

_WORD_DAYS = {"今日": 0, "本日": 0, "今朝": 0, "今夜": 0, "今晩": 0, "昨日": -1, "昨夜": -1,
              "昨晩": -1, "一昨日": -2, "一昨昨日": -3, "明日": 1, "明後日": 2,
              "きょう": 0, "けさ": 0, "きのう": -1, "ゆうべ": -1, "おととい": -2, "おとつい": -2,
              "さきおととい": -3, "さきおとつい": -3, "あした": 1, "あさって": 2}
#: Kana words that also begin longer words (きょうだい, きのうせい, けさき): a date only when what
#: follows is not more of a word.
_AMBIGUOUS_KANA = frozenset({"きょう", "きのう", "けさ"})
#: 今日は / 今晩は standing alone are the greetings こんにちは / こんばんは, not a day.
_GREETING = re.compile(r"(?:今日|今晩)は(?=[。．!！?？\n〜~ー]|$)")
_SENTENCE_START = "。．!！?？\n 　"
_SENTENCE_END = re.compile(r"[。．!！?？\n]+")
#: What may stand beside a date said as a sentence of its own (「三日前です。」「昨日の話。」).
_ALONE = re.compile(r"[\s、,]*(?:の(?:こと|話)|ぐらい|くらい|頃|ごろ)?(?:です|でした|だ|だった|なんです|よ|ね)*"
                    r"[\s。．!！?？\n、,…]*")
_TODAY_WORDS = frozenset({"今日", "本日", "きょう"})
_WORD_APPROX = {"先週": (0, -7), "先々週": (0, -14), "来週": (0, 7), "先月": (-1, 0),
                "先々月": (-2, 0), "来月": (1, 0), "去年": (-12, 0), "昨年": (-12, 0),
                "一昨年": (-24, 0), "おととし": (-24, 0), "来年": (12, 0)}
_WEEK_OFFSET = {"先々週": -2, "先週": -1, "今週": 0, "来週": 1}
#: この前の日曜, こないだの土曜: the last such day before today.
_LAST_WEEKDAY = ("この前の", "このまえの", "この間の", "こないだの")
_MONTH_OFFSET = {"先々月": -2, "先月": -1, "今月": 0, "来月": 1}
_YEAR_OFFSET = {"一昨年": -2, "おととし": -2, "去年": -1, "昨年": -1, "今年": 0, "来年": 1}


def _alternation(words: Iterable[str]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _num(text: str | None) -> int | None:
    return parse_number(text) if text else None


def _ymd(year: int | None, month: int | None, day: int | None) -> date | None:
    if year is None or month is None or day is None or not 1 <= year <= 9999:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _era(m: re.Match, today: date) -> tuple[date, bool] | None:
    year = 1 if m["y"] == "元" else _num(m["y"])
    d = _ymd(_ERAS[m["era"]] + year if year else None, _num(m["m"]), _num(m["d"]))
    return (d, False) if d else None


def _full(m: re.Match, today: date) -> tuple[date, bool] | None:
    year = _num(m["y"])
    if year is None or not 1900 <= year <= today.year + 5:
        return None
    d = _ymd(year, _num(m["m"]), _num(m["d"]))
    return (d, False) if d else None


def _month_day(m: re.Match, today: date) -> tuple[date, bool] | None:
    """N月N日 or N/N without a year: the last such day, or the next one before a future cue."""
    month, day = _num(m["m"]), _num(m["d"])
    if m["sep"] == "/" and (_FRACTION_CUES.match(m.string, m.end())
                            or _FRACTION_BEFORE.search(m.string, max(0, m.start() - 6), m.start())):
        return None
    d = _ymd(today.year, month, day) or _ymd(today.year - 1, month, day)
    if d is None:
        return None
    future = bool(_FUTURE_CUES.match(m.string, m.end()))
    if future and d < today:
        d = _ymd(d.year + 1, month, day)
    elif not future and d > today:
        d = _ymd(d.year - 1, month, day)
    return (d, False) if d else None


def _in_month(m: re.Match, today: date) -> tuple[date, bool] | None:
    base = _add_months(today.replace(day=1), _MONTH_OFFSET[m["rel"]])
    d = _ymd(base.year, base.month, _num(m["d"]))
    return (d, False) if d else None


def _in_year(m: re.Match, today: date) -> tuple[date, bool] | None:
    d = _ymd(today.year + _YEAR_OFFSET[m["rel"]], _num(m["m"]), _num(m["d"]))
    return (d, False) if d else None


def _weekday(m: re.Match, today: date) -> tuple[date, bool] | None:
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=_WEEK_OFFSET[m["rel"]])
    return monday + timedelta(days=_WEEKDAYS.index(m["wd"])), False


def _last_weekday(m: re.Match, today: date) -> tuple[date, bool] | None:
    """この前の日曜: the last such day before today (a week ago when today is that day)."""
    back = (today.weekday() - _WEEKDAYS.index(m["wd"])) % 7 or 7
    return today - timedelta(days=back), False


def _relative(m: re.Match, today: date) -> tuple[date, bool] | None:
    n = 0.5 if m["n"] == "半" else _num(m["n"])
    if n is None or n > 200:
        return None
    sign = 1 if m["dir"] == "後" else -1
    unit = m["unit"]
    approx = bool(m["about"]) or unit not in ("日", "週間")
    if unit in ("日", "週間"):
        days = int(n * (7 if unit == "週間" else 1))
        return today + timedelta(days=sign * days), approx
    months = int(n * (12 if unit == "年" else 1))
    return _add_months(today, sign * months), approx


def _word(m: re.Match, today: date) -> tuple[date, bool] | None:
    word = m[0]
    if _is_hiragana(word) and not _kana_word_ok(m):
        return None
    if _GREETING.match(m.string, m.start()) and (not m.start() or m.string[m.start() - 1] in _SENTENCE_START):
        return None
    return today + timedelta(days=_WORD_DAYS[word]), False


def _is_hiragana(text: str) -> bool:
    return all("\u3041" <= ch <= "\u309f" for ch in text)


def _kana_word_ok(m: re.Match) -> bool:
    """きょう/あした... stand alone, not inside a longer kana word (おけさ, きょうだい)."""
    before = m.string[m.start() - 1:m.start()] if m.start() else ""
    after = m.string[m.end():m.end() + 1]
    kana_before = _is_hiragana(before) and bool(before) and before not in "はがもにでとをや"
    if kana_before:
        return False
    return m[0] not in _AMBIGUOUS_KANA or not _is_hiragana(after) or not after or after in _KANA_FOLLOWERS


def _approx_word(m: re.Match, today: date) -> tuple[date, bool] | None:
    months, days = _WORD_APPROX[m[0]]
    return _add_months(today, months) + timedelta(days=days), True


_RULES: tuple[tuple[re.Pattern, Handler], ...] = (
    (re.compile(rf"(?P<era>令和|平成|昭和)(?P<y>元|{_N})年(?P<m>{_N})月(?P<d>{_N})日"), _era),
    (re.compile(rf"(?<!\d)(?P<y>\d{{4}})年(?P<m>{_N})月(?P<d>{_N})日"), _full),
    (re.compile(r"(?<![\d/.\-])(?P<y>\d{4})(?P<s>[/.\-])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?![\d/.\-])"), _full),
    (re.compile(rf"(?P<rel>先々月|先月|今月|来月)の?(?P<d>{_N})日"), _in_month),
    (re.compile(rf"(?P<rel>一昨年|おととし|去年|昨年|今年|来年)の?(?P<m>{_N})月(?P<d>{_N})日"), _in_year),
    (re.compile(rf"(?P<m>{_N})(?P<sep>月)(?P<d>{_N})日"), _month_day),
    (re.compile(r"(?<![\d.,/])(?P<m>\d{1,2})(?P<sep>/)(?P<d>\d{1,2})(?![\d/]|\.\d)"), _month_day),
    (re.compile(r"(?P<rel>先々週|先週|今週|来週)の?(?P<wd>[月火水木金土日])曜日?"), _weekday),
    (re.compile(rf"(?:{_alternation(_LAST_WEEKDAY)})(?P<wd>[月火水木金土日])曜日?"), _last_weekday),
    (re.compile(rf"(?P<n>{_N}|半)(?P<unit>日|週間|か月|ヶ月|カ月|ヵ月|ケ月|箇月|年)"
                r"(?P<about>ほど|くらい|ぐらい|近く)?(?P<dir>前|後)(?!後)"), _relative),
    (re.compile(_alternation(_WORD_DAYS)), _word),
    (re.compile(_alternation(_WORD_APPROX)), _approx_word),
)


def find_dates(text: str, today: date) -> list[DateMention]:
    """Dates mentioned in ``text``, in order, without overlaps (the longest match wins)."""
    found: list[tuple[int, int, date, bool]] = []
    for pattern, handler in _RULES:
        for m in pattern.finditer(text):
            try:
                hit = handler(m, today)
            except (OverflowError, ValueError):
                hit = None
            if hit:
                found.append((m.start(), m.end(), *hit))
    found.sort(key=lambda f: (f[0], f[0] - f[1]))
    out: list[DateMention] = []
    for start, end, d, approx in found:
        if not out or start >= out[-1].end:
            out.append(DateMention(d, text[start:end], start, end, approx))
    return out


def attach_to_signing(dates: Iterable[DateMention], text: str, signing: re.Pattern) -> list[DateMention]:
    """``dates`` with :attr:`DateMention.contract` set: True for the dates closest to the signing
    the message tells of (``signing`` words: 契約した, 買わされた), False for the others.

    Closest first: a date in the signing's own sentence; else in the sentence before or after it
    (「きのう業者が来ました。布団を契約しました」), or said on its own (「…契約しました。三日前です」);
    else any date.  「今日」 counts only in the signing's own sentence or said on its own beside it
    (「…払いました。今日です」): today is also the day of writing (「今日は相談があります。母が
    契約しました」).  Without a signing word nothing is set.
    """
    dates = list(dates)
    if not dates:
        return dates
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    bounds = list(zip([0, *ends], [*ends, len(text)]))
    signed = [bool(signing.search(text, a, b)) for a, b in bounds]
    if not any(signed):
        return dates
    distance = []
    for d in dates:
        i = bisect_right(ends, d.start)   # the sentence the date is in
        a, b = bounds[i]
        alone = _ALONE.fullmatch(text[a:d.start] + text[d.end:b]) is not None
        near = any(signed[max(0, i - 1):i + 2])
        if signed[i]:
            distance.append(0)
        elif d.text in _TODAY_WORDS:
            distance.append(1 if alone and near else None)
        elif near or alone:
            distance.append(1)
        else:
            distance.append(2)
    best = min((x for x in distance if x is not None), default=None)
    return [replace(d, contract=best is not None and x == best) for d, x in zip(dates, distance)]
