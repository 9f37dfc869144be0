"""Text clean-up before tokenization: the first step of the triage pipeline.

Everything a user can type (or paste) must come out as a safe, bounded string:
NFKC (full-width digits, half-width katakana, compatibility forms), no control
characters, no lone surrogates, at most ``MAX_CHARS`` characters.
"""

from __future__ import annotations

import re
import unicodedata

#: Longest message the triage looks at. LINE allows 5,000 characters per text
#: message; anything past this is kept by the channel but not analysed.
MAX_CHARS = 5000

_SENTENCE_END = re.compile(r"(?<=[。．.!?！？\n])")
_SPACES = re.compile(r"[ \t\u3000]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _safe_char(ch: str) -> str:
    cat = unicodedata.category(ch)
    if ch == "\n":
        return ch
    if cat in ("Cc", "Cf", "Zl", "Zp"):
        # control, format (zero-width joiners, bidi marks), line/paragraph separators
        return "\n" if ch in "\r\u2028\u2029\x0b\x0c\x85" else (" " if ch == "\t" else "")
    if cat in ("Cs", "Co", "Cn"):
        # lone surrogates, private use, unassigned: nothing to read there
        return ""
    return ch


def clean(text: str) -> str:
    """Return ``text`` normalised for analysis (NFKC, no control chars, bounded)."""
    if not isinstance(text, str):
        text = str(text)
    text = text.replace("\r\n", "\n")
    if not text.replace("\n", " ").replace("\u3000", " ").isprintable():
        # slow path only when there is something to remove (control, format, surrogate, unassigned)
        text = "".join(_safe_char(ch) for ch in text)
    text = unicodedata.normalize("NFKC", text)
    text = _SPACES.sub(" ", text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()[:MAX_CHARS]


def sentences(text: str) -> list[str]:
    """Split cleaned text into sentences, keeping the end marks."""
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def has_words(text: str) -> bool:
    """True when the text holds at least one letter, kana, kanji or digit."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def to_katakana(text: str) -> str:
    """Hiragana to katakana (used for reading-based matching of kana-only writing)."""
    return "".join(chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" else ch for ch in text)
