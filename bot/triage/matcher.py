"""Keyword and phrase matching over Sudachi keys: an index lookup, not a loop.

Admins write keywords in plain Japanese.  Each keyword is tokenized with the same
pipeline as messages, so spelling variants and conjugations meet on the same keys.

Keyword syntax (intent ``keywords:``, ``danger:`` acts, ``_signals.yml`` lists):

- ``点検商法`` — a *phrase*: a contiguous run of keys inside one sentence;
- ``屋根 & 工事`` — every part must occur somewhere in the message;
- ``カード|通帳|現金 & 取りに来る`` — ``|`` lists alternatives within a part;
- ``学校 + 行かない`` — the parts in this order inside one sentence (closer than ``&``);
- ``=記録のみ`` — a literal: matched in the cleaned text as written (particles kept).

A one-word keyword also matches at the start or end of a longer noun (屋根 in
屋根瓦), and a compound keyword also matches its parts (定期点検 = 定期 点検).

For kana-only writing (「ふとうこう の まご」, half-width 「ｸﾋﾞﾆ ﾍﾞﾙﾄ」) Sudachi cannot
find the words, so phrases are also indexed by their katakana reading and looked
up inside runs of kana — only where the kana stands on its own (a kana-only
message, or a run set apart by spaces or punctuation), never inside the endings
of ordinary words (出ていきました must not match 定期).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .text import to_katakana
from .tokenize import Token

Phrase = tuple[str, ...]
LITERAL = "\x00="   # first element of a literal phrase: (LITERAL, text)

#: Upper bound of the per-word caches.
CACHE_LIMIT = 100_000
#: Shortest one-word keyword looked for inside longer nouns.
MIN_AFFIX = 2
#: Readings shorter than this are too ambiguous to look for inside kana runs.
MIN_READING = 3
#: Sentences apart that the parts of one danger act may stand (1: the same or the next sentence).
#: A danger act is one event: 「お金」 early in a long story and 「今から」 at its end are not one.
ACT_WINDOW = 1
#: A message whose letters are at least this share kana is "kana-only writing".
KANA_SHARE = 0.6
_KANA = r"\u3041-\u3096\u30a1-\u30fa\u30fc"
#: A run of kana, single spaces allowed inside (kana-only writers space their words: もう かえらない).
_KANA_RUN = re.compile(rf"[{_KANA}](?:[{_KANA}]|[ \u3000](?=[{_KANA}]))*")
_LETTER = re.compile(r"[^\W\d_]")
_KANA_CHAR = re.compile(rf"[{_KANA}]")
_SEPARATORS = frozenset("、。,.!?！？「」『』()（）・…")


@dataclass(frozen=True, slots=True)
class Pattern:
    """One admin-written keyword of one intent (or one signal list)."""

    owner: str                           # intent id, signal name or contact id
    text: str                            # as written in the file
    parts: tuple[tuple[Phrase, ...], ...]  # every part must match; any alternative of a part will do
    weight: float = 1.0
    role: str = "keyword"                # keyword | urgent | act | inherent | signal | mention
    ordered: bool = False                # "A + B": the parts in this order inside one sentence


@dataclass(frozen=True, slots=True)
class Hit:
    pattern: Pattern
    spans: tuple[tuple[int, int], ...]  # token ranges [start, end) of each part (first occurrence)
    last: tuple[tuple[int, int], ...]   # every occurrence of the last part
    via_reading: bool = False


@dataclass
class PhraseIndex:
    """Maps the first key of every phrase to the phrases that start with it."""

    by_first: dict[str, list[Phrase]] = field(default_factory=lambda: defaultdict(list))
    by_reading: dict[str, list[Phrase]] = field(default_factory=dict)
    literals: dict[str, Phrase] = field(default_factory=dict)
    patterns_by_phrase: dict[Phrase, list[Pattern]] = field(default_factory=lambda: defaultdict(list))
    max_reading: int = 0
    _affix_cache: dict[str, tuple[Phrase, ...]] = field(default_factory=dict, repr=False)
    _literal_re: re.Pattern | None = field(default=None, repr=False)
    _anchors: dict[Phrase, list[Pattern]] | None = field(default=None, repr=False)
    _overlaps: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _run_cache: dict[str, tuple] = field(default_factory=dict, repr=False)

    def add(self, pattern: Pattern, readings: dict[Phrase, Sequence[str]] | None = None) -> None:
        readings = readings or {}
        for part in pattern.parts:
            for phrase in part:
                if phrase not in self.patterns_by_phrase:
                    if phrase[0] == LITERAL:
                        self.literals[phrase[1]] = phrase
                        self._literal_re = None   # both rebuilt at the first lookup
                        self._overlaps = {}
                    else:
                        self.by_first[phrase[0]].append(phrase)
                    for reading in readings.get(phrase, ()):
                        if len(reading) >= MIN_READING:
                            bucket = self.by_reading.setdefault(reading, [])
                            if phrase not in bucket:
                                bucket.append(phrase)
                            self.max_reading = max(self.max_reading, len(reading))
                if pattern not in self.patterns_by_phrase[phrase]:
                    self.patterns_by_phrase[phrase].append(pattern)
        self._anchors = None

    def prepare(self) -> None:
        """Build the lookup structures once all patterns are in (done by the compiler, so that
        threads deciding at once never see them half-built)."""
        self._overlaps = {a: tuple(b for b in self.literals if b in a)
                          for a in self.literals if any(b != a and b in a for b in self.literals)}
        self._literal_re = re.compile("|".join(
            re.escape(x) for x in sorted(self.literals, key=len, reverse=True))) if self.literals else None
        self._anchor_index()

    # -- lookup --------------------------------------------------------------------------
    def occurrences(self, tokens: Sequence[Token], text: str = "") -> tuple[dict[Phrase, list[tuple[int, int]]], set[Phrase]]:
        """Where each known phrase occurs: phrase -> [(start, end) token ranges]."""
        found: dict[Phrase, list[tuple[int, int]]] = {}
        keyed = [i for i, t in enumerate(tokens) if t.key is not None]
        self._scan(tokens, keyed, [tokens[i].key for i in keyed], found)
        if any(tokens[i].sub for i in keyed):
            # the same again with compounds split into parts (定期点検 -> 定期 点検)
            fine_idx = [i for i in keyed for _ in (tokens[i].sub or (None,))]
            fine_keys = [k for i in keyed for k in (tokens[i].sub or (tokens[i].key,))]
            self._scan(tokens, fine_idx, fine_keys, found)
        self._affixes(tokens, keyed, found)
        offsets = _Offsets(tokens) if text else None
        if text and self.literals:
            if self._literal_re is None:
                self.prepare()
            for m in self._literal_re.finditer(text):
                # overlapping literals (a shorter one inside a longer one) are checked one by one
                for literal in self._overlaps.get(m.group(), (m.group(),)):
                    at = text.find(literal, m.start(), m.end())
                    if at >= 0:
                        found.setdefault(self.literals[literal], []).append(offsets.span(at, at + len(literal)))
        by_reading: set[Phrase] = set()
        if text and self.by_reading:
            for phrase, span in self._reading_hits(tokens, text, offsets):
                if phrase not in found:
                    found[phrase] = [span]
                    by_reading.add(phrase)
        return found, by_reading

    def _scan(self, tokens: Sequence[Token], idx: list[int], keys: list[str],
              found: dict[Phrase, list[tuple[int, int]]]) -> None:
        n = len(keys)
        for p in range(n):
            for phrase in self.by_first.get(keys[p], ()):
                m = len(phrase)
                if p + m <= n and tuple(keys[p:p + m]) == phrase \
                        and tokens[idx[p]].sentence == tokens[idx[p + m - 1]].sentence:
                    span = (idx[p], idx[p + m - 1] + 1)
                    spans = found.setdefault(phrase, [])
                    if span not in spans:
                        spans.append(span)

    def _affixes(self, tokens: Sequence[Token], keyed: list[int],
                 found: dict[Phrase, list[tuple[int, int]]]) -> None:
        """A one-word keyword at the start or end of a longer noun (屋根 in 屋根瓦, 詐欺 in 詐欺師)."""
        cache = self._affix_cache
        for i in keyed:
            t = tokens[i]
            if t.pos != "名詞" or len(t.key) <= MIN_AFFIX or t.key.isascii():
                continue
            pieces = cache.get(t.key)
            if pieces is None:
                key = t.key
                pieces = tuple({(p,) for n in range(MIN_AFFIX, len(key)) for p in (key[:n], key[-n:])
                                if (p,) in self.patterns_by_phrase})
                if len(cache) < CACHE_LIMIT:
                    cache[key] = pieces
            for phrase in pieces:
                spans = found.setdefault(phrase, [])
                if (i, i + 1) not in spans:
                    spans.append((i, i + 1))

    def _reading_hits(self, tokens: Sequence[Token], text: str,
                      offsets: "_Offsets") -> Iterable[tuple[Phrase, tuple[int, int]]]:
        kana_message = None
        starts = None
        for run in _KANA_RUN.finditer(text):
            if len(run.group()) < MIN_READING:
                continue
            before = text[run.start() - 1] if run.start() else " "
            after = text[run.end()] if run.end() < len(text) else " "
            alone = (before.isspace() or before in _SEPARATORS) and (after.isspace() or after in _SEPARATORS)
            if not alone:
                if kana_message is None:
                    letters = len(_LETTER.findall(text))
                    kana_message = letters > 0 and len(_KANA_CHAR.findall(text)) >= KANA_SHARE * letters
                if not kana_message:
                    continue
            if starts is None:
                starts = {t.start for t in tokens}
            raw = run.group()
            where = [run.start() + i for i, ch in enumerate(raw) if not ch.isspace()]
            compact = "".join(ch for ch in raw if not ch.isspace())
            if len(compact) < MIN_READING:
                continue
            for offset, length, phrases in self._run_hits(compact):
                at, end = where[offset], where[offset + length - 1] + 1
                if at not in starts:
                    continue  # inside a word Sudachi did read (イマシ in ございました)
                span = offsets.span(at, end)
                for phrase in phrases:
                    yield phrase, span

    def _run_hits(self, run: str) -> tuple[tuple[int, int, list[Phrase]], ...]:
        """Readings found in one kana run (cached: the same runs come back in every chat)."""
        hits = self._run_cache.get(run)
        if hits is None:
            kata = to_katakana(run)
            found = []
            for i in range(len(kata)):
                for length in range(min(self.max_reading, len(kata) - i), MIN_READING - 1, -1):
                    phrases = self.by_reading.get(kata[i:i + length])
                    if phrases:
                        found.append((i, length, phrases))
                        break
            hits = tuple(found)
            if len(self._run_cache) < CACHE_LIMIT:
                self._run_cache[run] = hits
        return hits

    def _anchor_index(self) -> dict[Phrase, list[Pattern]]:
        """Each pattern filed under the alternatives of its least common part only.

        A pattern can match only if that part is found, so the other parts are checked
        just for the few patterns whose anchor turned up (not for every 息子 or 電話).
        """
        if self._anchors is None:
            uses = {phrase: len(patterns) for phrase, patterns in self.patterns_by_phrase.items()}
            patterns = {id(p): p for ps in self.patterns_by_phrase.values() for p in ps}
            anchors: dict[Phrase, list[Pattern]] = defaultdict(list)
            for pattern in patterns.values():
                part = min(pattern.parts, key=lambda alts: sum(uses.get(a, 0) for a in alts))
                for alt in part:
                    anchors[alt].append(pattern)
            self._anchors = dict(anchors)
        return self._anchors

    def hits(self, tokens: Sequence[Token], text: str = "") -> list[Hit]:
        found, via_reading = self.occurrences(tokens, text)
        anchors = self._anchor_index()
        seen: set[int] = set()
        out: list[Hit] = []
        for phrase in found:
            for pattern in anchors.get(phrase, ()):
                if id(pattern) in seen:
                    continue
                seen.add(id(pattern))
                last = None
                if pattern.ordered:
                    firsts = _in_order(pattern, found, tokens)
                elif pattern.role in _LOCAL_ROLES and len(pattern.parts) > 1:
                    firsts, last = _nearby(pattern, found, tokens, _LOCAL_ROLES[pattern.role])
                else:
                    firsts = _anywhere(pattern, found)
                if firsts is not None:
                    if last is None:
                        last = tuple(sorted({s for alt in pattern.parts[-1] if alt in found for s in found[alt]}))
                    reading = any(alt in via_reading for part in pattern.parts for alt in part if alt in found)
                    out.append(Hit(pattern, tuple(firsts), last, reading))
        return out


def _anywhere(pattern: Pattern, found: dict[Phrase, list[tuple[int, int]]]) -> list[tuple[int, int]] | None:
    firsts = []
    for part in pattern.parts:
        spans = [found[alt][0] for alt in part if alt in found]
        if not spans:
            return None
        firsts.append(min(spans))
    return firsts


#: Roles whose "A & B" patterns must stand close together, and how many sentences apart they may be:
#: a danger act is one event, a timing cue (あと + 5分, 今も & 続く) one phrase.
_LOCAL_ROLES = {"act": ACT_WINDOW, "inherent": ACT_WINDOW, "signal": 0}


def _nearby(pattern: Pattern, found: dict[Phrase, list[tuple[int, int]]], tokens: Sequence[Token],
            window: int) -> tuple[list[tuple[int, int]] | None, tuple[tuple[int, int], ...]]:
    """Every part within ``window`` sentences of an occurrence of the last part (linear in the occurrences)."""
    by_sentence: list[dict[int, tuple[int, int]]] = []
    for part in pattern.parts[:-1]:
        first_in: dict[int, tuple[int, int]] = {}
        for alt in part:
            for span in found.get(alt, ()):
                sent = tokens[span[0]].sentence
                if sent not in first_in or span < first_in[sent]:
                    first_in[sent] = span
        if not first_in:
            return None, ()
        by_sentence.append(first_in)
    lasts = sorted({s for alt in pattern.parts[-1] if alt in found for s in found[alt]})
    firsts = None
    near_lasts = []
    for span in lasts:
        sent = tokens[span[0]].sentence
        chain = []
        for first_in in by_sentence:
            near = [first_in[k] for k in range(sent - window, sent + window + 1) if k in first_in]
            if not near:
                break
            chain.append(min(near))
        else:
            near_lasts.append(span)
            if firsts is None:
                firsts = [*chain, span]
    return firsts, tuple(near_lasts)


def _in_order(pattern: Pattern, found: dict[Phrase, list[tuple[int, int]]],
              tokens: Sequence[Token]) -> list[tuple[int, int]] | None:
    """The parts one after another inside one sentence (学校 + 行かない, not 学校とうまくいかない…)."""
    starts = sorted({s for alt in pattern.parts[0] if alt in found for s in found[alt]})
    for first in starts:
        chain = [first]
        sentence = tokens[first[0]].sentence
        for part in pattern.parts[1:]:
            after = [s for alt in part if alt in found for s in found[alt]
                     if s[0] >= chain[-1][1] and tokens[s[0]].sentence == sentence]
            if not after:
                break
            chain.append(min(after))
        else:
            return chain
    return None


class _Offsets:
    """Character offsets of a message's tokens, for turning a text span into a token span by bisection."""

    __slots__ = ("starts", "ends")

    def __init__(self, tokens: Sequence[Token]):
        self.starts = [t.start for t in tokens]
        self.ends = [t.end for t in tokens]

    def span(self, start: int, end: int) -> tuple[int, int]:
        first = bisect_right(self.ends, start)          # first token ending after ``start``
        last = bisect_left(self.starts, end) - 1        # last token starting before ``end``
        if first >= len(self.ends):
            first = 0
        return first, max(last, first) + 1


def split_parts(text: str) -> list[list[str]]:
    """``"カード|通帳 & 取りに来る"`` -> ``[["カード", "通帳"], ["取りに来る"]]`` (``+`` works the same way)."""
    parts = []
    for part in re.split(r"[&+]", text):
        alts = [a.strip() for a in part.split("|") if a.strip()]
        if alts:
            parts.append(alts)
    return parts
