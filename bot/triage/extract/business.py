"""The name of a business in a message: 「〇〇」 / 『〇〇』 told as a company, 株式会社〇〇,
〇〇株式会社, (株)〇〇.

The legal-form words and the words that mark bracketed words as a name are handed in (from
``intents/_lexicon/referral.yml``).  Pure.  A quoted sentence (「今すぐ払え」と言われた) is not a name.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..text import clean

#: Characters a company name is written in (no hiragana: it would run into the sentence).
_NAME = r"[ァ-ヶーｦ-ﾟ一-龥々A-Za-z0-9・&.\-]{1,20}"
_BRACKET = re.compile(r"[「『]([^「」『』。\n]{2,30})[」』]")


class BusinessFinder:
    def __init__(self, corp_words: Iterable[str], name_after: Iterable[str]):
        corp = sorted({clean(w) for w in corp_words if clean(w)}, key=len, reverse=True)
        after = sorted({clean(w) for w in name_after if clean(w)}, key=len, reverse=True)
        self._corp = tuple(corp)
        alt = "|".join(map(re.escape, corp)) or "(?!)"
        self._formal = re.compile(rf"(?:{alt}){_NAME}|{_NAME}(?:{alt})")
        self._after = re.compile("|".join(map(re.escape, after)) or "(?!)")

    def find(self, text: str) -> list[str]:
        """Business names in ``text`` (cleaned), each once, in order."""
        found: list[tuple[int, str]] = []
        taken: list[tuple[int, int]] = []
        for m in _BRACKET.finditer(text):
            name = m[1].strip()
            if any(w in name for w in self._corp) or self._after.match(text, m.end()):
                found.append((m.start(), name))
                taken.append((m.start(), m.end()))
        for m in self._formal.finditer(text):
            if not any(a <= m.start() < b for a, b in taken):
                found.append((m.start(), m[0]))
        return list(dict.fromkeys(name for _, name in sorted(found)))
