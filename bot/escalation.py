"""Telling staff about a case a family agreed to share, from whichever channel the family used.

The conversation asks for consent (:mod:`bot.conversation`); once a family says yes, the turn
carries the (masked) case.  :meth:`Escalation.escalate` gives it a case number the family and
staff can both quote, puts that number into the family's thanks, and builds the staff alert as an
outbox row of the staff channel — written in the same transaction as the family's answer and the
case row (``Store.complete``), so the alert is sent exactly once, with retries, like any answer.

The staff channel registers how its alerts look (:meth:`Escalation.route`; today Slack, with
``SLACK_ESCALATION_CHANNEL``).  With none registered, consent is still recorded but no alert goes
out (the conversation only asks when staff are set up: ``bot.live.build``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from .conversation import Turn
from .storage import Outgoing
from .triage import fill

#: Builds the staff alert for one case: (case, when the family wrote) → an outbox row.
Alert = Callable[[dict, float], Outgoing]

_CASE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I: read out over the phone


@dataclass(frozen=True)
class Escalated:
    """A turn after escalation: the family's turn (with its case number), the case, the alert rows."""

    turn: Turn
    case: dict | None = None
    alerts: tuple[Outgoing, ...] = ()


def case_number(event_id: str, now: datetime) -> str:
    """A short case number staff and the family can quote: date + 4 characters from the event.

    Derived from the event, so a retried event gets the same number (and the same alert key).
    """
    digest = hashlib.sha256(event_id.encode()).digest()
    code = "".join(_CASE_ALPHABET[b % len(_CASE_ALPHABET)] for b in digest[:4])
    return f"{now:%m%d}-{code}"


class Escalation:
    """The one way a channel's processing raises a case to staff."""

    def __init__(self, alert: Alert | None = None):
        self._alert = alert

    def route(self, alert: Alert) -> None:
        """Send alerts with ``alert`` (called by the staff channel when it is built)."""
        self._alert = alert

    @property
    def enabled(self) -> bool:
        return self._alert is not None

    def escalate(self, turn: Turn, event_id: str, event_ts: float, now: datetime) -> Escalated:
        """The case of ``turn`` (if the family just consented and staff are set up), numbered and alerted."""
        if turn.escalation is None or self._alert is None:
            return Escalated(turn)
        case = {**turn.escalation, "case_no": case_number(event_id, now)}
        thanks = fill(turn.text, {"case_no": case["case_no"]}) or turn.text
        return Escalated(replace(turn, text=thanks), case, (self._alert(case, event_ts),))
