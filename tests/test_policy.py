"""intents/_policy.yml: the routing rules (by name, in priority order) and the thresholds are data.

Edits to a copy of the shipped files show that the file really decides (rule order, thresholds),
that a wrong name is reported at its file:line with a hint, and that tuning the policy keeps the
trained model (the policy is no model input).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.triage import KnowledgeError, load
from tests.conftest import NOW

DEBT_AND_SALE = "訪問販売で高い布団を買わされて、支払いのために消費者金融3社から借金を重ねてしまいました"


@pytest.fixture
def copy(settings, tmp_path):
    shutil.copytree(settings.intents_dir, tmp_path / "intents")
    shutil.copytree(settings.responses_dir, tmp_path / "responses")
    return replace(settings, intents_dir=tmp_path / "intents", responses_dir=tmp_path / "responses")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def load_errors(settings) -> list:
    with pytest.raises(KnowledgeError) as exc:
        load(settings)
    return [i for i in exc.value.issues if i.severity == "error"]


def swap_rules(path: Path, first: str, second: str) -> None:
    """Move rule ``second`` (a block of the rules: list) right before rule ``first``."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"  - name: {second}\n")
    end = text.index("\n\n", start) + 2
    block, text = text[start:end], text[:start] + text[end:]
    at = text.index(f"  - name: {first}\n")
    path.write_text(text[:at] + block + text[at:], encoding="utf-8")


def test_every_shipped_intent_names_a_rule_of_the_policy(triage):
    order = triage._k.policy.order
    assert list(order)[:3] == ["danger_now", "staff_record", "suicidal_thoughts"]
    assert {i.rule for i in triage.intents.values()} <= set(order)
    assert all(i.rule == "danger_now" for i in triage.intents.values() if i.spec.danger is not None)


def test_the_rule_order_in_the_file_decides_which_worry_leads(triage, copy):
    """Two worries strongly present: the one whose rule comes first leads; reorder the file, the other leads."""
    d = triage.decide(DEBT_AND_SALE, now=NOW)
    assert {"houmon_hanbai", "debt"} <= set(d.fired)
    assert (d.intent, d.contacts[0]) == ("houmon_hanbai", "consumer_center")
    swap_rules(copy.intents_dir / "_policy.yml", "consumer", "debt")
    swapped = load(copy).triage.decide(DEBT_AND_SALE, now=NOW)
    assert (swapped.intent, swapped.contacts[0]) == ("debt", "legal_aid")


def test_thresholds_come_from_the_file(triage, copy):
    text = "訪問販売で布団を買わされたうえに、点検商法で屋根の工事も契約させられ、借金もあります"
    assert len(triage.decide(text, now=NOW).contacts) > 1
    edit(copy.intents_dir / "_policy.yml", "max_contacts: 5", "max_contacts: 1")
    assert len(load(copy).triage.decide(text, now=NOW).contacts) == 1


def test_an_unknown_rule_name_is_reported_at_its_line_with_the_names(copy):
    path = copy.intents_dir / "tenken.yml"
    edit(path, "rule: consumer", "rule: consumers")
    [issue] = [i for i in load_errors(copy) if "consumers" in i.message]
    assert issue.file == "intents/tenken.yml" and issue.line == line_of(path, "rule: consumers")
    assert "consumer" in issue.hint and "danger_now" in issue.hint


def test_a_rule_number_says_to_write_a_name(copy):
    path = copy.intents_dir / "tenken.yml"
    edit(path, "rule: consumer", "rule: 5")
    [issue] = [i for i in load_errors(copy) if i.file == "intents/tenken.yml"]
    assert issue.line == line_of(path, "rule: 5") and "name" in issue.message and "_policy.yml" in issue.message


def test_a_rule_listed_twice_and_an_unknown_life_rule_are_errors(copy):
    path = copy.intents_dir / "_policy.yml"
    edit(path, "  - name: school\n", "  - name: work\n")
    edit(path, "life_rule: suicidal_thoughts", "life_rule: suicide")
    errors = {i.message: i for i in load_errors(copy)}
    twice = next(i for m, i in errors.items() if "listed twice" in m)
    lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line == "  - name: work"]
    assert twice.file == "intents/_policy.yml" and twice.line == lines[1]   # the second one is reported
    life = next(i for m, i in errors.items() if "life_rule" in m)
    assert life.line == line_of(path, "life_rule: suicide") and "suicidal_thoughts" in life.hint


def test_a_missing_threshold_is_an_error_not_a_default(copy):
    path = copy.intents_dir / "_policy.yml"
    edit(path, "  confident: 0.9\n", "")
    assert any("confident" in i.message and i.file == "intents/_policy.yml" for i in load_errors(copy))


def test_routes_to_names_known_windows(copy):
    path = copy.intents_dir / "_policy.yml"
    edit(path, "routes_to: [legal_aid, police_consult]", "routes_to: [legal_aid, police]")
    [issue] = [i for i in load_errors(copy) if "'police'" in i.message]
    assert issue.line == line_of(path, "routes_to: [legal_aid, police]") and "police_consult" in issue.hint


def test_an_intent_leading_with_a_window_its_rule_does_not_route_to_is_warned(copy):
    path = copy.intents_dir / "tenken.yml"
    edit(path, "contacts: [consumer_center]", "contacts: [legal_aid, consumer_center]")
    loaded = load(copy)
    [issue] = [i for i in loaded.issues if i.file == "intents/tenken.yml" and "routes to" in i.message]
    assert issue.severity == "warning" and issue.line == line_of(path, "contacts: [legal_aid")


def test_tuning_the_policy_keeps_the_trained_model(copy, tmp_path):
    """The model cache key leaves _policy.yml out: a changed threshold never retrains, a changed example does."""
    settings = replace(copy, cache_dir=tmp_path / "cache")
    load(settings)
    models = sorted(p.name for p in settings.cache_dir.glob("model-*.npz"))
    assert len(models) == 1
    edit(copy.intents_dir / "_policy.yml", "confident: 0.9", "confident: 0.95")
    load(settings)
    assert sorted(p.name for p in settings.cache_dir.glob("model-*.npz")) == models
    edit(copy.intents_dir / "tenken.yml", "examples:\n", "examples:\n  - 屋根を無料で見ると言われ、見てもらったら修理を勧められました\n")
    load(settings)
    assert len(list(settings.cache_dir.glob("model-*.npz"))) == 2
