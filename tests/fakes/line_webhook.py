"""Build, validate, sign and send LINE webhook bodies exactly as the LINE Platform does.

Builders return plain dicts (one event each); wrap them with :func:`callback`. Bodies are serialized
like LINE sends them (:func:`dumps`: compact UTF-8, non-ASCII *not* escaped), so signature tests
catch apps that re-serialize the body before verifying it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers

from .line_contract import (
    WEBHOOK_SPEC,
    HttpRequest,
    Problem,
    openapi,
    openapi_core_problems,
    strict_schema_problems,
)

DEFAULT_USER_ID = "U1a2b3c4d5e6f708192a3b4c5d6e7f809"
#: The bot's own user ID (CallbackRequest.destination).
DEFAULT_DESTINATION = "Uf0e1d2c3b4a5968778695a4b3c2d1e0f"
USER_ID_RE = re.compile(r"^U[0-9a-f]{32}$")
ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Headers the LINE Platform sends with every webhook (besides X-Line-Signature).
WEBHOOK_HEADERS = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0"}


class WebhookContractError(AssertionError):
    """A webhook body that LINE would never send (per webhook.yml and the documented formats)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("webhook body violates the LINE contract:\n" + "\n".join(map(str, problems)))


# --------------------------------------------------------------------------- ids


def new_ulid(timestamp_ms: int | None = None) -> str:
    """A ULID (26 chars, Crockford base32: 48-bit ms timestamp + 80 random bits)."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    value = (ts << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def new_user_id() -> str:
    return "U" + secrets.token_hex(16)


def new_reply_token() -> str:
    return secrets.token_hex(16)


def new_message_id() -> str:
    return str(10**17 + secrets.randbelow(9 * 10**17))  # 18 digits, like LINE's


def user_source(user_id: str = DEFAULT_USER_ID) -> dict[str, str]:
    return {"type": "user", "userId": user_id}


def group_source(group_id: str, user_id: str | None = DEFAULT_USER_ID) -> dict[str, str]:
    src = {"type": "group", "groupId": group_id}
    if user_id is not None:
        src["userId"] = user_id
    return src


# --------------------------------------------------------------------------- builders


def _event(
    type_: str,
    *,
    user_id: str,
    reply_token: str | bool | None,
    event_id: str | None,
    redelivery: bool,
    timestamp: int | None,
    mode: str,
    source: Mapping[str, str] | None,
    **fields: Any,
) -> dict[str, Any]:
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    event: dict[str, Any] = {"type": type_}
    event.update(fields)
    event.update(
        {
            "webhookEventId": event_id or new_ulid(ts),
            "deliveryContext": {"isRedelivery": redelivery},
            "timestamp": ts,
            "source": dict(source) if source is not None else user_source(user_id),
            "mode": mode,
        }
    )
    if reply_token is not False:  # False: this event type has no reply token
        event["replyToken"] = reply_token or new_reply_token()
    return event


def text_event(
    text: str,
    user_id: str = DEFAULT_USER_ID,
    reply_token: str | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    mode: str = "active",
    source: Mapping[str, str] | None = None,
    message_id: str | None = None,
    quote_token: str | None = None,
) -> dict[str, Any]:
    """A text message event (reply token generated unless given; event id a fresh ULID)."""
    message = {
        "id": message_id or new_message_id(),
        "type": "text",
        "text": text,
        "quoteToken": quote_token or secrets.token_urlsafe(24),
    }
    return _event(
        "message",
        user_id=user_id,
        reply_token=reply_token,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=source,
        message=message,
    )


def sticker_event(
    package_id: str = "446",
    sticker_id: str = "1988",
    user_id: str = DEFAULT_USER_ID,
    reply_token: str | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    resource_type: str = "STATIC",
    keywords: Sequence[str] | None = None,
    text: str | None = None,
    mode: str = "active",
    source: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": new_message_id(),
        "type": "sticker",
        "packageId": package_id,
        "stickerId": sticker_id,
        "stickerResourceType": resource_type,
        "quoteToken": secrets.token_urlsafe(24),
    }
    if keywords is not None:
        message["keywords"] = list(keywords)
    if text is not None:  # message stickers only
        message["text"] = text
    return _event(
        "message",
        user_id=user_id,
        reply_token=reply_token,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=source,
        message=message,
    )


def _content_provider(original_url: str | None, preview_url: str | None) -> dict[str, str]:
    if original_url is None:
        return {"type": "line"}  # download from api-data.line.me/v2/bot/message/{id}/content
    provider = {"type": "external", "originalContentUrl": original_url}
    if preview_url is not None:
        provider["previewImageUrl"] = preview_url
    return provider


def image_event(
    user_id: str = DEFAULT_USER_ID,
    reply_token: str | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    message_id: str | None = None,
    original_url: str | None = None,
    preview_url: str | None = None,
    image_set: Mapping[str, Any] | None = None,
    mode: str = "active",
    source: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": message_id or new_message_id(),
        "type": "image",
        "contentProvider": _content_provider(original_url, preview_url),
        "quoteToken": secrets.token_urlsafe(24),
    }
    if image_set is not None:
        message["imageSet"] = dict(image_set)
    return _event(
        "message",
        user_id=user_id,
        reply_token=reply_token,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=source,
        message=message,
    )


def audio_event(
    duration_ms: int = 60000,
    user_id: str = DEFAULT_USER_ID,
    reply_token: str | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    message_id: str | None = None,
    mode: str = "active",
    source: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    message = {
        "id": message_id or new_message_id(),
        "type": "audio",
        "duration": duration_ms,
        "contentProvider": {"type": "line"},
    }
    return _event(
        "message",
        user_id=user_id,
        reply_token=reply_token,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=source,
        message=message,
    )


def file_event(
    file_name: str = "契約書.pdf",
    file_size: int = 2138,
    user_id: str = DEFAULT_USER_ID,
    reply_token: str | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    message_id: str | None = None,
    mode: str = "active",
    source: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    message = {"id": message_id or new_message_id(), "type": "file", "fileName": file_name, "fileSize": file_size}
    return _event(
        "message",
        user_id=user_id,
        reply_token=reply_token,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=source,
        message=message,
    )


def location_event(
    address: str,
    lat: float,
    lng: float,
    user_id: str = DEFAULT_USER_ID,
    reply_token: str | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    title: str | None = None,
    mode: str = "active",
    source: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": new_message_id(),
        "type": "location",
        "address": address,
        "latitude": float(lat),
        "longitude": float(lng),
    }
    if title is not None:
        message["title"] = title
    return _event(
        "message",
        user_id=user_id,
        reply_token=reply_token,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=source,
        message=message,
    )


def follow_event(
    user_id: str = DEFAULT_USER_ID,
    reply_token: str | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    is_unblocked: bool = False,
    mode: str = "active",
) -> dict[str, Any]:
    """Friend added (``is_unblocked=True``: unblocked). Carries a reply token."""
    return _event(
        "follow",
        user_id=user_id,
        reply_token=reply_token,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=None,
        follow={"isUnblocked": is_unblocked},
    )


def unfollow_event(
    user_id: str = DEFAULT_USER_ID,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    mode: str = "active",
) -> dict[str, Any]:
    """Blocked by the user. No reply token (nothing can be sent to this user any more)."""
    return _event(
        "unfollow",
        user_id=user_id,
        reply_token=False,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=None,
    )


def postback_event(
    data: str,
    user_id: str = DEFAULT_USER_ID,
    reply_token: str | None = None,
    event_id: str | None = None,
    redelivery: bool = False,
    timestamp: int | None = None,
    *,
    params: Mapping[str, str] | None = None,
    mode: str = "active",
    source: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A postback (button with ``data``); ``params`` e.g. ``{"date": "2026-11-27"}`` for a datetime picker."""
    postback: dict[str, Any] = {"data": data}
    if params is not None:
        postback["params"] = dict(params)
    return _event(
        "postback",
        user_id=user_id,
        reply_token=reply_token,
        event_id=event_id,
        redelivery=redelivery,
        timestamp=timestamp,
        mode=mode,
        source=source,
        postback=postback,
    )


def callback(
    events: Sequence[Mapping[str, Any]] | Mapping[str, Any], destination: str = DEFAULT_DESTINATION
) -> dict[str, Any]:
    """The CallbackRequest body. ``callback([])`` is what the console's "Verify" button sends."""
    items = [events] if isinstance(events, Mapping) else list(events)
    return {"destination": destination, "events": [dict(e) for e in items]}


def redelivered(event: Mapping[str, Any]) -> dict[str, Any]:
    """The same event as LINE redelivers it: same webhookEventId, ``isRedelivery: true``."""
    copy = json.loads(json.dumps(event))
    copy["deliveryContext"] = {"isRedelivery": True}
    return copy


def reply_tokens(body: Mapping[str, Any]) -> list[str]:
    """The reply tokens in a CallbackRequest (to register them with ``FakeLine.issue_reply_token``)."""
    return [e["replyToken"] for e in body.get("events", []) if "replyToken" in e]


# --------------------------------------------------------------------------- contract


def validate_webhook(body: Mapping[str, Any]) -> None:
    """Raise :class:`WebhookContractError` unless ``body`` is a CallbackRequest LINE could send.

    Checked: webhook.yml (its dummy ``POST /callback`` operation) with openapi-core, the same schema
    with discriminators applied (event type, message type, source type), and formats the spec only
    describes in prose: ``webhookEventId`` is a ULID, user IDs are ``U`` + 32 hex, timestamps are ms.
    """
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = HttpRequest(
        "https://example.com",
        "/callback",
        "post",
        Headers({"Content-Type": "application/json"}),
        raw,
        "application/json",
    )
    try:
        openapi(WEBHOOK_SPEC).validate_request(req)
    except Exception as exc:
        raise WebhookContractError(openapi_core_problems(exc)) from exc
    problems = strict_schema_problems(body, "#/components/schemas/CallbackRequest", WEBHOOK_SPEC)
    for i, event in enumerate(body.get("events") or []):
        where = f"events[{i}]"
        if not isinstance(event, Mapping):
            continue
        if not ULID_RE.match(str(event.get("webhookEventId", ""))):
            problems.append(Problem(f"{where}.webhookEventId", "not a ULID (26 chars Crockford base32)"))
        user = (event.get("source") or {}).get("userId")
        if user is not None and not USER_ID_RE.match(str(user)):
            problems.append(Problem(f"{where}.source.userId", "not U + 32 hex digits"))
        ts = event.get("timestamp")
        if isinstance(ts, int) and ts < 10**12:
            problems.append(Problem(f"{where}.timestamp", "looks like seconds; LINE sends milliseconds"))
    if problems:
        raise WebhookContractError(problems)


# --------------------------------------------------------------------------- signing and sending


def dumps(body: Mapping[str, Any]) -> bytes:
    """Serialize like LINE: compact JSON, UTF-8, non-ASCII kept as is."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    """X-Line-Signature: base64(HMAC-SHA256(key=channel secret, msg=raw body))."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


@dataclass
class WebhookResponse:
    """What the app answered (same shape for a Flask test client and a real server)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    sent_body: bytes = b""  # the exact bytes that were posted

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


Tamper = str | Callable[[bytes, str], tuple[bytes, str | None]]


def _tamper(raw: bytes, signature: str, secret: str, tamper: Tamper | None) -> tuple[bytes, str | None]:
    if tamper is None:
        return raw, signature
    if callable(tamper):
        return tamper(raw, signature)
    if tamper == "body":  # one byte more after signing
        return raw + b"\n", signature
    if tamper == "reserialized":  # a proxy/framework re-encoded the JSON (\\u escapes, spaces)
        return json.dumps(json.loads(raw)).encode("ascii"), signature
    if tamper == "signature":  # signed with another channel's secret
        return raw, sign(raw, secret + "-wrong")
    if tamper == "missing":
        return raw, None
    if tamper == "empty":
        return raw, ""
    raise ValueError(f"unknown tamper {tamper!r}")


def post_signed(
    client_or_url: Any,
    body: Mapping[str, Any] | bytes | str,
    secret: str,
    tamper: Tamper | None = None,
    *,
    validate: bool = True,
    path: str = "/callback",
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> WebhookResponse:
    """POST a webhook with LINE's headers and a valid (or ``tamper``-ed) X-Line-Signature.

    ``client_or_url``: a Flask test client (``path`` is used) or a full URL of a running server.
    ``body``: a dict (serialized with :func:`dumps`) or raw bytes/str sent as is.
    ``validate``: check the body with :func:`validate_webhook` first; pass False for malformed bodies.
    ``tamper``: "body", "reserialized", "signature", "missing", "empty", or ``f(raw, sig) -> (raw, sig|None)``.
    """
    if isinstance(body, Mapping):
        if validate:
            validate_webhook(body)
        raw = dumps(body)
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        if validate:
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                raise ValueError("body is not JSON; pass validate=False to send it anyway") from exc
            validate_webhook(parsed)
    raw, signature = _tamper(raw, sign(raw, secret), secret, tamper)
    send_headers = dict(WEBHOOK_HEADERS)
    if signature is not None:
        send_headers["X-Line-Signature"] = signature
    send_headers.update(headers or {})

    if isinstance(client_or_url, str):
        req = urllib.request.Request(client_or_url, data=raw, headers=send_headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return WebhookResponse(resp.status, resp.read(), dict(resp.headers.items()), raw)
        except urllib.error.HTTPError as err:
            return WebhookResponse(err.code, err.read(), dict(err.headers.items()), raw)
    resp = client_or_url.post(path, data=raw, headers=send_headers)
    return WebhookResponse(resp.status_code, resp.get_data(), dict(resp.headers.items()), raw)
