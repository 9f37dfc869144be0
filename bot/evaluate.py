"""Measure routing: intent examples as tests, and labelled case files (eval/README.md rules)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from .triage import EMERGENCY_IDS, FOLDS, Triage, train


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


@dataclass(frozen=True)
class LengthSummary:
    """The length distribution of the family's reply text (characters) over some messages."""

    count: int
    minimum: int
    median: float
    p90: float
    p95: float
    maximum: int
    over_400: float          # share of replies longer than 400 characters

    @classmethod
    def of(cls, lengths: Iterable[int]) -> LengthSummary:
        values = sorted(lengths)
        if not values:
            return cls(0, 0, 0.0, 0.0, 0.0, 0, 0.0)
        return cls(len(values), values[0], percentile(values, 50), percentile(values, 90), percentile(values, 95),
                   values[-1], sum(v > 400 for v in values) / len(values))

    def line(self) -> str:
        return (f"n={self.count:4d}  min {self.minimum:4d}  median {self.median:6.1f}  p90 {self.p90:6.1f}  "
                f"p95 {self.p95:6.1f}  max {self.maximum:4d}  >400 {self.over_400:5.1%}")


def percentile(values: list[int], pct: float) -> float:
    """Linear-interpolated percentile of sorted ``values`` (numpy's default method)."""
    if not values:
        return 0.0
    rank = (len(values) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def reply_lengths(triage: Triage, cases: Iterable[dict], now: datetime) -> list[tuple[int, str, str]]:
    """(length of the family's reply text, case id, intent) for every case: the text bubble of a
    first message (the windows are in the tap-to-call card, not counted here)."""
    out = []
    for case in cases:
        d = triage.decide(case["text"], now=now)
        out.append((len(d.reply), str(case.get("id", "")), d.intent))
    return out


@dataclass
class ExampleResult:
    intent: str
    total: int = 0
    correct: int = 0
    confused: Counter = field(default_factory=Counter)
    counter_total: int = 0
    counter_wrong: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, text, got)
    similarity: float = 0.0   # mean word overlap between the intent's examples (0: all different)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 1.0


def example_ok(intent, decision) -> bool:
    """An example routes to its intent; a danger example only needs to be an emergency that raises
    this intent or puts its number first (a suicide attempt read as a suicide plan still calls 119),
    a modifier example only needs to join in."""
    if intent.spec.danger is not None:
        first = intent.spec.contacts[0] if intent.spec.contacts else None
        return decision.urgency == "emergency" and (
            intent.id in decision.fired or bool(decision.contacts) and decision.contacts[0] == first)
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


def _fold_of(triage: Triage, folds: int) -> dict[tuple[str, int], int]:
    """Stratified, deterministic folds: the n-th example of each intent goes to fold n % folds."""
    return {(intent.id, n): n % folds for intent in triage.intents.values()
            for n in range(len(intent.spec.examples))}


def cross_validate(triage: Triage, now: datetime, folds: int = FOLDS) -> dict[str, ExampleResult]:
    """k-fold cross-validation through the whole triage: each example is decided by a triage whose
    model never saw it (keywords and danger rules as they are).  Counter-examples are checked
    against the full model.  This is how well an intent recognises sentences nobody wrote yet."""
    fold_of = _fold_of(triage, folds)
    results: dict[str, ExampleResult] = {iid: ExampleResult(iid) for iid in triage.intents}
    for f in range(folds):
        held = {(s.intent, s.text) for s, k in zip(_positives(triage), _fold_keys(triage)) if fold_of[k] == f}
        if not held:
            continue
        rest = [s for s in triage.samples if s.counter or (s.intent, s.text) not in held]
        fold = triage.with_model(train(rest))
        for intent in triage.intents.values():
            for n, text in enumerate(intent.spec.examples):
                if fold_of[(intent.id, n)] != f:
                    continue
                d = fold.decide(text, now=now)
                r = results[intent.id]
                r.total += 1
                if example_ok(intent, d):
                    r.correct += 1
                else:
                    r.confused[d.intent] += 1
                    r.misses.append(("example", text, d.intent))
    for intent in triage.intents.values():
        r = results[intent.id]
        for text in intent.spec.counter_examples:
            d = triage.decide(text, now=now)
            r.counter_total += 1
            if counter_hit(intent, d):
                r.counter_wrong += 1
                r.misses.append(("counter", text, d.intent))
        r.similarity = similarity(triage, intent.spec.examples)
    return results


def danger_misses(triage: Triage, now: datetime) -> list[tuple[str, str]]:
    """Danger examples the full triage does not decide as that emergency: these must always win."""
    return [(intent.id, text) for intent in triage.intents.values() if intent.spec.danger is not None
            for text in intent.spec.examples if not example_ok(intent, triage.decide(text, now=now))]


def _positives(triage: Triage):
    return [s for s in triage.samples if not s.counter]


def _fold_keys(triage: Triage) -> list[tuple[str, int]]:
    """(intent, example number) of each positive sample, in the order of ``triage.samples``."""
    seen: Counter = Counter()
    keys = []
    for s in _positives(triage):
        keys.append((s.intent, seen[s.intent]))
        seen[s.intent] += 1
    return keys


def similarity(triage: Triage, texts: list[str]) -> float:
    """Mean pairwise overlap (Jaccard) of the examples' content words: near 1 = all alike."""
    keys = [frozenset(k for k in triage.tokenizer.keys(t)) for t in texts]
    keys = [k for k in keys if k]
    pairs = [(a, b) for i, a in enumerate(keys) for b in keys[i + 1:]]
    if not pairs:
        return 0.0
    return sum(len(a & b) / len(a | b) for a, b in pairs) / len(pairs)


#: Below this cross-validated accuracy an intent is flagged (its examples do not teach it well).
WEAK_ACCURACY = 0.6
#: Above this mean overlap the examples are flagged as too alike (they teach one phrasing).
ALIKE = 0.4


def examples_report(triage: Triage, now: datetime, echo: Callable[[str], None], folds: int = FOLDS) -> bool:
    """Per-intent table of cross-validated accuracy; True when no danger example is missed and no
    counter-example lands on its intent."""
    results = cross_validate(triage, now, folds)
    missed = danger_misses(triage, now)
    width = max(len(i) for i in results) + 2
    echo(f"{folds}-fold cross-validation: each example decided by a model that did not learn it.")
    echo(f"{'intent':<{width}} {'examples':>9} {'counter':>8}  confused with")
    all_ok = True
    pairs: Counter = Counter()
    for iid, r in results.items():
        intent = triage.intents[iid]
        danger = intent.spec.danger is not None
        bad = sum(1 for iid2, _ in missed if iid2 == iid) + (r.counter_wrong if danger else 0)
        all_ok &= bad == 0
        weak = r.total and r.accuracy < WEAK_ACCURACY
        mark = "✗" if bad else ("△" if weak or r.similarity > ALIKE or r.counter_wrong else "✓")
        conf = ", ".join(f"{k}×{v}" for k, v in r.confused.most_common())
        echo(f"{iid:<{width}} {r.correct:>4}/{r.total:<4} {r.counter_total - r.counter_wrong:>3}/{r.counter_total:<4}"
             f" {mark} {conf}")
        for other, n in r.confused.items():
            pairs[(iid, other)] += n
    if missed:
        echo("\nDanger examples that are not emergencies (they must always be):")
        for iid, text in missed:
            echo(f"  [{iid}] {text}")
    misrouted = [(iid, m) for iid, r in results.items() for m in r.misses]
    if misrouted:
        echo("\nMisrouted:")
        for iid, (kind, text, got) in misrouted:
            arrow = "example of" if kind == "example" else "counter-example routed to"
            echo(f"  [{arrow} {iid}] → {got}: {text}")
    if pairs:
        echo("\nMost confused pairs:")
        for (a, b), n in pairs.most_common(10):
            echo(f"  {a} → {b}: {n}")
    total = sum(r.total for r in results.values())
    correct = sum(r.correct for r in results.values())
    echo(f"\n{correct}/{total} examples ({correct / max(total, 1):.1%}) route to their own intent when left out of "
         f"training; {sum(r.counter_wrong for r in results.values())} counter-example(s) route to the intent "
         "they must avoid. ✗: a danger example not an emergency, or a danger counter-example that is one; △: a counter-example hit, weak (< "
         f"{WEAK_ACCURACY:.0%}) or examples too alike (> {ALIKE:.0%} overlap).")
    return all_ok
