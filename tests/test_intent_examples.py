"""What the intents' examples teach, measured on sentences the model did not learn.

Examples are training data now: each intent's examples are cross-validated (5-fold, through the
whole triage: keywords, danger rules and a model trained without the held-out fold).  Danger
examples are different: they must be emergencies with the shipped model, always.
"""

from __future__ import annotations

import pytest

from bot.evaluate import WEAK_ACCURACY, counter_hit, cross_validate, danger_misses
from tests.conftest import NOW


@pytest.fixture(scope="module")
def folds(triage):
    return cross_validate(triage, NOW)


def test_every_danger_example_is_an_emergency(triage):
    assert danger_misses(triage, NOW) == []


def test_no_danger_counter_example_is_an_emergency(triage):
    wrong = [(i.id, t) for i in triage.intents.values() if i.spec.danger is not None
             for t in i.spec.counter_examples if counter_hit(i, triage.decide(t, now=NOW))]
    assert wrong == []


def test_examples_teach_each_worry(triage, folds):
    """Every worry with enough examples recognises most of its examples when they were left out of
    training (a weak intent needs more, or more varied, examples).  Safety nets (``generic``) and
    small talk (rule info and below) are what is left when nothing else fits: they are not held to it."""
    order = triage._k.policy.order
    weak = {iid: f"{r.correct}/{r.total}" for iid, r in folds.items()
            if r.total >= 12 and triage.intents[iid].spec.danger is None and not triage.intents[iid].spec.generic
            and order[triage.intents[iid].rule] < order["info"] and r.accuracy < WEAK_ACCURACY}
    assert weak == {}


def test_cross_validated_accuracy_over_all_examples(folds):
    total = sum(r.total for r in folds.values())
    correct = sum(r.correct for r in folds.values())
    assert total > 1500
    assert correct / total >= 0.85


def test_counter_examples_mostly_stay_away(triage, folds):
    """Counter-examples are negatives in training; almost none may still land on their intent."""
    total = sum(r.counter_total for r in folds.values())
    wrong = sum(r.counter_wrong for r in folds.values())
    assert total > 300
    assert wrong / total <= 0.03


def test_every_intent_file_has_enough_real_examples(triage):
    for intent in triage.intents.values():
        if intent.id in ("empty_message", "fallback"):
            continue
        assert len(intent.spec.examples) >= 12, intent.id
