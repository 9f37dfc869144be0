"""Plain value types shared by the extractors, the directory and the policy.

Nothing here does I/O; every type is a frozen dataclass that serialises with
:func:`dataclasses.asdict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Area:
    """Where the family lives, as far as the message tells.

    ``code`` is the JIS X 0402 municipality code (5 digits) when a municipality is
    known, else the 2-digit JIS X 0401 prefecture code.  For a ward of a
    designated city, ``municipality`` is the ward (横浜市港北区) and ``city`` the
    designated city (横浜市); otherwise ``city`` equals ``municipality``.
    """

    pref: str
    pref_code: str
    municipality: str | None = None
    city: str | None = None
    code: str | None = None
    source: str = "name"  # "postal_code" | "name" | "address" | "session"

    def public(self) -> dict:
        """The JSON shape of DESIGN.md (``pref``, ``municipality``, ``code``)."""
        return {"pref": self.pref, "municipality": self.municipality, "code": self.code or self.pref_code}


@dataclass(frozen=True, slots=True)
class DateMention:
    """A date the message refers to, resolved against "today"."""

    date: date
    text: str          # the words in the message (3日前, 11/20, 十一月二十日)
    start: int         # character offsets in the cleaned text
    end: int
    approximate: bool = False  # 先月, 去年, 先週 (no day given)
    #: True: one of the dates told closest to the signing (契約した, 買わされた) the message tells of;
    #: False: the message tells of a signing, but this date is further from it (or is the day of
    #: writing: 「今日は相談です」); None: the message tells of no signing.
    contract: bool | None = None


@dataclass(frozen=True, slots=True)
class Amount:
    yen: int
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class AgeMention:
    low: int           # 53歳 -> 53/53; 40代 -> 40/49; 40代前半 -> 40/44; 中2 -> 13/14
    high: int
    text: str
    writer: bool       # True when the age is the writer's own (私も75で, 62歳の母です)
    start: int = 0
    end: int = 0
    parent: bool = False  # a parent's age (60代母・30代息子): not the person the worry is about
    stage: bool = False   # a school stage (中2, 高校生), not a number of years
    history: bool = False  # when something began or happened (中2から, 高校の頃, 20代は): not the age now


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything extracted from one message."""

    area: Area | None = None
    dates: tuple[DateMention, ...] = ()
    amounts: tuple[Amount, ...] = ()
    ages: tuple[AgeMention, ...] = ()
    signer: str | None = None  # "family" (the writer/parents signed) | "person" (the withdrawn person) | None
