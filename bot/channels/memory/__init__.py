"""The memory channel: a family channel with no platform, for tests (as Errbot's test backend).

:class:`MemoryChat` feeds a text in and gives back what was sent, platform-neutral, after the
same pipeline as LINE: the event is stored in the inbox (a real store), claimed and processed by
the real :class:`~bot.worker.Worker` (the family conversation of :mod:`bot.channels.family`,
escalation included), rendered, written to the outbox, and "sent" by :meth:`MemoryChannel.send`,
which keeps the messages in memory.  No HTTP, no threads: :meth:`MemoryChat.say` drives the
worker by hand until nothing is left to do.

A rendered message is the turn without a platform's layout: ``kind``, ``text``, ``question``,
``topics`` (the quick-reply choices), ``ask_area``, ``ask_consent`` and ``decision`` (the
triage's public JSON, as ``tsunagu triage --json`` prints it; None for a turn without one).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Callable

from ...conversation import ConversationTexts, Turn
from ...escalation import Escalation
from ...live import Live
from ...storage import Claimed, Delivery, InboxEvent, Outgoing, Store
from ...worker import Processed, Worker
from ..base import Context, Outcome
from ..family import FamilyProcessor

NAME = "memory"

__all__ = ["MemoryChannel", "MemoryChat", "render"]


def render(turn: Turn, texts: ConversationTexts) -> list[dict]:
    """One platform-neutral message for a turn (``texts`` is unused: no platform words to add)."""
    d = turn.decision
    return [{"kind": turn.kind, "text": turn.text, "question": turn.question, "topics": list(turn.topics),
             "ask_area": turn.ask_area, "ask_consent": turn.ask_consent,
             "decision": d.to_json() if d is not None else None}]


class MemoryChannel:
    """A :class:`~bot.channels.base.Channel` whose platform is a list: what it sends is kept, per user."""

    name = NAME

    def __init__(self, ctx: Context):
        self._store = ctx.store
        self._processor = FamilyProcessor(self, ctx.live.conversation, ctx.store, ctx.escalation)
        #: raw user id → the messages delivered to them, oldest first
        self.sent: dict[str, list[dict]] = {}

    # -- parse: a text is the whole "request" -----------------------------------------------------
    def event(self, text: str, user: str, kind: str = "message:text") -> InboxEvent:
        """The inbox event of ``user`` saying ``text`` (an address, for ``message:location``)."""
        return InboxEvent(f"{NAME}:{uuid.uuid4()}", NAME, kind, self._store.user_hash(NAME, user), time.time(),
                          {"user": user, "text": text})

    # -- the Channel interface ------------------------------------------------------------------
    def blueprint(self) -> None:
        return None

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        return self._processor.process(claimed, now)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        return self._processor.fallback(claimed)

    def send(self, delivery: Delivery) -> Outcome:
        self.sent.setdefault(delivery.to_id or "", []).extend(delivery.messages or [])
        self._store.delivered(delivery, "memory", time.time())
        return Outcome("delivered", "memory")

    # -- the family conversation's platform parts ---------------------------------------------------
    def content(self, claimed: Claimed) -> str:
        return str(claimed.payload.get("text") or "")

    def render(self, turn: Turn, texts: ConversationTexts) -> list[dict]:
        return render(turn, texts)

    def address(self, claimed: Claimed, messages: list[dict]) -> Outgoing:
        return Outgoing(channel=NAME, user_hash=claimed.user_hash, to_id=claimed.payload.get("user"),
                        reply_token=None, messages=messages, retry_key=claimed.event_id,
                        event_ts=claimed.event_ts)


class MemoryChat:
    """Say something as a family, get back what the bot sent: the whole pipeline, driven by hand."""

    def __init__(self, store: Store, live: Live, *, escalation: Escalation | None = None,
                 clock: Callable[[], datetime] | None = None):
        settings = live.settings
        worker = Worker(store, {}, {}, timezone=settings.timezone, threads=0, clock=clock,
                        retention_seconds=settings.retention_days * 86400, max_attempts=settings.max_attempts)
        ctx = Context(settings, store, live, worker.wake, worker.clock, escalation or Escalation())
        self.channel = MemoryChannel(ctx)
        worker.processors[NAME] = worker.senders[NAME] = self.channel
        self.store, self.worker = store, worker

    def say(self, text: str, user: str = "family", kind: str = "message:text") -> list[dict]:
        """What ``user`` is sent after saying ``text`` (the memory channel's messages; other
        channels' rows, such as a staff alert, stay in the outbox for their own senders)."""
        before = len(self.channel.sent.get(user, []))
        self.store.accept([self.channel.event(text, user, kind)])
        self.settle()
        return self.channel.sent.get(user, [])[before:]

    def settle(self) -> None:
        """Run the worker until the memory channel has nothing left to process or send."""
        while self.worker.step(f"{self.worker.name}:memory"):
            pass
