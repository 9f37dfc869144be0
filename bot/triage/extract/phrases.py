"""Labelled words in a message: how it was paid, what the family wants, what the business demands.

The words come from ``intents/_lexicon/referral.yml`` (read by :mod:`bot.triage.loader`).  All
lists are searched together, longest word first, so an overlap goes to the longer word
(解約料 is a demand, not the wish 解約).  Pure: the text and the words are handed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..text import clean


@dataclass(frozen=True, slots=True)
class Phrase:
    kind: str    # the list it came from (payments, wishes, demands, products, relations)
    label: str   # what the sheet shows
    text: str    # the words in the message
    start: int


class PhraseFinder:
    """Every word of every list, compiled into one longest-first alternation."""

    def __init__(self, lists: Mapping[str, Mapping[str, Iterable[str]]]):
        self._owner: dict[str, tuple[str, str]] = {}
        for kind, labels in lists.items():
            for label, words in labels.items():
                for word in words:
                    key = clean(str(word))
                    if key:
                        self._owner.setdefault(key, (kind, str(label)))
        words = sorted(self._owner, key=len, reverse=True)
        self._re = re.compile("|".join(map(re.escape, words)) or "(?!)")

    def find(self, text: str) -> list[Phrase]:
        """The words found in ``text`` (cleaned), in order, without overlaps."""
        return [Phrase(*self._owner[m[0]], m[0], m.start()) for m in self._re.finditer(text)]


def labels(found: Iterable[Phrase], kind: str) -> list[str]:
    """The labels of one kind, each once, in the order the message tells them."""
    return list(dict.fromkeys(p.label for p in found if p.kind == kind))
