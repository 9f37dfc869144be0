"""Opening hours: the free-text ``hours`` column read as a weekly schedule.

Only what the text says is used. A day the text is silent about (a public holiday
when holidays are not mentioned, 年末年始 when it is not mentioned) is unknown
(``None``), never a guess. Text marked 未確認 / 要確認 is not read at all.

Formats read: ``平日 9:00～16:30``, ``月～金 9:00～17:00／土 9:00～16:00``,
``月・火・水・木・金曜 9:00～17:30／土・日曜 10:00～16:00``, ``土日祝 10:00～16:00``,
``日曜のみ 10:00～12:00、13:00～16:00``, ``10:00～19:00`` (every day), ``24時間365日``.
In parentheses: closed days (``（日・祝・年末年始休）``, ``（祝日、年末年始は除く）``,
``（第3日曜…は除く）``, ``（県の休日に準ずる）``) and breaks (``12:00～13:00除く``).
平日 means a government working day: Monday to Friday, not a holiday, not 年末年始.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

JST = timezone(timedelta(hours=9), "JST")

_DAYS = "月火水木金土日"
_HOLIDAY = 7  # index of the 祝 (public holiday) slot in Schedule.week
_TIME = r"(\d{1,2}):(\d{2})\s*[~〜]\s*(\d{1,2}):(\d{2})"
_SEGMENT = re.compile(rf"^(?P<days>\D*?)\s*(?P<times>{_TIME}(?:\s*[、,]\s*{_TIME})*)$")
_SLASH = r"(?<!\d)/|/(?!\d)"  # ／ between segments, not the / of 12/29
_SEP = re.compile(_SLASH + "|。")
_NTH = re.compile(r"第(\d(?:[、・,]\d)*)([月火水木金土日])曜")
_DAY_TOKEN = re.compile(r"(?<![^・、,\s(])([月火水木金土日])(?=曜|[・、,休]|$)")
_BREAK = re.compile(rf"{_TIME}\s*除")
_HEADER_CLOSED = re.compile(r"^【[^】]*休[^】]*】$")
_CLOSING_WORDS = re.compile(r"除|休|ません")
# 曜日→曜, 祝日→祝; 休日 / 毎月 / 昼休み would otherwise read as a day or as "closed"
_SIMPLER = (("昼休み", "昼"), ("曜日", "曜"), ("祝休日", "祝"), ("休日", ""), ("祝日", "祝"), ("毎月", ""))

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Schedule:
    """A weekly schedule in minutes after midnight, Japan time."""

    week: tuple[Ranges, ...] = ((),) * 8   # Monday … Sunday, then 祝 (a holiday's own hours)
    holidays: str = "unknown"                # "open" (own hours) | "closed" | "unknown"
    new_year: str = "unknown"                # 12/29–1/3: "open" | "closed" | "unknown"
    closed_nth: frozenset[tuple[int, int]] = frozenset()   # (weekday, n): the n-th such day of a month
    breaks: Ranges = ()
    always: bool = False

    def is_open(self, when: datetime) -> bool | None:
        """True/False when the text settles it, None when it does not."""
        t = to_jst(when)
        day, minute = t.date(), t.hour * 60 + t.minute
        if self.always:
            return True
        holiday, new_year = is_holiday(day), is_new_year(day)
        own = holiday and self.holidays == "open"
        ranges = self.week[_HOLIDAY] if own else self.week[day.weekday()]
        if new_year and self.new_year == "closed":
            return False
        if holiday and self.holidays == "closed":
            return False
        if (day.weekday(), (day.day - 1) // 7 + 1) in self.closed_nth:
            return False
        if not _inside(minute, ranges) or _inside(minute, self.breaks):
            return False
        if (new_year and self.new_year == "unknown") or (holiday and not own and self.holidays == "unknown"):
            return None
        return True


    def describe(self) -> str:
        """Short display for a reply: ``月〜金 9:00〜17:00、土 10:00〜16:00（祝日・年末年始は休み）``."""
        if self.always:
            return "24時間"
        groups: list[tuple[list[int], Ranges]] = []
        for day in range(7):
            ranges = self.week[day]
            if not ranges:
                continue
            if groups and groups[-1][1] == ranges and groups[-1][0][-1] == day - 1:
                groups[-1][0].append(day)
            else:
                groups.append(([day], ranges))
        parts = []
        for days, ranges in groups:
            label = _DAYS[days[0]] if len(days) == 1 else (
                f"{_DAYS[days[0]]}〜{_DAYS[days[-1]]}" if len(days) > 2 else "・".join(_DAYS[d] for d in days))
            times = "、".join(f"{_clock(a)}〜{_clock(b)}" for a, b in ranges)
            parts.append(f"{label} {times}")
        if self.week[_HOLIDAY]:
            parts.append("祝 " + "、".join(f"{_clock(a)}〜{_clock(b)}" for a, b in self.week[_HOLIDAY]))
        closed = [w for w, v in (("祝日", self.holidays), ("年末年始", self.new_year)) if v == "closed"]
        return "、".join(parts) + (f"（{'・'.join(closed)}は休み）" if closed else "")


def _clock(minute: int) -> str:
    return f"{minute // 60}:{minute % 60:02d}"


def to_jst(when: datetime) -> datetime:
    """Aware datetimes are converted; naive ones are taken as Japan time."""
    return when.astimezone(JST) if when.tzinfo else when.replace(tzinfo=JST)


def is_new_year(day: date) -> bool:
    """年末年始: 12/29 to 1/3, when public offices close."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


@lru_cache(maxsize=4096)
def is_holiday(day: date) -> bool:
    """Japanese public holiday (incl. 振替休日), from the ``holidays`` package."""
    return day in _japan()


@lru_cache(maxsize=1)
def _japan():
    import holidays  # imported on first use: it costs ~50 ms, loading the directory should not

    return holidays.Japan()


def parse_hours(text: str) -> Schedule | None:
    """Read ``text``; None when it is empty, unverified or not in a known form."""
    t = unicodedata.normalize("NFKC", text or "").strip()
    if not t or "未確認" in t or "要確認" in t:
        return None
    outer, inner = _split_parens(t)
    first = outer.split("。")[0].strip()
    if first.startswith("24時間"):
        return Schedule(holidays="open", new_year="open", always=True)
    week: list[list[tuple[int, int]]] = [[] for _ in range(8)]
    for segment in re.split(_SLASH, first):
        m = _SEGMENT.match(segment.strip())
        days = _days(m["days"]) if m else None
        ranges = _ranges(m["times"]) if m else None
        if days is None or not ranges:
            return None
        for d in days:
            week[d].extend(ranges)
    weekday_rule = "平日" in first or any("平日" in s for s in inner)
    holidays = "closed" if weekday_rule else "unknown"
    new_year = "closed" if weekday_rule else "unknown"
    closed_nth: set[tuple[int, int]] = set()
    breaks: list[tuple[int, int]] = []
    for raw, clause, closing in _clauses(inner):
        if "休日に準" in raw:
            holidays = new_year = "closed"
        if not closing:
            continue
        breaks.extend(_hm(m) for m in _BREAK.finditer(clause))
        for ns, wd in _NTH.findall(clause):
            closed_nth.update((_DAYS.index(wd), int(n)) for n in re.findall(r"\d", ns))
        rest = _NTH.sub("", clause)
        if "祝" in rest:
            holidays = "closed"
        if "年末年始" in rest:
            new_year = "closed"
        for d in _DAY_TOKEN.findall(rest):
            week[_DAYS.index(d)] = []
    if week[_HOLIDAY]:
        holidays = "open"
    if not any(week):
        return None
    return Schedule(week=tuple(tuple(r) for r in week), holidays=holidays, new_year=new_year,
                    closed_nth=frozenset(closed_nth), breaks=tuple(breaks))


def _split_parens(text: str) -> tuple[str, list[str]]:
    """Text outside parentheses, and each top-level parenthesised part (nesting kept)."""
    outer, inner, depth, buf = [], [], 0, []
    for ch in text:
        if ch == "(":
            if depth:
                buf.append(ch)
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth:
                buf.append(ch)
            else:
                inner.append("".join(buf))
                buf = []
        else:
            (buf if depth else outer).append(ch)
    if buf:
        inner.append("".join(buf))
    return "".join(outer), inner


def _clauses(parts: list[str]):
    """Yield (raw clause, simplified clause, says_closed) for each parenthesised clause."""
    for part in parts:
        header_closed = False
        for raw in _SEP.split(part):
            raw = raw.strip()
            clause = raw
            for a, b in _SIMPLER:
                clause = clause.replace(a, b)
            yield raw, clause, header_closed or bool(_CLOSING_WORDS.search(clause))
            header_closed = bool(_HEADER_CLOSED.match(raw))


def _days(text: str) -> list[int] | None:
    """Day indexes named by ``月～金``, ``月・水・金曜``, ``土日祝``, ``平日``, or all days when empty."""
    t = text.strip().removesuffix("のみ").replace("曜日", "曜").replace("曜", "").replace("祝日", "祝").strip()
    if not t:
        return list(range(7))
    if t == "平日":
        return list(range(5))
    m = re.fullmatch(r"([月火水木金土日])\s*[~〜]\s*([月火水木金土日])", t)
    if m:
        a, b = _DAYS.index(m[1]), _DAYS.index(m[2])
        return list(range(a, b + 1)) if a <= b else None
    chars = [c for c in t if c not in "・、, "]
    if not chars or any(c not in _DAYS + "祝" for c in chars):
        return None
    return [_HOLIDAY if c == "祝" else _DAYS.index(c) for c in chars]


def _ranges(text: str) -> list[tuple[int, int]] | None:
    out = [_hm(m) for m in re.finditer(_TIME, text)]
    return out if all(0 <= a < b <= 24 * 60 for a, b in out) else None


def _hm(m: re.Match) -> tuple[int, int]:
    h1, m1, h2, m2 = (int(x) for x in m.groups()[:4])
    return h1 * 60 + m1, h2 * 60 + m2


def _inside(minute: int, ranges: Ranges) -> bool:
    return any(a <= minute < b for a, b in ranges)
