"""Ages of the people in a message and who signed the contract.

The words (family nouns, first-person pronouns, signing verbs, age words) are a
:class:`PeopleLexicon`: built-in lists below, extended by
``intents/_lexicon/people.yml`` (read by :mod:`bot.triage.loader`, given here parsed).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable, Mapping

from ..facts import AgeMention
from .numbers import SMALL_NUMBER, parse_number

FIRST_PERSON = ("私", "わたし", "あたし", "わたくし", "僕", "ぼく", "俺", "おれ", "オレ", "わし", "自分")
#: The writer's side: when one of these signed, the family is the contracting party.
FAMILY = ("母", "父", "親", "両親", "父母", "母親", "父親", "お母さん", "お父さん", "母さん", "父さん",
          "ママ", "パパ", "義母", "義父", "実母", "実父", "祖母", "祖父", "夫", "妻", "主人", "ご主人",
          "旦那", "家内", "嫁", "姑", "舅", "叔母", "伯母", "叔父", "伯父", "義姉", "義兄")
#: The withdrawn person or the child the message is about.
PERSON = ("息子", "娘", "兄", "弟", "姉", "妹", "長男", "次男", "三男", "長女", "次女", "三女", "孫",
          "本人", "ご本人", "子ども", "子供", "こども", "お子さん", "一人息子", "一人娘", "息子さん",
          "娘さん", "兄貴", "姉貴", "甥", "姪")
#: Stems meaning signed / applied / bought / paid.
SIGNING = ("契約", "申し込", "申込", "購入", "買", "課金", "払", "サイン", "署名", "入会", "加入",
           "ローンを組", "名前を書", "判子", "ハンコ", "印鑑")
#: Words that give an age range (school stages, アラフォー).
AGE_WORDS: Mapping[str, tuple[int, int]] = {
    "小学生": (6, 12), "中学生": (12, 15), "高校生": (15, 18), "大学生": (18, 22),
    "アラサー": (27, 33), "アラフォー": (37, 43), "アラフィフ": (47, 53), "アラカン": (57, 63),
    "アラ還": (57, 63)}
#: Nouns that may carry an age in brackets right after them: 息子(21), 田中さん(45).
_BRACKET_OWNERS = ("男性", "女性", "さん", "君", "くん", "ちゃん", "氏", "様")
_SCHOOL_BASE = {"小": 5, "中": 11, "高": 14}
_KANA_GRADES = {"いち": 1, "に": 2, "さん": 3, "よん": 4, "ご": 5, "ろく": 6}
_KANJI = "\u4e00-\u9fff々"
_SENTENCE_END = re.compile(r"[。．！？!?\n]")
_CLAUSE_END = re.compile(r" *(?:[。．！？!?\n]|$)")
_NEGATED = re.compile(r"[ぁ-ゖ]{0,4}?(?:ない|なかっ|なく|ません|ず(?!っ))")
_HEARSAY = re.compile(r"[ぁ-ゖ]{0,6}?(?:らしい|らしく|そう(?:だ|です|な)|みたい)")
_PASSIVE = re.compile(r"[わまさ]れ")  # 払われた: someone else paid (買わされた stays the writer)


def _alternation(words: Iterable[str]) -> str:
    """Longest-first regex alternation; one that never matches when ``words`` is empty."""
    return "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True)) or "(?!)"


def _nouns(words: Iterable[str]) -> str:
    """Alternation where one-kanji nouns may not follow another kanji (丈夫, 肉親)."""
    words = set(words)
    single = [w for w in words if len(w) == 1]
    longer = [w for w in words if len(w) > 1]
    return rf"(?:{_alternation(longer)}|(?<![{_KANJI}])(?:{_alternation(single)}))"


@dataclass(frozen=True)
class PeopleLexicon:
    """Words the people extractor reads (built-in lists plus ``people.yml``)."""

    first_person: tuple[str, ...] = FIRST_PERSON
    family: tuple[str, ...] = FAMILY
    person: tuple[str, ...] = PERSON
    signing: tuple[str, ...] = SIGNING
    age_words: Mapping[str, tuple[int, int]] = field(default_factory=lambda: dict(AGE_WORDS))

    @classmethod
    def from_mapping(cls, data: Mapping) -> "PeopleLexicon":
        """The built-in lexicon extended with the lists in ``data`` (a parsed people.yml)."""
        base = cls()
        ages = dict(base.age_words)
        ages.update({str(k): (int(v[0]), int(v[1])) for k, v in (data.get("age_words") or {}).items()})
        return cls(*(tuple(dict.fromkeys([*getattr(base, name), *map(str, data.get(name) or ())]))
                     for name in ("first_person", "family", "person", "signing")), ages)

    def side(self, noun: str) -> str:
        """``"person"`` for the withdrawn person's words, else ``"family"``."""
        return "person" if noun in self.person else "family"

    @cached_property
    def subject(self) -> re.Pattern:
        nouns = _nouns([*self.first_person, *self.family, *self.person])
        return re.compile(rf"(?P<who>{nouns})(?:\([^()]{{0,12}}\))?(?:が|は|も)")

    @cached_property
    def nominee(self) -> re.Pattern:
        nouns = _nouns([*self.first_person, *self.family, *self.person])
        return re.compile(rf"(?P<who>{nouns})の?名義|名義(?:は|が)(?P<who2>{nouns})")

    @cached_property
    def signing_re(self) -> re.Pattern:
        return re.compile(_alternation(self.signing))

    @cached_property
    def person_subject(self) -> re.Pattern:
        return re.compile(rf"{_nouns(self.person)}(?:\([^()]{{0,12}}\))?(?:が|は|も)")

    @cached_property
    def writer_before(self) -> re.Pattern:
        return re.compile(rf"(?:{_alternation(self.first_person)})(?:も|は|が)?(?:もう|すでに|今年で?)?$")

    @cached_property
    def self_intro(self) -> re.Pattern:
        nouns = _nouns([*self.family, *self.person])
        return re.compile(rf"の(?:{nouns})(?:です|でございます|と申します|をして)")

    @cached_property
    def noun_after(self) -> re.Pattern:
        return re.compile(rf"の(?:{_nouns([*self.family, *self.person])})")

    @cached_property
    def bracket_owner(self) -> re.Pattern:
        words = [*self.first_person, *self.family, *self.person, *_BRACKET_OWNERS]
        return re.compile(rf"(?:{_alternation(words)})\s?$")

    @cached_property
    def first_person_age(self) -> re.Pattern:
        return re.compile(
            rf"(?:{_alternation(self.first_person)})(?:も|は|が)?(?:もう|すでに|今年で?)?"
            r"(?P<n>\d{2,3}|[一二三四五六七八九十]{2,4})(?P<q>近く|過ぎ|すぎ)?"
            r"(?=で|に|です|だ|、|。|!|\s|$)")

    @cached_property
    def bare_age(self) -> re.Pattern:
        """An age without 歳 next to a kin word: ４８の息子, ５５になる兄, 息子 ４６, 兄（５３）."""
        kin = _nouns([*self.family, *self.person])
        return re.compile(
            rf"(?<![\d.,])(?P<n>[1-9]\d|[二三四五六七八九]十[一二三四五六七八九]?)"
            rf"(?:(?P<q>近い|手前|過ぎ|すぎ)の?|になる|の)(?={kin})"
            rf"|(?:{kin})(?:は|が|も)?[\s、]?(?P<n2>[1-9]\d)(?P<q2>近い|過ぎ)?(?![\d,.万円年月日時分回件個人%])")

    @cached_property
    def age_word_re(self) -> re.Pattern:
        return re.compile(_alternation(self.age_words))


DEFAULT_LEXICON = PeopleLexicon()


# -- ages -------------------------------------------------------------------------------
def _approx(n: int, q: str | None) -> tuple[int, int]:
    if q in ("過ぎ", "すぎ"):
        return n, n + (9 if n % 10 == 0 else 4)
    if q in ("前後", "くらい", "ぐらい", "位"):
        return n - 2, n + 2
    if q in ("近く", "近い", "手前"):
        return n - 4, n - 1
    return n, n


_YEARS = re.compile(rf"(?<![\d.])(?P<n>{SMALL_NUMBER})(?:歳|才)(?P<q>過ぎ|すぎ|前後|くらい|ぐらい|位|近く|近い|手前)?"
                    r"(?!まで|以上|以下|未満|から|以降|以外)")
_DECADE = re.compile(r"(?<![\d.])(?P<n>\d{2,3}|[二三四五六七八九]?十|百)代(?P<q>前半|後半|半ば|なかば)?(?!目)")
_PAST_DECADE = re.compile(r"(?<![\d.])(?P<n>[1-9]0|[二三四五六七八九]十)(?P<q>過ぎ|すぎ)")
_BRACKET = re.compile(r"\((?P<n>\d{1,3})\)")
_GRADE_LONG = re.compile(r"(?P<s>小|中|高)(?:学校?|校|等学校)(?P<g>[1-6一二三四五六])年生?")
_GRADE_SHORT = re.compile(rf"(?<![{_KANJI}])(?P<s>小|中|高)(?P<g>[1-6])(?:年生)?(?![\d年時週日分回階個人つかヶ月])")
_GRADE_KANA = re.compile(r"(?P<s>しょう|ちゅう|こう)(?:がっこう|がく|こう)\s*(?P<g>いち|に|さん|よん|ご|ろく)\s*ねん")


def _years(m: re.Match) -> tuple[int, int] | None:
    n = parse_number(m["n"])
    return _approx(n, m["q"]) if n is not None else None


def _decade(m: re.Match) -> tuple[int, int] | None:
    n = parse_number(m["n"])
    if n is None or n % 10 or not 10 <= n <= 110:
        return None
    return {"前半": (n, n + 4), "後半": (n + 5, n + 9), "半ば": (n + 3, n + 6),
            "なかば": (n + 3, n + 6)}.get(m["q"], (n, n + 9))


def _grade(m: re.Match) -> tuple[int, int] | None:
    stage = {"しょう": "小", "ちゅう": "中", "こう": "高"}.get(m["s"], m["s"])
    grade = _KANA_GRADES.get(m["g"]) or parse_number(m["g"])
    if not grade or grade > (6 if stage == "小" else 3):
        return None
    base = _SCHOOL_BASE[stage]
    return base + grade, base + grade + 1


def _age_spans(text: str, lex: PeopleLexicon) -> list[tuple[int, int, int, int, bool]]:
    """Every age expression as ``(start, end, low, high, writer_forced)``."""
    found = []
    rules: tuple[tuple[re.Pattern, Callable[[re.Match], tuple[int, int] | None]], ...] = (
        (_YEARS, _years), (_DECADE, _decade), (_PAST_DECADE, _years), (_GRADE_LONG, _grade),
        (_GRADE_SHORT, _grade), (_GRADE_KANA, _grade), (lex.age_word_re, lambda m: lex.age_words[m[0]]))
    for pattern, handler in rules:
        for m in pattern.finditer(text):
            rng = handler(m)
            if rng:
                found.append((m.start(), m.end(), *rng, False))
    for m in _BRACKET.finditer(text):
        owned = lex.bracket_owner.search(text, max(0, m.start() - 6), m.start())
        if owned or _CLAUSE_END.match(text, m.end()):
            n = int(m["n"])
            found.append((m.start(), m.end(), n, n, False))
    for m in lex.bare_age.finditer(text):
        group = "n" if m["n"] else "n2"
        n = parse_number(m[group])
        if n is not None and 10 <= n <= 110:
            q = m["q"] or m["q2"]
            found.append((m.start(group), m.end(), *_approx(n, "近く" if q in ("近い", "手前") else q), False))
    for m in lex.first_person_age.finditer(text):
        n = parse_number(m["n"])
        if n is not None and n >= 15:
            found.append((m.start("n"), m.end(), *_approx(n, m["q"]), True))
    return found


#: After an age: it dates something (中2から, 高校の頃, 10代の時, 20代は…) rather than saying how old someone is.
_HISTORY_AFTER = re.compile(r"(?:の)?(?:秋|春|夏|冬|[1-3一二三]学期|途中|後半|前半|終わり|初め|はじめ)?"
                            r"(?:から|以来|の頃|頃|ごろ|の時|のとき|の時期|時代|当時|まで|は|で)")
#: A parent named right before a bracketed age: 母親（41）.
_PARENT_BEFORE = re.compile(r"(?:母|父|両親|母親|父親|祖母|祖父|お母さん|お父さん)[（(]$")
_PARENT_AFTER = re.compile(r"の?(?:母|父|祖母|祖父|両親|親|お母さん|お父さん|母親|父親)")


def _is_writer(text: str, start: int, end: int, lex: PeopleLexicon) -> bool:
    if lex.self_intro.match(text, end):
        return True
    return bool(lex.writer_before.search(text, max(0, start - 12), start)) and not lex.noun_after.match(text, end)


def find_ages(text: str, lex: PeopleLexicon = DEFAULT_LEXICON) -> list[AgeMention]:
    """Ages in ``text`` (0-120), in order; ``writer`` marks the writer's own age."""
    spans = sorted(_age_spans(text, lex), key=lambda s: (s[0], s[0] - s[1]))
    out: list[AgeMention] = []
    for start, end, low, high, forced in spans:
        if out and start < out[-1].end or not 0 <= low <= high <= 120:
            continue
        writer = forced or _is_writer(text, start, end, lex)
        parent = not writer and bool(_PARENT_AFTER.match(text, end) or _PARENT_BEFORE.search(text, max(0, start - 5), start))
        said = text[start:end]
        stage = not any(ch in said for ch in "歳才代")
        out.append(AgeMention(low, high, said, writer, start, end, parent, stage,
                              bool(_HISTORY_AFTER.match(text, end))))
    return out


# -- who signed -------------------------------------------------------------------------
def _explicit_signer(text: str, lex: PeopleLexicon) -> tuple[str, str] | None:
    """The nearest subject before a signing verb in the same sentence."""
    sentence_starts = [0, *(m.end() for m in _SENTENCE_END.finditer(text))]
    subjects = list(lex.subject.finditer(text))
    subject_ends = [m.end() for m in subjects]
    for verb in lex.signing_re.finditer(text):
        if _NEGATED.match(text, verb.end()):
            continue
        i = bisect_right(subject_ends, verb.start()) - 1
        sentence = sentence_starts[bisect_right(sentence_starts, verb.start()) - 1]
        if i >= 0 and subjects[i].start() >= sentence:
            who = subjects[i]
            return lex.side(who["who"]), text[who.start():verb.end()]
    return None


def _implicit_writer(text: str, lex: PeopleLexicon) -> tuple[str, str] | None:
    """A signing verb with no subject at all: the writer speaking of themself."""
    person = lex.person_subject.search(text)
    for verb in lex.signing_re.finditer(text):
        if person and person.end() <= verb.start():
            return None
        if any(p.match(text, verb.end()) for p in (_NEGATED, _HEARSAY, _PASSIVE)):
            continue
        return "family", text[verb.start():verb.end()]
    return None


def find_signer(text: str, lex: PeopleLexicon = DEFAULT_LEXICON) -> tuple[str | None, str | None]:
    """Who signed or paid: ``("family", words)``, ``("person", words)`` or ``(None, None)``."""
    m = lex.nominee.search(text)
    if m:
        return lex.side(m["who"] or m["who2"]), m[0]
    if not lex.signing_re.search(text):
        return None, None
    return _explicit_signer(text, lex) or _implicit_writer(text, lex) or (None, None)
