"""Measure routing: intent examples as tests, and labelled case files (eval/README.md rules)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from .triage.engine import Triage

EMERGENCY_IDS = ("emergency_110", "emergency_119")


def routed_ok(primary: str | None, required: Iterable[str], urgency: str, contacts: list[str],
              decided_urgency: str) -> bool:
    """The eval README's rule for one case."""
    if not all(r in contacts for r in required):
        return False
    if primary is None:
        return decided_urgency != "emergency"
    if not contacts:
        return False
    if primary in EMERGENCY_IDS:
        return contacts[0] in EMERGENCY_IDS
    return contacts[0] == primary


@dataclass
class CaseMetrics:
    total: int = 0
    routed: int = 0
    emergencies: int = 0
    emergencies_caught: int = 0
    others: int = 0
    false_emergencies: int = 0
    failures: list[dict] = field(default_factory=list)

    @property
    def routing(self) -> float:
        return self.routed / self.total if self.total else 0.0

    @property
    def recall(self) -> float:
        return self.emergencies_caught / self.emergencies if self.emergencies else 1.0

    @property
    def false_rate(self) -> float:
        return self.false_emergencies / self.others if self.others else 0.0

    def summary(self) -> str:
        return (f"routing {self.routed}/{self.total} = {self.routing:.1%}; "
                f"emergency recall {self.emergencies_caught}/{self.emergencies} = {self.recall:.1%}; "
                f"false emergencies {self.false_emergencies}/{self.others} = {self.false_rate:.1%}")


def read_cases(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score_cases(triage: Triage, cases: list[dict], now: datetime) -> CaseMetrics:
    m = CaseMetrics()
    for case in cases:
        d = triage.decide(case["text"], now=now)
        contacts = list(d.contacts)
        ok = routed_ok(case.get("primary"), case.get("required", []), case["urgency"], contacts, d.urgency)
        m.total += 1
        m.routed += ok
        if case["urgency"] == "emergency":
            m.emergencies += 1
            m.emergencies_caught += d.urgency == "emergency"
        else:
            m.others += 1
            m.false_emergencies += d.urgency == "emergency"
        if not ok or (case["urgency"] == "emergency") != (d.urgency == "emergency"):
            m.failures.append({"id": case.get("id"), "text": case["text"], "want": case.get("primary"),
                               "required": case.get("required", []), "want_urgency": case["urgency"],
                               "got": contacts, "urgency": d.urgency, "intent": d.intent})
    return m


def cases_report(triage: Triage, path: str, now: datetime, echo: Callable[[str], None]) -> CaseMetrics:
    m = score_cases(triage, read_cases(path), now)
    for f in m.failures:
        echo(f"✗ {f['id']}: want {f['want']} {f['required']} ({f['want_urgency']}) "
             f"got {f['got']} ({f['urgency']}, {f['intent']})\n    {f['text'][:90]}")
    echo(m.summary())
    return m


@dataclass
class ExampleResult:
    intent: str
    total: int = 0
    correct: int = 0
    confused: Counter = field(default_factory=Counter)
    counter_total: int = 0
    counter_wrong: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, text, got)


def example_ok(intent, decision) -> bool:
    """An example routes to its intent; a danger example only needs to raise that emergency (any
    emergency intent may lead, 110 or 119 first), a modifier example only needs to join in."""
    if intent.spec.danger is not None:
        return decision.urgency == "emergency" and intent.id in decision.fired
    if intent.spec.modifier:
        return intent.id in decision.fired
    return decision.intent == intent.id


def counter_hit(intent, decision) -> bool:
    """A counter-example wrongly lands on its intent (for danger intents: raises it as an emergency)."""
    if intent.spec.danger is not None:
        return decision.urgency == "emergency" and intent.id in decision.fired
    if intent.spec.modifier:
        return intent.id in decision.fired
    return decision.intent == intent.id


def run_examples(triage: Triage, now: datetime) -> dict[str, ExampleResult]:
    results: dict[str, ExampleResult] = {}
    for intent in triage.intents.values():
        r = results.setdefault(intent.id, ExampleResult(intent.id))
        for text in intent.spec.examples:
            d = triage.decide(text, now=now)
            r.total += 1
            if example_ok(intent, d):
                r.correct += 1
            else:
                r.confused[d.intent] += 1
                r.misses.append(("example", text, d.intent))
        for text in intent.spec.counter_examples:
            d = triage.decide(text, now=now)
            r.counter_total += 1
            if counter_hit(intent, d):
                r.counter_wrong += 1
                r.misses.append(("counter", text, d.intent))
    return results


def examples_report(triage: Triage, now: datetime, echo: Callable[[str], None]) -> bool:
    results = run_examples(triage, now)
    width = max(len(i) for i in results) + 2
    echo(f"{'intent':<{width}} {'examples':>9} {'counter':>8}  confused with")
    all_ok = True
    pairs: Counter = Counter()
    for iid, r in results.items():
        bad = r.total - r.correct + r.counter_wrong
        all_ok &= bad == 0
        mark = "✓" if bad == 0 else "✗"
        conf = ", ".join(f"{k}×{v}" for k, v in r.confused.most_common())
        echo(f"{iid:<{width}} {r.correct:>4}/{r.total:<4} {r.counter_total - r.counter_wrong:>3}/{r.counter_total:<4}"
             f" {mark} {conf}")
        for other, n in r.confused.items():
            pairs[(iid, other)] += n
    missed = [(iid, m) for iid, r in results.items() for m in r.misses]
    if missed:
        echo("\nMisrouted:")
        for iid, (kind, text, got) in missed:
            arrow = "example of" if kind == "example" else "counter-example routed to"
            echo(f"  [{arrow} {iid}] → {got}: {text}")
    if pairs:
        echo("\nMost confused pairs:")
        for (a, b), n in pairs.most_common(10):
            echo(f"  {a} → {b}: {n}")
    total = sum(r.total for r in results.values())
    correct = sum(r.correct for r in results.values())
    echo(f"\n{correct}/{total} examples route to their own intent; "
         f"{sum(r.counter_wrong for r in results.values())} counter-example(s) route to the intent they must avoid.")
    return all_ok
