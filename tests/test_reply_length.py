"""Replies sized for a phone (issue 10): over every labelled set, the family's text stays short;
the windows are in the tap-to-call card below it, not listed in the text.

bench/reply_length.py prints the same distribution per set.
"""

from __future__ import annotations

import pytest

from bot.channels.line.messages import build_messages
from bot.evaluate import LengthSummary, percentile, read_cases, reply_lengths
from tests.conftest import DATA, NOW

#: Goals over all labelled sets (characters of the reply text).
MEDIAN_MAX = 250
P95_MAX = 400
LONGEST = 600


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    files = sorted(DATA.glob("*.jsonl"))
    assert len(files) >= 5, "the labelled sets are missing"
    return [case for path in files for case in read_cases(path)]


@pytest.fixture(scope="module")
def lengths(triage, cases) -> list[tuple[int, str, str]]:
    return reply_lengths(triage, cases, NOW)


def test_no_reply_is_longer_than_a_phone_screen(lengths):
    too_long = [(n, case_id, intent) for n, case_id, intent in lengths if n > LONGEST]
    assert too_long == []


def test_median_and_p95_goals(lengths):
    summary = LengthSummary.of(n for n, _, _ in lengths)
    assert summary.count > 1000
    assert summary.median <= MEDIAN_MAX, summary.line()
    assert summary.p95 <= P95_MAX, summary.line()


def test_the_text_lists_no_windows_the_card_has_them(triage, conversation, cases):
    """A window's number is in the card (with its button), never repeated as a list in the text."""
    for case in cases[::7]:
        d = triage.decide(case["text"], now=NOW)
        assert "☎" not in d.reply, case["id"]
        numbers = [w.phone.display for w in d.windows if w.phone]
        if not numbers:
            continue
        messages = build_messages(conversation.reply_to(d, case["text"], NOW), conversation.texts)
        card = next(m for m in messages if m["type"] == "flex")
        body = str(card["contents"])
        assert all(number in body for number in numbers), case["id"]
        for number in numbers:
            if len(number) > 5:          # short codes (110, 188, #9110) may be named in the advice
                assert number not in d.reply, (case["id"], number)


def test_percentile_and_summary():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 95) == 10
    s = LengthSummary.of([100, 200, 300, 500, 700])
    assert (s.minimum, s.median, s.maximum) == (100, 300, 700)
    assert s.over_400 == pytest.approx(0.4)
