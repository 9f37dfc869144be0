"""Mask what identifies a person before a family's words leave the LINE conversation.

Used for the excerpt in a Slack alert and for the review queue.  A :class:`Masker` is built once,
when the knowledge is loaded (:mod:`bot.triage.loader`; edges call ``Triage.mask``), from ``intents/_lexicon/mask.yml`` (the words)
and the directory (public numbers that stay); the regular expressions are compiled here, once.

Replaced by ●●, in this order (each step sees the text the previous one left):

1. web addresses with a scheme (https://…);
2. e-mail addresses, also written with spaces or in words (tanaka アット example ドット jp);
3. web addresses without a scheme (example.co.jp/…);
4. numbers — ASCII, full-width (NFKC) or kanji digits read one by one, with hyphens, dots, spaces,
   brackets or の between the digits — that are phone numbers, マイナンバー, accounts, postal codes
   or any identifier: 6 digits or more, 3 or more right after an id word (口座番号, 電話 …), or a
   postal code.  Kept: public numbers (188, #9110, every directory number), amounts, dates, ages,
   counts (a number followed by a counter word or after ¥), and short numbers;
5. street-level address detail (3丁目5番地, 三丁目五番地, 一の二の三, 本町3-5-2) with the town name
   back to the nearest municipality or prefecture; the city or ward alone stays;
6. names: Sudachi's 人名, a proper noun before an honorific, and a kana run before an honorific
   (たなか さん, やまだたろう様) unless it is a family or role word (おかあさん, ヘルパーさん).

The result is stable (masking it again changes nothing) and never longer than twice the input.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Iterable

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .text import clean
from .tokenize import Tokenizer

MASK = "●●"
#: Digit separators inside one number: hyphens and dashes, dots, spaces, brackets, の.
_SEPARATORS = "\\-‐‑‒–—―−ー.・()（） の"
_ASCII_URL = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
_URL_SCHEME = re.compile(rf"(?:https?|ftp)://{_ASCII_URL}+|www\.{_ASCII_URL}+", re.IGNORECASE)
_DATE = re.compile(r"(?:19|20)\d\d[./\-‐−ー]\d{1,2}[./\-‐−ー]\d{1,2}")
_POSTAL_SHAPE = re.compile(r"\d{3}[\-‐−ー]\d{4}")
#: Sentence ends: an id word does not reach a number past one of these.
_GAP_STOP = "。！？!?\n"
#: Characters a town name may be written with (walked back from an address to its municipality).
_NAME_CHAR = re.compile(r"[\u4e00-\u9fff\u3005\u30a0-\u30ffヶケのが]")
#: Parts of speech dropped from the left of a kana run before an honorific (それで|たなか さん).
_NOT_NAME_POS = {"助詞", "助動詞", "代名詞", "接続詞", "副詞", "連体詞", "感動詞", "動詞", "形容詞", "接尾辞", "補助記号"}
#: Longest kana run read as a name before an honorific; longest town-name walk from an address.
NAME_MAX = 12
TOWN_MAX = 12
#: Masking can change how Sudachi reads what is left: repeat until nothing changes (at most this).
PASSES = 3


class AddressUnits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chome: list[str] = Field(min_length=1)
    banchi: list[str] = Field(min_length=1)
    ban: list[str] = Field(min_length=1)
    go: list[str] = Field(min_length=1)


class MaskSpec(BaseModel):
    """``intents/_lexicon/mask.yml``."""

    model_config = ConfigDict(extra="forbid")
    honorifics: list[str] = Field(min_length=1)
    not_names: list[str] = []
    kanji_digits: dict[Annotated[str, StringConstraints(min_length=1, max_length=1)],
                       Annotated[int, Field(ge=0, le=9)]] = Field(min_length=1)
    counters: list[str] = Field(min_length=1)
    money_signs: list[str] = []
    id_words: list[str] = Field(min_length=1)
    keep_numbers: list[str] = []
    postal_marks: list[str] = Field(min_length=1)
    address_units: AddressUnits
    place_suffixes: list[str] = Field(min_length=1)
    town_endings: list[str] = []
    at_words: list[str] = Field(min_length=1)
    dot_words: list[str] = Field(min_length=1)
    url_endings: list[str] = Field(min_length=1)


def _alt(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first (so 番地 wins over 番)."""
    return "|".join(re.escape(w) for w in sorted({w for w in words if w}, key=len, reverse=True))


def _nfkc(word: str) -> str:
    return unicodedata.normalize("NFKC", word)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


class Masker:
    """Compiled masking rules.  Build once per knowledge version; :meth:`mask` is thread-safe."""

    def __init__(self, spec: MaskSpec, public_numbers: Iterable[str] = ()):
        self.spec = spec
        self.honorifics = frozenset(_nfkc(h) for h in spec.honorifics)
        self.not_names = frozenset(_nfkc(w) for w in spec.not_names)
        self.digit_value = {_nfkc(k): str(v) for k, v in spec.kanji_digits.items()}
        self.keep = frozenset(self._digits_of(_nfkc(n)) for n in [*spec.keep_numbers, *public_numbers] if n)
        self.id_words = tuple(_nfkc(w) for w in spec.id_words)
        self.postal_marks = tuple(_nfkc(w) for w in spec.postal_marks)
        self.money_signs = tuple(_nfkc(w) for w in spec.money_signs)
        self.place_suffixes = frozenset(_nfkc(w) for w in spec.place_suffixes)
        self.town_endings = frozenset(_nfkc(w) for w in spec.town_endings)
        self._compile()

    # -- building ----------------------------------------------------------------------------
    def _compile(self) -> None:
        s = self.spec
        kanji = "".join(re.escape(k) for k in self.digit_value)
        digit = f"[0-9{kanji}]"
        self._number = re.compile(rf"#?{digit}(?:[{_SEPARATORS}]{{0,2}}{digit})*")
        self._counter = re.compile(rf"\s?(?:{_alt(_nfkc(c) for c in s.counters)})")
        self._id_word = re.compile(_alt(self.id_words))
        at, dot = _alt(_nfkc(w) for w in s.at_words), _alt(_nfkc(w) for w in s.dot_words)
        label = r"[A-Za-z0-9\-]+"
        self._email = re.compile(rf"[A-Za-z0-9._%+\-]+\s*(?:{at})\s*{label}(?:\s*(?:{dot})\s*{label})+",
                                 re.IGNORECASE)
        ends = _alt(s.url_endings)
        self._bare_url = re.compile(rf"(?<![A-Za-z0-9@.\-])(?:{label}\.)+(?:{ends})\b(?:/{_ASCII_URL}*)?",
                                    re.IGNORECASE)
        n = f"[0-9{kanji}十]+"
        u = s.address_units
        chome, banchi, ban, go = (_alt(_nfkc(w) for w in x) for x in (u.chome, u.banchi, u.ban, u.go))
        dash = "[\\-‐−ー]"
        self._address = re.compile("|".join([
            rf"{n}(?:{chome})(?:\s?{n}(?:{banchi}|{ban})?(?:[\-‐−ーの]?{n}(?:{go})?)?)?",   # 3丁目5番地2号
            rf"{n}(?:{banchi})(?:[\-‐−ーの]?{n}(?:{go})?)?",                              # 1234番地の5
            rf"{n}(?:{ban})[\-‐−ーの]?{n}(?:{go})?",                                      # 5番3号
            rf"[0-9]+(?:{dash}[0-9]+){{2,3}}|{n}(?:の{n}){{2,3}}",                         # 3-5-2, 一の二の三
            rf"(?<=[\u4e00-\u9fff\u30a1-\u30fa])[0-9]+{dash}[0-9]+",                          # 本町3-5
        ]))

    @classmethod
    def from_mapping(cls, data: dict, public_numbers: Iterable[str] = ()) -> "Masker":
        """From a parsed mask.yml (pydantic ValidationError when it does not fit :class:`MaskSpec`)."""
        return cls(MaskSpec.model_validate(data), public_numbers)

    # -- masking -----------------------------------------------------------------------------
    def mask(self, text: str, tokenizer: Tokenizer) -> str:
        """``text`` cleaned (NFKC, no control characters) with identifying details replaced by ●●."""
        original = text if isinstance(text, str) else str(text)
        out = clean(original)
        for _ in range(PASSES):
            again = self._once(out, tokenizer)
            if again == out:
                break
            out = again
        # NFKC can turn one character into many (U+FDFA is 18): the result stays bounded all the same
        return out[:max(2 * len(original), len(MASK))]

    def _once(self, text: str, tokenizer: Tokenizer) -> str:
        text = _URL_SCHEME.sub(MASK, text)
        text = self._email.sub(MASK, text)
        text = self._bare_url.sub(MASK, text)
        text = self._mask_numbers(text)
        text = self._mask_addresses(text)
        return self._mask_names(text, tokenizer)

    def _digits_of(self, run: str) -> str:
        """Only the digits of a number (kanji digits as ASCII), with its leading # if any."""
        return "".join(self.digit_value.get(ch, ch) for ch in run if ch.isdigit() or ch in self.digit_value
                       or ch == "#")

    def _mask_numbers(self, text: str) -> str:
        return self._number.sub(lambda m: MASK if self._identifies(text, m) else m.group(), text)

    def _identifies(self, text: str, m: re.Match) -> bool:
        """Does the number ``m`` identify someone (phone, account, ID, postal code)?"""
        run, start, end = m.group(), m.start(), m.end()
        digits = self._digits_of(run)
        if digits in self.keep or digits.lstrip("#") in self.keep or _DATE.fullmatch(run):
            return False
        count = len(digits.lstrip("#"))
        phone_shaped = digits.startswith("0") and count >= 10   # 09012345678名前は… : no counter there
        if not phone_shaped and (self._counter.match(text, end)
                                 or text[max(0, start - 2):start].strip().endswith(self.money_signs)):
            return False
        if text[max(0, start - 2):start].strip().endswith(self.postal_marks) or _POSTAL_SHAPE.fullmatch(run):
            return True
        return count >= 6 or (count >= 3 and self._after_id_word(text, start))

    def _after_id_word(self, text: str, start: int) -> bool:
        """An id word (口座番号, 電話 …) ends at most 8 characters before ``start``, in the same sentence."""
        window = text[max(0, start - 8 - 6):start]
        for w in self._id_word.finditer(window):
            gap = window[w.end():]
            if len(gap) <= 8 and not any(c in _GAP_STOP for c in gap):
                return True
        return False

    def _mask_addresses(self, text: str) -> str:
        spans: list[_Span] = []
        for m in self._address.finditer(text):
            run = m.group()
            if _DATE.fullmatch(run) or self._counter.match(text, m.end()) or self._digits_of(run) in self.keep:
                continue    # a date, 3-4回, a public number (0570-064-370) is not an address
            spans.append(_Span(self._town_start(text, m.start()), m.end()))
        return _replace(text, spans)

    def _town_start(self, text: str, start: int) -> int:
        """Where the street-level part begins: after the nearest prefecture or municipality suffix
        before the numbers (札幌市中央区|北一条西2丁目); a town ending right before them (日吉本町|3-5-2)
        does not count, so 日吉本町 goes when 区 comes before it; the numbers alone when there is none."""
        i, suffixes = start, []
        while i > 0 and start - i < TOWN_MAX and _NAME_CHAR.match(text[i - 1]):
            i -= 1
            if text[i] in self.place_suffixes:
                suffixes.append(i)
        if suffixes and suffixes[0] == start - 1 and text[start - 1] not in self.town_endings:
            return start        # 左京区|二丁目: the ward stays
        usable = [p for p in suffixes if p < start - 1]
        return usable[0] + 1 if usable else start

    def _mask_names(self, text: str, tokenizer: Tokenizer) -> str:
        tokens = tokenizer.tokenize(text)
        spans: list[_Span] = []
        for i, t in enumerate(tokens):
            nxt = tokens[i + 1].surface if i + 1 < len(tokens) else ""
            if t.pos3 == "人名" or (t.pos == "名詞" and t.pos2 == "固有名詞" and t.pos3 != "地名"
                                   and nxt in self.honorifics):
                spans.append(_Span(t.start, t.end))
            elif t.surface in self.honorifics and i > 0:
                kana = self._kana_name_before(text, t.start, tokenizer)
                if kana is not None:
                    spans.append(kana)
        return _replace(text, spans)

    def _kana_name_before(self, text: str, end: int, tokenizer: Tokenizer) -> _Span | None:
        """The kana name written right before an honorific at ``end`` (one space allowed), if any."""
        if end > 0 and text[end - 1] == " ":
            end -= 1
        start = end
        while start > 0 and end - start < NAME_MAX and _is_kana(text[start - 1]):
            start -= 1
        if start == end:
            return None
        left = start     # read from the word the run may finish (住む|やまだ): Sudachi needs its head
        while left > 0 and start - left < 4 and _NAME_CHAR.match(text[left - 1]) and not _is_kana(text[left - 1]):
            left -= 1
        for t in tokenizer.tokenize(text[left:end]):   # drop a verb's end, particles, adverbs: それで|たなか
            t_start, t_end = left + t.start, left + t.end
            if t_end <= start:
                continue
            if t_start >= start and t.pos not in _NOT_NAME_POS and t.pos3 != "副詞可能":
                break
            start = t_end
        name = text[start:end]
        if not name or name in self.not_names or any(len(w) >= 3 and name.endswith(w) for w in self.not_names):
            return None
        return _Span(start, end)


def _is_kana(ch: str) -> bool:
    return "\u3041" <= ch <= "\u3096" or "\u30a1" <= ch <= "\u30fa" or ch == "ー"


def _replace(text: str, spans: list[_Span]) -> str:
    """``text`` with each span (overlaps merged) replaced by one ●●."""
    out, last = [], 0
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.end <= last:
            continue
        start = max(span.start, last)
        if start == last and out and out[-1] == MASK:
            last = span.end      # adjacent to the previous mask: one ●● for both
            continue
        out.append(text[last:start])
        out.append(MASK)
        last = span.end
    out.append(text[last:])
    return "".join(out)

