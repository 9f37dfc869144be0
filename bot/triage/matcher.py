"""Keyword and phrase matching over Sudachi keys: an index lookup, not a loop.

Admins write keywords in plain Japanese (「点検商法」, 「解約できない」,
「屋根 & 工事」).  Each keyword is tokenized with the same pipeline as messages,
so spelling variants meet on the same keys.  A keyword is one or more *phrases*
joined by ``&``: every phrase must occur in the message (a phrase = a contiguous
run of keys inside one sentence).

For kana-only writing (「ふとうこう の まご」) Sudachi cannot find the words, so
phrases are also indexed by their katakana reading and looked up inside runs of
hiragana.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .text import to_katakana
from .tokenize import Token

Phrase = tuple[str, ...]

#: Upper bound of the per-word caches.
CACHE_LIMIT = 100_000
#: Shortest one-word keyword looked for inside longer nouns.
MIN_AFFIX = 2
#: Readings shorter than this are too ambiguous to look for inside kana runs.
MIN_READING = 3
_KANA_RUN = re.compile(r"[\u3041-\u3096\u30fc]{%d,}" % MIN_READING)


@dataclass(frozen=True, slots=True)
class Pattern:
    """One admin-written keyword of one intent (or one signal list)."""

    owner: str             # intent id or signal name
    text: str              # as written in the file
    parts: tuple[Phrase, ...]
    weight: float = 1.0
    role: str = "keyword"  # keyword | urgent | now | recent | signal


@dataclass(frozen=True, slots=True)
class Hit:
    pattern: Pattern
    spans: tuple[tuple[int, int], ...]  # token index ranges [start, end) of each part (first occurrence)
    last: tuple[tuple[int, int], ...]   # every occurrence of the last part
    via_reading: bool = False


@dataclass
class PhraseIndex:
    """Maps the first key of every phrase to the phrases that start with it."""

    by_first: dict[str, list[Phrase]] = field(default_factory=lambda: defaultdict(list))
    by_reading: dict[str, list[Phrase]] = field(default_factory=dict)
    patterns_by_phrase: dict[Phrase, list[Pattern]] = field(default_factory=lambda: defaultdict(list))
    max_reading: int = 0
    _affix_cache: dict[str, tuple[Phrase, ...]] = field(default_factory=dict, repr=False)
    _run_cache: dict[str, tuple] = field(default_factory=dict, repr=False)

    def add(self, pattern: Pattern, readings: Sequence[str | None] = ()) -> None:
        for i, phrase in enumerate(pattern.parts):
            if phrase not in self.patterns_by_phrase:
                self.by_first[phrase[0]].append(phrase)
                reading = readings[i] if i < len(readings) else None
                if reading and len(reading) >= MIN_READING:
                    self.by_reading.setdefault(reading, []).append(phrase)
                    self.max_reading = max(self.max_reading, len(reading))
            self.patterns_by_phrase[phrase].append(pattern)

    # -- lookup --------------------------------------------------------------------
    def occurrences(self, tokens: Sequence[Token], text: str = "") -> tuple[dict[Phrase, list[tuple[int, int]]], set[Phrase]]:
        """Where each known phrase occurs: phrase -> [(start, end) token ranges]."""
        found: dict[Phrase, list[tuple[int, int]]] = {}
        keyed = [i for i, t in enumerate(tokens) if t.key is not None]
        self._scan(tokens, keyed, [tokens[i].key for i in keyed], found)
        if any(tokens[i].sub for i in keyed):
            # the same again with compounds split into parts (屋根瓦 -> 屋根 瓦)
            fine_idx = [i for i in keyed for _ in (tokens[i].sub or (None,))]
            fine_keys = [k for i in keyed for k in (tokens[i].sub or (tokens[i].key,))]
            self._scan(tokens, fine_idx, fine_keys, found)
        self._affixes(tokens, keyed, found)
        by_reading: set[Phrase] = set()
        if text and self.by_reading:
            for phrase, span in self._reading_hits(tokens, text):
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
            if t.pos != "名詞" or len(t.key) <= MIN_AFFIX:
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

    def _reading_hits(self, tokens: Sequence[Token], text: str) -> Iterable[tuple[Phrase, tuple[int, int]]]:
        for run in _KANA_RUN.finditer(text):
            for offset, length, phrases in self._run_hits(run.group()):
                span = _token_span(tokens, run.start() + offset, run.start() + offset + length)
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

    def hits(self, tokens: Sequence[Token], text: str = "") -> list[Hit]:
        found, via_reading = self.occurrences(tokens, text)
        seen: set[int] = set()
        out: list[Hit] = []
        for phrase in found:
            for pattern in self.patterns_by_phrase[phrase]:
                if id(pattern) in seen:
                    continue
                if all(part in found for part in pattern.parts):
                    seen.add(id(pattern))
                    out.append(Hit(pattern, tuple(found[part][0] for part in pattern.parts),
                                   tuple(found[pattern.parts[-1]]),
                                   any(part in via_reading for part in pattern.parts)))
        return out


def _token_span(tokens: Sequence[Token], start: int, end: int) -> tuple[int, int]:
    first = next((i for i, t in enumerate(tokens) if t.end > start), 0)
    last = next((i for i in range(len(tokens) - 1, -1, -1) if tokens[i].start < end), first)
    return first, last + 1


def split_parts(text: str) -> list[str]:
    """``"屋根 & 工事"`` -> ``["屋根", "工事"]``."""
    return [p.strip() for p in text.split("&") if p.strip()]
