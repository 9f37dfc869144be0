"""Examples-as-tests: every example routes to its own intent, no counter-example does."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.evaluate import counter_hit, example_ok
from bot.knowledge import load
from tests.conftest import NOW

_triage = load(Settings.from_env({})).triage
EXAMPLES = [(i.id, t) for i in _triage.intents.values() for t in i.spec.examples]
COUNTERS = [(i.id, t) for i in _triage.intents.values() for t in i.spec.counter_examples]


@pytest.mark.parametrize(("intent", "text"), EXAMPLES, ids=[f"{i}:{n}" for n, (i, _) in enumerate(EXAMPLES)])
def test_example_routes_to_its_intent(intent, text):
    decision = _triage.decide(text, now=NOW)
    assert example_ok(_triage.intents[intent], decision), \
        f"{text!r} -> {decision.intent} {decision.urgency} (scores {decision.scores})"


@pytest.mark.parametrize(("intent", "text"), COUNTERS, ids=[f"{i}:{n}" for n, (i, _) in enumerate(COUNTERS)])
def test_counter_example_avoids_its_intent(intent, text):
    decision = _triage.decide(text, now=NOW)
    assert not counter_hit(_triage.intents[intent], decision), f"{text!r} must not route to {intent}"


def test_every_intent_file_has_enough_real_examples():
    for intent in _triage.intents.values():
        if intent.id in ("empty_message", "fallback"):
            continue
        assert len(intent.spec.examples) >= 12, intent.id


def test_danger_examples_are_emergencies_and_counters_are_not():
    for intent in _triage.intents.values():
        if intent.spec.danger is None:
            continue
        for text in intent.spec.examples:
            assert _triage.decide(text, now=NOW).urgency == "emergency", text
        for text in intent.spec.counter_examples:
            assert _triage.decide(text, now=NOW).urgency != "emergency", text
