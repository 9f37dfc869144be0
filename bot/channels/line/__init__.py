"""The LINE channel: families write on LINE (parse: :mod:`.webhook`, render: :mod:`.messages`,
send: :mod:`.send`); what is said back is the family conversation (:mod:`bot.channels.family`).

Switched off, with a log line, unless ``LINE_CHANNEL_SECRET`` and ``LINE_CHANNEL_ACCESS_TOKEN`` are set.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime

from flask import Blueprint
from linebot.v3.webhook import SignatureValidator

from ...conversation import ConversationTexts, Turn
from ...storage import Claimed, Delivery, Outgoing
from ...worker import Processed
from ..base import Context, Outcome, inbox_blueprint
from ..family import FamilyProcessor
from .messages import build_messages
from .send import LineSender
from .webhook import parse, source_id

log = logging.getLogger("tsunagu.line")

NAME = "line"
RETRY_KEY_NAMESPACE = uuid.UUID("6f1d9e0e-2f4a-5b7c-9d3e-7a1b2c3d4e5f")

__all__ = ["LineChannel", "build", "retry_key"]


def retry_key(event_id: str, seq: int = 0) -> str:
    """The ``X-Line-Retry-Key`` of an answer: derived from the event, identical on every retry."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{event_id}/{seq}"))


class LineChannel:
    """LINE as a :class:`~bot.channels.base.Channel` (and the platform parts of the family conversation)."""

    name = NAME

    def __init__(self, ctx: Context):
        settings = ctx.settings
        self._ctx = ctx
        self._validator = SignatureValidator(settings.line_channel_secret)
        self._processor = FamilyProcessor(self, ctx.live.conversation, ctx.store, ctx.escalation)
        self._sender = LineSender(settings.line_api_base_url, settings.line_channel_access_token, ctx.store,
                                  timeout=settings.line_timeout)

    # -- the Channel interface ------------------------------------------------------------------
    def blueprint(self) -> Blueprint:
        return inbox_blueprint(NAME, "/line/webhook", self._parse, self._ctx.store, self._ctx.wake)

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        return self._processor.process(claimed, now)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        return self._processor.fallback(claimed)

    def send(self, delivery: Delivery) -> Outcome:
        return self._sender.send(delivery)

    # -- the family conversation's platform parts ---------------------------------------------------
    def content(self, claimed: Claimed) -> str:
        message = claimed.payload.get("message") or {}
        field = "address" if claimed.kind == "message:location" else "text"
        return str(message.get(field) or "")

    def render(self, turn: Turn, texts: ConversationTexts) -> list[dict]:
        return build_messages(turn, texts)

    def address(self, claimed: Claimed, messages: list[dict]) -> Outgoing:
        """Reply with the event's token while it is fresh, else push to its source (bot/channels/line/send.py)."""
        event = claimed.payload
        return Outgoing(channel=NAME, user_hash=claimed.user_hash, to_id=source_id(event),
                        reply_token=event.get("replyToken"), messages=messages,
                        retry_key=retry_key(claimed.event_id), event_ts=claimed.event_ts)

    def _parse(self):
        return parse(self._validator, self._ctx.store, time.time() - self._ctx.settings.replay_window)


def build(ctx: Context) -> LineChannel | None:
    """The LINE channel, or None (logged) when its secrets are not set."""
    if not ctx.settings.line_enabled:
        log.warning("LINE is off: LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN are not both set")
        return None
    return LineChannel(ctx)
