"""LINE channel: the webhook (verify, store, answer 200) and turning events into answers.

Webhook: the body is read with a limit (bot/request_body.py; chunked bodies too) and
``X-Line-Signature`` is checked on it before anything else (line-bot-sdk's
``SignatureValidator``); a missing or wrong signature, a body that is not UTF-8, not a JSON
object, nested too deeply, or too large gets 400/413 and nothing is stored.  Every event of
an accepted body is judged on its own (:func:`accept_events`) and written to the inbox
(deduplicated on ``webhookEventId``) before the 200 goes back; the worker answers later.

- A lone surrogate (JSON ``"\\ud800"``) is replaced by U+FFFD when the body is parsed: the
  event is stored and answered like any other (the triage drops the character), and the
  other events of the batch are not affected.
- Replays: an event whose ``timestamp`` is older than the replay window
  (``TSUNAGU_REPLAY_WINDOW``, shorter than the retention) is not stored, so a webhook
  replayed after the retention purge deleted its dedupe row is not answered again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from flask import Blueprint, Response, request
from linebot.v3.webhook import SignatureValidator

from .. import metrics
from ..conversation import Conversation, Turn
from ..storage import Claimed, InboxEvent, Outgoing, Store
from ..triage.render import fill
from ..request_body import BadBody, decode_utf8, parse_object, read_body
from ..worker import Processed
from .line_messages import build_messages

log = logging.getLogger("tsunagu.line")

#: LINE webhooks are small (a few KB); anything past this is refused with 413.
MAX_BODY = 1024 * 1024
RETRY_KEY_NAMESPACE = uuid.UUID("6f1d9e0e-2f4a-5b7c-9d3e-7a1b2c3d4e5f")
#: Default replay window (seconds): events older than this are refused (see bot/config.py).
REPLAY_WINDOW = 24 * 3600.0
NOT_TEXT = frozenset({"sticker", "image", "video", "audio", "file"})


def retry_key(event_id: str, seq: int = 0) -> str:
    """The ``X-Line-Retry-Key`` of an answer: derived from the event, identical on every retry."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, f"{event_id}/{seq}"))


@dataclass(frozen=True)
class LineConfig:
    channel_secret: str
    access_token: str
    api_base_url: str


def blueprint(config: LineConfig, store: Store, wake: Callable[[], None], *,
              replay_window: float = REPLAY_WINDOW, clock: Callable[[], float] = time.time) -> Blueprint:
    bp = Blueprint("line", __name__)
    validator = SignatureValidator(config.channel_secret)

    @bp.post("/line/webhook")
    def webhook() -> Response:
        try:
            text = decode_utf8(read_body(request, MAX_BODY))
        except BadBody as refused:
            return _plain(refused.reason, refused.status)
        signature = request.headers.get("X-Line-Signature")
        if not signature:
            return _plain("missing X-Line-Signature", 400)
        if not validator.validate(text, signature):
            log.warning("line webhook: bad signature")
            metrics.REFUSED.labels("line", "bad_signature").inc()
            return _plain("invalid signature", 400)
        try:
            payload = parse_object(text)
        except BadBody as refused:
            log.warning("line webhook: %s", refused.reason)
            return _plain(refused.reason, refused.status)
        if not isinstance(payload.get("events"), list):
            return _plain("no events list", 400)
        events = accept_events(payload["events"], store, clock() - replay_window)
        if events:
            fresh = store.accept(events)
            log.info("line webhook: %d event(s), %d new", len(events), sum(fresh))
            if any(fresh):
                wake()
        return _plain("OK", 200)

    return bp


def accept_events(raw_events: list, store: Store, oldest: float) -> list[InboxEvent]:
    """The events of one webhook to store, each judged on its own (one bad event never fails the batch).

    Refused, counted in ``tsunagu_webhook_events_refused_total`` and logged by reason only:
    an event that is not an object or has no millisecond ``timestamp`` (``malformed``), and one
    older than ``oldest`` (``stale``: a replay, possibly of an event whose dedupe row the
    retention purge already deleted).  LINE still gets its 200: redelivering cannot help.
    """
    events: list[InboxEvent] = []
    refused: dict[str, int] = {}
    for raw in raw_events:
        reason = _refusal(raw, oldest)
        if reason is None:
            try:
                events.append(inbox_event(raw, store))
            except (AttributeError, TypeError, ValueError) as exc:   # a field of the wrong type
                reason = f"malformed ({type(exc).__name__})"
        if reason is not None:
            label = reason.split(" ")[0]
            metrics.REFUSED.labels("line", label).inc()
            refused[reason] = refused.get(reason, 0) + 1
    for reason, count in refused.items():
        log.warning("line webhook: %d event(s) refused: %s", count, reason)
    return events


def _refusal(event: object, oldest: float) -> str | None:
    """Why ``event`` is not stored, or None to store it."""
    if not isinstance(event, dict):
        return "malformed (not an object)"
    timestamp = event.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or timestamp != timestamp:
        return "malformed (no timestamp)"
    if timestamp / 1000 < oldest:
        return "stale"
    return None


def _plain(text: str, status: int) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _source_id(event: dict) -> str | None:
    source = event.get("source")
    if not isinstance(source, dict):
        return None
    found = source.get("userId") or source.get("groupId") or source.get("roomId")
    return found if isinstance(found, str) else None


def inbox_event(event: dict, store: Store) -> InboxEvent:
    kind = str(event.get("type") or "unknown")
    if kind == "message":
        message = event.get("message")
        kind = f"message:{message.get('type', 'unknown') if isinstance(message, dict) else 'unknown'}"
    event_id = event.get("webhookEventId")
    if not isinstance(event_id, str) or not event_id:
        # LINE always sends one; without it, the event's own bytes are the next best key
        event_id = "sha:" + hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:32]
    source = _source_id(event)
    timestamp = event.get("timestamp")
    event_ts = timestamp / 1000 if isinstance(timestamp, (int, float)) else 0.0
    redelivery = bool((event.get("deliveryContext") or {}).get("isRedelivery"))
    return InboxEvent(f"line:{event_id}", "line", kind, store.user_hash("line", source) if source else None,
                      event_ts, event, redelivery)


class LineProcessor:
    """Turns one stored LINE event into the answer to send (and the session change)."""

    def __init__(self, conversation: Callable[[], Conversation], store: Store,
                 alert: Callable[[dict, float], Outgoing] | None = None):
        self._conversation = conversation
        self.store = store
        self.alert = alert  # builds the Slack alert for a case the family agreed to share

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        event = claimed.payload
        kind = claimed.kind
        conv = self._conversation()
        user_hash = claimed.user_hash
        session = self.store.session(user_hash) if user_hash else None
        if kind == "unfollow":
            if user_hash:
                self.store.forget_user(user_hash)
            return Processed([], (user_hash, None) if user_hash else None, "forgotten")
        if kind == "follow":
            turn = conv.greeting()
        elif kind == "message:text":
            turn = conv.on_text(str((event.get("message") or {}).get("text") or ""), session, now)
        elif kind == "message:location":
            turn = conv.on_location(str((event.get("message") or {}).get("address") or ""), session, now)
        elif kind.removeprefix("message:") in NOT_TEXT:
            turn = conv.not_text(session)
        else:
            return Processed([], None, f"ignored {kind}")
        escalation = None
        extra: list[Outgoing] = []
        if turn.escalation is not None and self.alert is not None:
            escalation = {**turn.escalation, "case_no": case_number(claimed.event_id, now)}
            extra.append(self.alert(escalation, claimed.event_ts))
            turn = replace(turn, text=fill(turn.text, {"case_no": escalation["case_no"]}) or turn.text)
        answer = self._outgoing(claimed, turn, conv)
        new_session = (user_hash, turn.session) if user_hash and turn.kind != "greeting" else None
        d = turn.decision
        return Processed(([answer] if answer else []) + extra, new_session, _result(turn), escalation,
                         d.intent if d else None, d.urgency if d else None)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        """The safe answer when processing keeps failing: nothing is ever left unanswered."""
        texts = self._conversation().texts
        return [Outgoing(channel="line", user_hash=claimed.user_hash, to_id=_source_id(claimed.payload),
                         reply_token=claimed.payload.get("replyToken"),
                         messages=[{"type": "text", "text": texts.error_reply}],
                         retry_key=retry_key(claimed.event_id), event_ts=claimed.event_ts)]

    def _outgoing(self, claimed: Claimed, turn: Turn, conv: Conversation) -> Outgoing | None:
        event = claimed.payload
        messages = build_messages(turn, conv.texts)
        if not messages:
            return None
        return Outgoing(channel="line", user_hash=claimed.user_hash, to_id=_source_id(event),
                        reply_token=event.get("replyToken"), messages=messages,
                        retry_key=retry_key(claimed.event_id), event_ts=claimed.event_ts)


def case_number(event_id: str, now: datetime) -> str:
    """A short case number staff and the family can quote: date + 4 characters from the event."""
    digest = hashlib.sha256(event_id.encode()).digest()
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    code = "".join(alphabet[b % len(alphabet)] for b in digest[:4])
    return f"{now:%m%d}-{code}"


def _result(turn: Turn) -> str:
    d = turn.decision
    if d is None:
        return turn.kind
    return f"{turn.kind} {d.intent} {d.urgency}"

