"""Sending answers to LINE (the channel's *send*): reply first, push when the reply token is stale, retries.

Exactly once, even across crashes:
- every push carries an ``X-Line-Retry-Key`` derived from the event (the same on
  every retry); LINE answers 409 to a key it has already accepted, and 409 counts
  as delivered;
- before each call the outbox row notes which call is going out; a row found
  mid-call after a crash is *in doubt*: a push is simply retried (same key); a
  reply is retried while its token can still be valid — if LINE then calls the
  token invalid, the token was used by the call that was cut off, so it counts
  as delivered.  Only a reply in doubt past the token's lifetime is re-sent by
  push, which could (rarely) show twice; that case is logged.
"""

from __future__ import annotations

import logging
import threading
import time

import urllib3
from linebot.v3.messaging import ApiClient, ApiException, Configuration

from ...storage import Delivery, Store
from ..base import MAX_AGE, MAX_ATTEMPTS, Outcome, backoff

log = logging.getLogger("tsunagu.delivery")

#: A reply token is used only this soon after the event (LINE: "within about a minute").
REPLY_MAX_AGE = 50.0
#: (connect, read) seconds for every call to LINE.
TIMEOUT = (3.0, 10.0)


def _retry_after(exc: ApiException) -> float | None:
    try:
        value = (exc.headers or {}).get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _may_have_arrived(exc: BaseException) -> bool:
    """A connection that never opened cannot have delivered anything; a read timeout may have."""
    reason = getattr(exc, "reason", None)
    refused = isinstance(exc, urllib3.exceptions.NewConnectionError) or isinstance(
        reason, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError))
    return not refused


def _invalid_reply_token(exc: ApiException) -> bool:
    return exc.status == 400 and "reply token" in str(exc.body or "").lower()


class LineSender:
    def __init__(self, base_url: str, access_token: str, store: Store, *, timeout=TIMEOUT,
                 on_result=None):
        self.config = Configuration(host=base_url.rstrip("/"), access_token=access_token)
        self.store = store
        self.timeout = timeout
        self.on_result = on_result or (lambda outcome, delivery: None)
        self._local = threading.local()

    def _client(self) -> ApiClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = ApiClient(self.config)
        return client

    def _call(self, path: str, body: dict, headers: dict | None = None) -> None:
        """POST ``body`` with line-bot-sdk's ApiClient (auth, timeouts, ApiException on non-2xx).

        The messages are already valid Messaging API JSON (built by bot/channels/line/messages.py
        and checked against LINE's OpenAPI spec in the tests), so the SDK's request models
        (ReplyMessageRequest.from_dict …) are skipped: rebuilding them cost more CPU than the
        triage itself (bench/load.py).
        """
        client = self._client()
        client.call_api(path, "POST", header_params={"Accept": "application/json",
                                                     "Content-Type": "application/json", **(headers or {})},
                        body=body, auth_settings=["Bearer"], response_types_map={},
                        _request_timeout=self.timeout)

    # -- one delivery ----------------------------------------------------------------------
    def send(self, d: Delivery) -> Outcome:
        outcome = self._attempt(d)
        now = time.time()
        if outcome.status == "delivered":
            self.store.delivered(d, outcome.kind, now)
        elif outcome.status == "retry" and d.attempts + 1 < MAX_ATTEMPTS and now - d.event_ts < MAX_AGE:
            # a 5xx or 429 says this attempt was not processed, nothing about an earlier call that
            # was cut off: a row in doubt stays in doubt until a call settles it
            self.store.retry_later(d, outcome.retry_at, outcome.detail, drop_reply_token=outcome.kind == "push",
                                   in_doubt=outcome.in_doubt or d.in_doubt)
        else:
            self.store.give_up(d, outcome.detail or "gave up", now)
            outcome = Outcome("failed", outcome.kind, outcome.detail)
            log.error("line delivery %s failed for good after %d attempts: %s", d.event_id, d.attempts + 1,
                      outcome.detail)
        self.on_result(outcome, d)
        return outcome

    def _attempt(self, d: Delivery) -> Outcome:
        age = time.time() - d.event_ts
        young = d.reply_token is not None and age < REPLY_MAX_AGE
        if d.in_doubt and d.attempt_kind == "reply" and d.reply_token:
            if young:
                return self._reply(d, in_doubt=True)
            log.warning("line delivery %s: a reply was cut off and its token is too old to check; pushing",
                        d.event_id)
            return self._push(d)
        if d.in_doubt and d.attempt_kind == "push":
            return self._push(d)
        if young:
            return self._reply(d, in_doubt=False)
        return self._push(d)

    def _reply(self, d: Delivery, *, in_doubt: bool) -> Outcome:
        self.store.attempting(d, "reply")
        try:
            self._call("/v2/bot/message/reply", {"replyToken": d.reply_token, "messages": d.messages})
            return Outcome("delivered", "reply")
        except ApiException as exc:
            if _invalid_reply_token(exc):
                if in_doubt:
                    return Outcome("delivered", "reply", "token used by the call that was cut off")
                return self._push(d)          # stale token: push now
            if not exc.status:                # the SDK's wrapper for a TLS failure: the call may have arrived
                return Outcome("retry", "reply", "reply TLS error", time.time() + backoff(d.attempts + 1),
                               in_doubt=True)
            if exc.status == 429 or exc.status >= 500:
                return Outcome("retry", "reply", f"reply {exc.status}", time.time() + backoff(d.attempts + 1,
                                                                                          _retry_after(exc)))
            return self._push(d) if d.to_id else Outcome("failed", "reply", f"reply {exc.status}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Outcome("retry", "reply", f"reply {type(exc).__name__}", time.time() + backoff(d.attempts + 1),
                           in_doubt=_may_have_arrived(exc))

    def _push(self, d: Delivery) -> Outcome:
        if not d.to_id:
            return Outcome("failed", "push", "no user id to push to")
        self.store.attempting(d, "push")
        try:
            self._call("/v2/bot/message/push", {"to": d.to_id, "messages": d.messages},
                       {"X-Line-Retry-Key": d.retry_key})
            return Outcome("delivered", "push")
        except ApiException as exc:
            if exc.status == 409:
                return Outcome("delivered", "push", "already accepted (409)")
            if not exc.status:
                return Outcome("retry", "push", "push TLS error", time.time() + backoff(d.attempts + 1),
                               in_doubt=True)
            if exc.status == 429 or exc.status >= 500:
                return Outcome("retry", "push", f"push {exc.status}", time.time() + backoff(d.attempts + 1,
                                                                                        _retry_after(exc)))
            if exc.status in (401, 403):
                # a channel set-up problem (token, plan): keep the message and try again later
                return Outcome("retry", "push", f"push {exc.status}", time.time() + backoff(d.attempts + 1))
            return Outcome("failed", "push", f"push {exc.status}")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Outcome("retry", "push", f"push {type(exc).__name__}", time.time() + backoff(d.attempts + 1),
                           in_doubt=_may_have_arrived(exc))
