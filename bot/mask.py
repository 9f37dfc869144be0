"""Mask what identifies a person before a family's words leave the LINE conversation.

Used for the excerpt in a Slack alert and for the review queue: phone numbers, e-mail
addresses, URLs, postal codes, street addresses (what follows the municipality) and personal
names (Sudachi's 人名, and any proper noun followed by さん/様/くん/ちゃん) are replaced.
"""

from __future__ import annotations

import re

from .triage.text import clean
from .triage.tokenize import Tokenizer

MASK = "●●"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_POSTAL = re.compile(r"〒?\s*\d{3}\s*[-－ー‐]\s*\d{4}|〒\s*\d{7}")
_PHONE = re.compile(r"(?<!\d)(?:\+?81[-\s]?)?0\d{1,4}[-\s()（）]*\d{1,4}[-\s()（）]*\d{3,4}(?!\d)|(?<!\d)\d{10,11}(?!\d)")
_LONG_NUMBER = re.compile(r"\d{6,}")
#: after a municipality: 町名・丁目・番地 (日吉本町1-2-3, 北一条西2丁目5番)
_ADDRESS = re.compile(r"(?P<place>[^\s、。,]{1,10}?[市区町村])(?P<rest>[^\s、。,!?！？]{0,12}?\d+(?:[-－ー‐の丁目番地号]+\d*)+[号番地]?)")
_HONORIFICS = ("さん", "様", "さま", "くん", "君", "ちゃん", "氏")


def mask(text: str, tokenizer: Tokenizer) -> str:
    """``text`` with identifying details replaced by ●●."""
    text = clean(text)
    text = _EMAIL.sub(MASK, text)
    text = _URL.sub(MASK, text)
    text = _PHONE.sub(MASK, text)
    text = _POSTAL.sub(MASK, text)
    text = _ADDRESS.sub(lambda m: m["place"] + MASK, text)
    text = _LONG_NUMBER.sub(MASK, text)
    return _mask_names(text, tokenizer)


def _mask_names(text: str, tokenizer: Tokenizer) -> str:
    tokens = tokenizer.tokenize(text)
    spans = []
    for i, t in enumerate(tokens):
        nxt = tokens[i + 1].surface if i + 1 < len(tokens) else ""
        if t.pos3 == "人名" or (t.pos == "名詞" and t.pos2 == "固有名詞" and t.pos3 != "地名"
                               and nxt in _HONORIFICS):
            spans.append((t.start, t.end))
    out, last = [], 0
    for start, end in spans:
        if start < last:
            continue
        out.append(text[last:start])
        out.append(MASK)
        last = end
    out.append(text[last:])
    return "".join(out)
