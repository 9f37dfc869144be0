"""Request bodies Slack sends to ``/slack/events``, signed like Slack signs them.

Each builder returns ``(body, headers)``; post them to a Flask test client or over HTTP.
"""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import urlencode

from .slack_api import slack_headers

TEAM, APP, STAFF, STAFF_CHANNEL = "T0001", "A0001", "U0STAFF", "C0STAFF"
_TRIGGERS = itertools.count(1)


def signed(body: str, secret: str, *, content_type: str = "application/json", ts: int | None = None,
           extra: dict | None = None) -> tuple[bytes, dict]:
    headers = slack_headers(body, secret, ts, content_type)
    headers.update(extra or {})
    return body.encode(), headers


def mention(text: str, secret: str, *, event_id: str = "Ev0001", retry: int | None = None,
            channel: str = STAFF_CHANNEL) -> tuple[bytes, dict]:
    """An ``app_mention`` event (Events API), optionally as Slack's retry ``retry``."""
    now = time.time()
    ts = f"{int(now)}.{int(now * 1e6) % 1_000_000:06d}"       # Slack's message ts: seconds.micro
    body = json.dumps({"type": "event_callback", "team_id": TEAM, "api_app_id": APP,
                       "event_id": event_id, "event_time": int(now),
                       "event": {"type": "app_mention", "user": STAFF, "text": f"<@U0BOT> {text}",
                                 "ts": ts, "channel": channel, "event_ts": ts}}, ensure_ascii=False)
    extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
    return signed(body, secret, extra=extra)


def command(text: str, secret: str, response_url: str, *, name: str = "/tsunagu",
            trigger_id: str | None = None) -> tuple[bytes, dict]:
    """A slash command (form-encoded); Slack gives every use of a command its own ``trigger_id``."""
    trigger_id = trigger_id or f"{int(time.time())}.{next(_TRIGGERS)}"
    form = urlencode({"command": name, "text": text, "team_id": TEAM, "user_id": STAFF,
                      "user_name": "staff", "channel_id": STAFF_CHANNEL, "api_app_id": APP,
                      "response_url": response_url, "trigger_id": trigger_id})
    return signed(form, secret, content_type="application/x-www-form-urlencoded")


def action(payload: dict, secret: str) -> tuple[bytes, dict]:
    """An interactivity payload (block_actions …), form-encoded as ``payload=<json>``."""
    form = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
    return signed(form, secret, content_type="application/x-www-form-urlencoded")
