"""Slack's *parse*: ``POST /slack/events`` verified here, then handed to the Bolt app (:mod:`.app`).

The signature (``X-Slack-Signature``, 5-minute window) is checked on a bounded read of the body
before Bolt sees it; a refused request gets a fixed reason and nothing from it is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Callable
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Response, request
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.flask.handler import to_flask_response

from ... import metrics
from ...request_body import BadBody, decode_utf8, parse_object, read_body

log = logging.getLogger("tsunagu.slack")

#: Slack's requests are a few KB; more is refused with 413 before it is read.
MAX_BODY = 1024 * 1024
#: Seconds a request timestamp may differ from now (Slack's documented 5 minutes).
SIGNATURE_WINDOW = 300


def blueprint(app: App, signing_secret: str, *, clock: Callable[[], float] = time.time) -> Blueprint:
    """``POST /slack/events``: verified here (bounded read, signature, timestamp), then handed to Bolt.

    Bolt's own verification is off (see :func:`build_app`): it read the whole body, answered 500 to a
    non-numeric timestamp and logged the body of every badly signed request.  Here a refused request
    gets a fixed reason and nothing from it is logged.
    """
    bp = Blueprint("slack", __name__)

    @bp.post("/slack/events")
    def events() -> Response:
        try:
            raw = read_body(request, MAX_BODY)
        except BadBody as refused:
            return _refuse(refused.reason, refused.status)
        status = verify(raw, request.headers, signing_secret, clock())
        if status != "ok":
            metrics.REFUSED.labels("slack", status).inc()
            log.warning("slack request refused: %s", status)
            return _refuse("invalid request", 401)
        try:
            body = bolt_body(raw, request.mimetype)
        except BadBody as refused:
            log.warning("slack request refused: %s", refused.reason)
            return _refuse(refused.reason, refused.status)
        bolt_request = BoltRequest(body=body, query=request.query_string.decode("utf-8", "replace"),
                                   headers=dict(request.headers))
        return to_flask_response(app.dispatch(bolt_request))

    return bp


def verify(raw: bytes, headers, secret: str, now: float) -> str:
    """Slack's v0 signature over the raw bytes: ``"ok"`` or the refusal reason (a metric label).

    HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{body}`` with the signing secret; the
    timestamp must be within :data:`SIGNATURE_WINDOW` of now, which is also the replay window
    for Slack (a replayed body cannot be re-signed with a fresh timestamp).
    """
    timestamp = headers.get("X-Slack-Request-Timestamp") or ""
    signature = headers.get("X-Slack-Signature") or ""
    if not timestamp.isascii() or not timestamp.isdigit() or not signature:
        return "bad_signature"
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()
    # bytes: compare_digest refuses str with non-ASCII characters (a header can hold any byte)
    if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return "bad_signature"
    return "stale" if abs(now - int(timestamp)) > SIGNATURE_WINDOW else "ok"


def bolt_body(raw: bytes, mimetype: str) -> str:
    """The verified body as Bolt will parse it, checked so that Bolt's parsing cannot fail.

    JSON (Events API) must be an object of bounded depth; a form body's ``payload`` (interactivity)
    likewise.  Lone surrogates are replaced (the body is re-serialized, so Bolt and the store
    never see one).
    """
    text = decode_utf8(raw)
    if mimetype == "application/json" or text.startswith("{"):
        payload = parse_object(text)
        if payload.get("type") == "event_callback" and not isinstance(payload.get("event"), dict):
            raise BadBody("event is not an object")
        return json.dumps(payload, ensure_ascii=False)
    if "payload" in text:
        params = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" in params:
            return urlencode({"payload": json.dumps(parse_object(params["payload"]), ensure_ascii=False)})
    return text


def _refuse(reason: str, status: int) -> Response:
    return Response(reason, status=status, mimetype="text/plain")
