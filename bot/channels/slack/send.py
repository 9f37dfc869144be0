"""Posting to Slack (the channel's *send*): thread replies and escalation alerts, with retries.

A 429 or an outage is retried with backoff (Slack's ``Retry-After`` honoured) until the answer is
:data:`~bot.channels.base.MAX_AGE` old; an error about the message itself is not (sending it again
cannot help).  An alert's ``ts`` is recorded on its case, so the 「対応します」 button can update it.
"""

from __future__ import annotations

import logging
import time

import urllib3

from ...storage import Delivery, Store
from ..base import MAX_AGE, MAX_ATTEMPTS, Outcome, backoff

log = logging.getLogger("tsunagu.delivery")


#: chat.postMessage errors about the message itself (https://api.slack.com/methods/chat.postMessage).
SLACK_PERMANENT = frozenset({"invalid_blocks", "invalid_blocks_format", "invalid_arguments", "msg_too_long",
                             "no_text", "too_many_attachments", "invalid_attachments", "is_archived"})


#: Seconds for one post to a command's ``response_url``.
RESPOND_TIMEOUT = 10


class SlackSender:
    """Posts Slack answers (thread replies, escalation alerts, answers to ``/tsunagu``) with retries."""

    def __init__(self, client, store: Store, on_result=None):
        self.client = client
        self.store = store
        self.on_result = on_result or (lambda outcome, delivery: None)

    def send(self, d: Delivery) -> Outcome:
        message = (d.messages or [{}])[0]
        outcome = self._respond(d, message) if "response_url" in message else self._post(d, message)
        now = time.time()
        if outcome.status == "delivered":
            self.store.delivered(d, outcome.kind, now)
        elif outcome.status == "retry" and d.attempts + 1 < MAX_ATTEMPTS and now - d.event_ts < MAX_AGE:
            self.store.retry_later(d, outcome.retry_at, outcome.detail)
        else:
            self.store.give_up(d, outcome.detail, now)
            outcome = Outcome("failed", outcome.kind, outcome.detail)
            log.error("slack delivery %s failed for good: %s", d.event_id, outcome.detail)
        self.on_result(outcome, d)
        return outcome

    def _post(self, d: Delivery, message: dict) -> Outcome:
        """chat.postMessage: a thread reply or an alert (whose ts is kept for the take button)."""
        from slack_sdk.errors import SlackApiError

        self.store.attempting(d, "post")
        try:
            kwargs = {"channel": d.target, "text": message.get("text") or "", "blocks": message.get("blocks")}
            if message.get("thread_ts"):
                kwargs["thread_ts"] = message["thread_ts"]
            response = self.client.chat_postMessage(**kwargs)
            if message.get("case_no"):
                self.store.escalation_posted(message["case_no"], response.get("channel") or d.target or "",
                                  response.get("ts") or "")
            return Outcome("delivered", "post")
        except SlackApiError as exc:
            error = (exc.response or {}).get("error", "error") if hasattr(exc.response, "get") else "error"
            retry_after = None
            try:
                retry_after = float(exc.response.headers.get("Retry-After"))
            except (AttributeError, TypeError, ValueError):
                pass
            if error in SLACK_PERMANENT:     # the message itself is wrong: sending it again cannot help
                return Outcome("failed", "post", f"slack {error}")
            # rate limits, outages, set-up problems an operator can fix
            return Outcome("retry", "post", f"slack {error}", time.time() + backoff(d.attempts + 1, retry_after))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Outcome("retry", "post", f"slack {type(exc).__name__}", time.time() + backoff(d.attempts + 1))

    def _respond(self, d: Delivery, message: dict) -> Outcome:
        """A post to a command's ``response_url``: only the asker sees it.  Slack keeps the URL for 30
        minutes and 5 uses; a 4xx (expired, used, a bad message) cannot get better by retrying."""
        from slack_sdk.webhook import WebhookClient

        url = message.get("response_url") or ""
        if not url:
            return Outcome("failed", "respond", "no response_url")
        self.store.attempting(d, "respond")
        try:
            response = WebhookClient(url, timeout=RESPOND_TIMEOUT).send(
                text=message.get("text") or "", blocks=message.get("blocks"),
                response_type=message.get("response_type") or "ephemeral")
        except OSError as exc:
            return Outcome("retry", "respond", f"slack {type(exc).__name__}", time.time() + backoff(d.attempts + 1))
        status = response.status_code
        if 200 <= status < 300:
            return Outcome("delivered", "respond")
        if status == 429 or status >= 500:
            return Outcome("retry", "respond", f"respond {status}", time.time() + backoff(d.attempts + 1))
        return Outcome("failed", "respond", f"respond {status}")
