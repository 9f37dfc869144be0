"""LINE's webhook: verify the request and parse it into inbox events (the channel's *parse*).

The body is read with a limit (bot/request_body.py; chunked bodies too) and
``X-Line-Signature`` is checked on it before anything else (line-bot-sdk's
``SignatureValidator``); a missing or wrong signature, a body that is not UTF-8, not a JSON
object, nested too deeply, or too large gets 400/413 and nothing is stored.  Every event of
an accepted body is judged on its own (:func:`accept_events`) and written to the inbox
(deduplicated on ``webhookEventId``) before the 200 goes back; the worker answers later
(:func:`bot.channels.base.inbox_blueprint`).

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

from flask import request
from linebot.v3.webhook import SignatureValidator

from ... import metrics
from ...request_body import BadBody, decode_utf8, parse_object, read_body
from ...storage import InboxEvent, Store
from ..base import refuse

log = logging.getLogger("tsunagu.line")

#: LINE webhooks are small (a few KB); anything past this is refused with 413.
MAX_BODY = 1024 * 1024
#: Default replay window (seconds): events older than this are refused (see bot/config.py).
REPLAY_WINDOW = 24 * 3600.0


def parse(validator: SignatureValidator, store: Store, oldest: float) -> list[InboxEvent]:
    """The events of the current request to store; :class:`BadBody` when the request is refused."""
    text = decode_utf8(read_body(request, MAX_BODY))
    signature = request.headers.get("X-Line-Signature")
    if not signature:
        raise BadBody("missing X-Line-Signature")
    if not validator.validate(text, signature):
        log.warning("line webhook: bad signature")
        raise refuse("line", "bad_signature", "invalid signature")
    try:
        payload = parse_object(text)
    except BadBody as refused:
        log.warning("line webhook: %s", refused.reason)
        raise
    if not isinstance(payload.get("events"), list):
        raise BadBody("no events list")
    return accept_events(payload["events"], store, oldest)


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


def source_id(event: dict) -> str | None:
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
    source = source_id(event)
    timestamp = event.get("timestamp")
    event_ts = timestamp / 1000 if isinstance(timestamp, (int, float)) else 0.0
    redelivery = bool((event.get("deliveryContext") or {}).get("isRedelivery"))
    return InboxEvent(f"line:{event_id}", "line", kind, store.user_hash("line", source) if source else None,
                      event_ts, event, redelivery)
