"""What every channel is: the contract between one chat platform and the one pipeline.

A message goes inbox → triage → render → outbox whatever its platform (see docs/architecture.md).
A channel supplies only the platform's edges:

- **parse**: verify an incoming request and turn it into :class:`~bot.store.InboxEvent` rows
  (:meth:`Channel.blueprint` mounts the route; :func:`inbox_blueprint` is the whole route for a
  platform that only needs a ``parse()`` of the current request);
- **render**: turn what to answer into the platform's messages (inside :meth:`Channel.process`,
  usually through :class:`bot.channels.family.FamilyProcessor`);
- **send**: deliver one outbox row and say how it went (:meth:`Channel.send` → :class:`Outcome`).

Channels are listed once, in :data:`bot.channels.registry.CHANNELS`; the web app mounts each one's
blueprint and the worker routes stored events and answers by :attr:`Channel.name`.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Protocol

from flask import Blueprint, Response

from .. import metrics
from ..request_body import BadBody
from ..storage import Claimed, Delivery, InboxEvent, Outgoing, Store
from ..worker import Processed

if TYPE_CHECKING:   # the web app's objects: a channel is built from them, it never builds them
    from ..config import Settings
    from ..escalation import Escalation
    from ..live import Live

#: Keep retrying a platform that fails (5xx, 429, timeouts) until the answer is this old: LINE
#: keeps an X-Line-Retry-Key for 24 hours, and a late answer with the right number is better
#: than none.  The attempt cap only stops a loop that something else got wrong (at most one
#: attempt a minute, see backoff()).  Given-up answers show in metrics and logs.
MAX_AGE = 24 * 3600.0
MAX_ATTEMPTS = 2000


@dataclass(frozen=True)
class Outcome:
    """How one delivery attempt went (the worker counts it; the sender already updated the row)."""

    status: str          # delivered | retry | failed
    kind: str            # reply | push | post …: the platform call that was made
    detail: str = ""
    retry_at: float = 0.0
    in_doubt: bool = False   # a timeout: the call may have reached the platform


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait before the next attempt (exponential with jitter, capped)."""
    base = min(60.0, 0.5 * (2 ** max(0, attempts - 1)))
    wait = base * (0.75 + random.random() * 0.5)
    return max(wait, retry_after or 0.0)


@dataclass(frozen=True)
class Context:
    """What the web app gives every channel it builds (one per app, shared)."""

    settings: Settings
    store: Store
    live: Live
    wake: Callable[[], None]          # tell the worker that an event was stored
    clock: Callable[[], datetime]     # now, in the configured time zone
    escalation: Escalation            # where a family's consented case goes (any channel may raise one)


class Channel(Protocol):
    """One platform, as the web app and the worker see it."""

    #: The ``channel`` of its inbox events and outbox rows (``line``, ``slack`` …), and its route prefix.
    name: str

    def blueprint(self) -> Blueprint | None:
        """The routes that verify and parse the platform's requests into the inbox (None: no HTTP)."""

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        """One stored event → the rendered answers to send (and the session change)."""

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        """The safe answer when processing keeps failing: nothing is ever left unanswered."""

    def send(self, delivery: Delivery) -> Outcome:
        """Deliver one outbox row; record the result on the row (delivered, retry later, given up)."""


#: A registry entry: builds the channel, or returns None (with a log line saying why) when its
#: settings are missing, so that the other channels keep working.
Factory = Callable[[Context], "Channel | None"]


def inbox_blueprint(name: str, path: str, parse: Callable[[], list[InboxEvent]], store: Store,
                    wake: Callable[[], None]) -> Blueprint:
    """A webhook route that needs nothing but ``parse``: parsed events are stored, then 200.

    ``parse`` reads the current request, verifies it and returns the events to store, or raises
    :class:`~bot.request_body.BadBody` (answered with its fixed reason and status; nothing is
    stored).  The events are in the inbox (deduplicated on their ids) before the platform gets its
    200, so a crash after it loses nothing; the worker answers later.
    """
    bp = Blueprint(name, __name__)
    log = logging.getLogger(f"tsunagu.{name}")

    def webhook() -> Response:
        try:
            events = parse()
        except BadBody as refused:
            return _plain(refused.reason, refused.status)
        if events:
            fresh = store.accept(events)
            log.info("%s webhook: %d event(s), %d new", name, len(events), sum(fresh))
            if any(fresh):
                wake()
        return _plain("OK", 200)

    bp.add_url_rule(path, f"{name}_webhook", webhook, methods=["POST"])
    return bp


def refuse(name: str, label: str, reason: str, status: int = 400) -> BadBody:
    """A refused request: counted in ``tsunagu_webhook_events_refused_total``, to raise from ``parse``."""
    metrics.REFUSED.labels(name, label).inc()
    return BadBody(reason, status)


def _plain(text: str, status: int) -> Response:
    return Response(text, status=status, mimetype="text/plain")

