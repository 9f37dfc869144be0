"""Routing quality on the labelled sets; prints the figures the issue asks for.

dev_cases.jsonl is the project's development set (../shared/eval). The others were written
independently of the intent files to measure generalisation: holdout (in the dev style),
blind and blind2 (deliberately harder: everyday words instead of the textbook terms, new
scam variants, heavy dialect), blind3 (in the dev style again, written late in the work). The intent files were tuned with all of them in view, so they
are regression guards here; README reports how each scored before it was looked at.
"""

from __future__ import annotations

import pytest

from bot.evaluate import read_cases, score_cases
from tests.conftest import DATA, NOW

#: (file, minimum routing share, minimum emergency recall, maximum false-emergency share)
BARS = [
    ("dev_cases.jsonl", 0.95, 1.0, 0.02),
    ("holdout_cases.jsonl", 0.95, 1.0, 0.02),
    ("blind_cases.jsonl", 0.93, 1.0, 0.02),
    ("blind2_cases.jsonl", 0.93, 1.0, 0.02),
    ("blind3_cases.jsonl", 0.95, 1.0, 0.02),
    # written for issue 9 in the style of real accounts (consumer-center reports, news, Q&A boards)
    ("blind4a_cases.jsonl", 0.93, 1.0, 0.01),
    ("blind4b_cases.jsonl", 0.90, 1.0, 0.01),
    # danger now vs past, someone else's story, negation, hypotheticals (the held-out half)
    ("danger_cases.jsonl", 0.85, 0.98, 0.01),
]


@pytest.mark.parametrize(("name", "routing", "recall", "false_rate"), BARS, ids=[b[0] for b in BARS])
def test_routing_figures(triage, name, routing, recall, false_rate, capsys):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{name} not present")
    m = score_cases(triage, read_cases(path), NOW)
    with capsys.disabled():
        print(f"\n[{name}] {m.summary()}")
        for f in m.failures:
            print(f"  ✗ {f['id']}: want {f['want']} {f['required']} ({f['want_urgency']}) "
                  f"got {f['got']} ({f['urgency']}) {f['text'][:60]}")
    assert m.routing >= routing
    assert m.recall >= recall
    assert m.false_rate <= false_rate
