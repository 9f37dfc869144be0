"""Japanese numerals shared by the extractors (ASCII digits, kanji, mixed: 3万5千)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5,
                "六": 6, "七": 7, "八": 8, "九": 9}
SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
BIG_UNITS = {"万": 10**4, "億": 10**8, "兆": 10**12}

#: Regex class body of the kanji numerals (digits and small units).
KANJI_NUMERAL = "〇零一二三四五六七八九十百千"
#: A small number (day, month, age) written in ASCII digits or kanji.
SMALL_NUMBER = r"(?:\d{1,3}|[〇一二三四五六七八九十]{1,4})"

_MAX_LEN = 40


def parse_number(text: str) -> int | None:
    """Value of ``text`` (``3万5千`` -> 35000, ``十一`` -> 11, ``1.5万`` -> 15000).

    Returns None when ``text`` is not a well-formed whole number.
    """
    text = text.replace(",", "")
    if not text or len(text) > _MAX_LEN:
        return None
    total = section = Decimal(0)
    current: Decimal | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isascii() and (ch.isdigit() or ch == "."):
            j = i
            while j < len(text) and text[j].isascii() and (text[j].isdigit() or text[j] == "."):
                j += 1
            if current is not None:
                return None
            try:
                current = Decimal(text[i:j])
            except InvalidOperation:
                return None
            i = j
            continue
        if ch in KANJI_DIGITS:
            current = (current or 0) * 10 + KANJI_DIGITS[ch]
        elif ch in SMALL_UNITS:
            section += (1 if current is None else current) * SMALL_UNITS[ch]
            current = None
        elif ch in BIG_UNITS:
            value = section + (current or 0)
            if value == 0:
                return None
            total += value * BIG_UNITS[ch]
            section, current = Decimal(0), None
        else:
            return None
        i += 1
    result = total + section + (current or 0)
    return int(result) if result == result.to_integral_value() else None
