"""extract(): all extractors together, on real messages and on arbitrary text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.triage.extract import Gazetteer, extract, find_signer
from bot.triage.loader import load_gazetteer
from bot.triage.facts import Facts
from bot.triage.text import clean

TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return load_gazetteer()


def test_one_message_all_facts(gaz):
    text = clean("横浜市港北区です。屋根の点検で、その日のうちに８０万の工事契約しちゃった。３日前。"
                 "私も７５で、息子（４０）はひきこもりです")
    facts = extract(text, TODAY, gaz)
    assert facts.area.code == "14109"
    assert [(d.text, d.date) for d in facts.dates] == [("3日前", date(2026, 11, 22))]
    assert [a.yen for a in facts.amounts] == [800_000]
    assert [(a.low, a.writer) for a in facts.ages] == [(75, True), (40, False)]
    assert facts.signer == "family"
    assert find_signer(text) == ("family", "契約")     # the words read as signing (not kept in Facts)


def test_nothing_to_find(gaz):
    assert extract("おやすみなさい", TODAY, gaz) == Facts()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_never_raises_on_arbitrary_text(gaz, text):
    for candidate in (text, clean(text)):
        assert isinstance(extract(candidate, TODAY, gaz), Facts)


_JA = st.sampled_from(list("0123456789〒-ー/年月日歳代前万億円千百十一二三四五の私母息子が契約払"
                           "東京大阪府市区町村北中央横浜港北松本長野県(),、。 "))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_JA, max_size=80).map("".join))
def test_never_raises_on_dense_japanese_fragments(gaz, text):
    facts = extract(text, TODAY, gaz)
    for mention in (*facts.dates, *facts.amounts, *facts.ages):
        assert text[mention.start:mention.end] == mention.text
    assert all(0 <= a.low <= a.high <= 120 for a in facts.ages)
    assert all(a.yen > 0 for a in facts.amounts)
