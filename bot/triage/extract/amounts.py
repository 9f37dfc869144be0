"""Sums of money in a message (３０万, 300,000円, 三十万円, 3万5千円, ５０まんえん)."""

from __future__ import annotations

import re

from ..facts import Amount
from .numbers import KANJI_NUMERAL, parse_number

_NUMBER = rf"(?:\d{{1,3}}(?:,\d{{3}})+|\d{{1,15}})(?:\.\d+)?|[{KANJI_NUMERAL}]"
_CANDIDATE = re.compile(
    rf"(?P<yen_mark>[¥￥]\s?)?(?<![\d,.])(?P<body>(?:{_NUMBER})(?:{_NUMBER}|[万億兆]|まん)*)(?P<yen>円|えん)?")
#: Words after a number that make it a count, not money (10万人, 3万件, 100万回).
_COUNTERS = ("人", "件", "回", "個", "台", "歳", "才", "年", "部", "枚", "本", "匹", "通", "社",
             "票", "歩", "点", "倍", "冊", "株", "世帯", "坪", "キロ", "km", "ドル", "ユーロ",
             "ウォン", "元", "ポイント", "pt", "PV", "再生", "フォロワー", "文字", "字", "ページ")
#: Words before a number that make it vague (何十万, 数万円).
_VAGUE_BEFORE = frozenset("何数幾")


def find_amounts(text: str) -> list[Amount]:
    """Yen amounts in ``text``, in order; counts, ages, years and vague sums are skipped."""
    out: list[Amount] = []
    for m in _CANDIDATE.finditer(text):
        body = m["body"]
        has_big_unit = any(u in body for u in "万億兆") or "まん" in body
        is_yen = bool(m["yen"] or m["yen_mark"])
        if not (has_big_unit or is_yen) or _vague(text, m.start("body")):
            continue
        if not is_yen and text.startswith(_COUNTERS, m.end()):
            continue
        yen = parse_number(body.replace("まん", "万"))
        if yen:
            out.append(Amount(yen, m[0], m.start(), m.end()))
    return out


def _vague(text: str, start: int) -> bool:
    return start > 0 and text[start - 1] in _VAGUE_BEFORE
