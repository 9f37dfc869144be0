"""Yen amounts: ASCII, kanji, mixed units, kana; counts, ages and dates are not money."""

from __future__ import annotations

import pytest

from bot.triage.extract.amounts import find_amounts
from bot.triage.extract.numbers import parse_number
from bot.triage.text import clean


def yen_in(text: str) -> list[int]:
    return [a.yen for a in find_amounts(clean(text))]


@pytest.mark.parametrize("text, yen", [
    ("３０万取られた", 300_000),
    ("300,000円", 300_000),
    ("三十万円で買った", 300_000),
    ("総額３万５千円", 35_000),
    ("金コ２００万払った", 2_000_000),
    ("8百万", 8_000_000),
    ("八百万円", 8_000_000),
    ("1億2000万", 120_000_000),
    ("1,500円", 1_500),
    ("１５,０００円", 15_000),
    ("５０まんえん", 500_000),
    ("約12万円課金", 120_000),
    ("ギフトカード３万円分", 30_000),
    ("2千万円", 20_000_000),
    ("一万円", 10_000),
    ("1.5万円", 15_000),
    ("月額９８００円", 9_800),
    ("¥5000", 5_000),
    ("仮想通貨を２００万分買った", 2_000_000),
    ("PDF1枚で298,000円😇", 298_000),
    ("８０万くらい使った", 800_000),
])
def test_amounts(text, yen):
    assert yen_in(text) == [yen]


def test_several_amounts_with_spans():
    text = clean("最初に５万円、次に１２万円、合計１７万円")
    found = find_amounts(text)
    assert [a.yen for a in found] == [50_000, 120_000, 170_000]
    assert [a.text for a in found] == ["5万円", "12万円", "17万円"]
    for a in found:
        assert text[a.start:a.end] == a.text


@pytest.mark.parametrize("text", [
    "５３歳の兄", "2026年", "090-1234-5678", "〒060-0001", "0600001", "3回払った", "4個目",
    "3か月", "11月20日", "11/20", "何十万も払った", "数万円", "十数万円", "10万人", "100万回再生",
    "5千", "十五年", "一人息子", "千葉県", "万一のとき", "40代", "１/１０", "3万ドル",
])
def test_not_amounts(text):
    assert yen_in(text) == []


@pytest.mark.parametrize("text, value", [
    ("三十", 30), ("十一", 11), ("二十", 20), ("二〇二六", 2026), ("一〇〇万", 1_000_000),
    ("3万5千", 35_000), ("1億2000万", 120_000_000), ("1,500", 1_500), ("千", 1_000),
])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "万", "1.2.3", "abc", "1.5", "9" * 100])
def test_parse_number_rejects(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("text", ["9" * 10_000 + "円", "万" * 5000, "1," * 3000 + "円", "\x00円"])
def test_never_crashes(text):
    assert isinstance(find_amounts(text), list)
