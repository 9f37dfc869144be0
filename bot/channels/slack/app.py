"""The Slack Bolt app (on the same Flask app): what staff do in Slack.

- ``/tsunagu TEXT`` (the triage as Block Kit) and ``/tsunagu 窓口 AREA`` (the windows of an area) —
  stored in the inbox and acknowledged at once (Slack's 3 seconds); the worker answers through the
  command's ``response_url`` (:mod:`.answer`).  ``/tsunagu help`` is answered in the acknowledgement.
- ``@つなぐ …`` (app_mention) — stored in the inbox before Slack gets its 200 (deduplicated on
  ``event_id``, so Slack's retries never double-post), answered in the thread by the worker
  (:class:`bot.channels.slack.SlackChannel`).
- Escalation alerts (:mod:`bot.escalation`, with the family's consent) carry a 「対応します」
  button that records who took the case and updates the message.
- 「判定が違う」 menus put the message and the right category into the review queue.
- 「つなぎシート」 buttons (under an answer, on an alert) and ``/tsunagu つなぐ TEXT`` show the referral
  sheet: the case's facts in the order a consumer center asks them.

Requests reach Bolt verified (:mod:`.webhook`); Bolt answers ``url_verification`` and logs
through a logger that withholds its messages (they can quote a request).
No ``auth.test`` at start-up: ``authorize=`` returns the bot token directly.
"""


from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from ...logs import withheld_logger
from ...storage import InboxEvent, Store
from ...triage import clean, fill
from .blocks import REFER_ACTION, REVIEW_ACTION, TAKE_ACTION, SlackTexts, alert_blocks, section, sheet_blocks
from .text import clip, escape, mention

log = logging.getLogger("tsunagu.slack")


@dataclass(frozen=True)
class SlackConfig:
    """What the Bolt app needs to talk to Slack (from SLACK_* settings)."""

    signing_secret: str
    bot_token: str
    api_base_url: str


# -- the Bolt app --------------------------------------------------------------------------------
def build_app(config: SlackConfig, store: Store, live, wake: Callable[[], None], texts: SlackTexts) -> App:
    client = WebClient(token=config.bot_token, base_url=config.api_base_url,
                       retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)])

    def authorize(enterprise_id=None, team_id=None, **_):
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=config.bot_token,
                               bot_id="B-tsunagu", bot_user_id=None)

    # request_verification_enabled=False: blueprint() verifies every request before Bolt sees it
    app = App(signing_secret=config.signing_secret, client=client, authorize=authorize,
              process_before_response=False, ignoring_self_events_enabled=False,
              request_verification_enabled=False, logger=withheld_logger("slack_bolt.tsunagu"))

    @app.middleware
    def durable_events(body, next):  # noqa: A002 - Bolt's argument names
        """app_mention events go to the inbox (deduplicated) before Slack gets its 200."""
        if body.get("type") == "event_callback":
            event = body.get("event") or {}
            if event.get("type") == "app_mention" and not event.get("bot_id"):
                event_id = str(body.get("event_id") or "")
                user = event.get("user") or ""
                fresh = store.accept([InboxEvent(f"slack:{event_id}", "slack", "app_mention",
                                                 store.user_hash("slack", str(user)) if user else None,
                                                 _event_ts(event, body),
                                                 {"event": event, "team": body.get("team_id")})])
                if fresh[0]:
                    wake()
            return BoltResponse(status=200, body="")  # every other event type is not used
        return next()

    help_words = {clean(w).lower() for w in texts.help_words}

    @app.command("/tsunagu")
    def command(ack, command):
        """Help at once; a question or an area goes to the inbox and is answered by the worker
        through the command's ``response_url``, like every other event (durable, deduplicated)."""
        text = (command.get("text") or "").strip()
        if not text or clean(text).lower() in help_words:
            ack(response_type="ephemeral", text=texts.help, blocks=[section(texts.help)])
            return
        if store.accept([command_event(command, text, store)])[0]:
            wake()
        ack()

    @app.action(REVIEW_ACTION)
    def review(ack, body, respond):
        ack()
        action = (body.get("actions") or [{}])[0]
        selected = (action.get("selected_option") or {}).get("value", "")
        _, predicted, asked = (action.get("block_id", "").split("|", 2) + ["", ""])[:3]
        triage = live.triage
        if selected not in triage.intents or not asked:
            return
        store.add_review(asked, predicted, selected, (body.get("user") or {}).get("id", ""))
        respond(response_type="ephemeral", replace_original=False,
                text=fill(texts.triage["review_thanks"], {"correct": triage.intents[selected].spec.title}) or "")

    @app.action(REFER_ACTION)
    def refer(ack, body, respond):
        """The 「つなぎシート」 button: the sheet of the text in the button's value, only to who clicked.
        Built here, not through the inbox: it is one triage of at most 2,000 characters (a few
        milliseconds; `tsunagu triage --jsonl` does about 400 messages a second), made after the ack
        (Bolt sends it first: process_before_response=False), and a lost click is simply clicked
        again — nothing is recorded, so there is nothing to make durable."""
        ack()
        value = str((body.get("actions") or [{}])[0].get("value") or "")
        if not clean(value):
            return
        sheet = live.triage.referral(value, now=datetime.now(ZoneInfo("Asia/Tokyo")))
        respond(response_type="ephemeral", replace_original=False, text=clip(escape(sheet.text()), 3000),
                blocks=sheet_blocks(sheet))

    @app.action(TAKE_ACTION)
    def take(ack, body, client):
        ack()
        case_no = (body.get("actions") or [{}])[0].get("value", "")
        user = body.get("user") or {}
        case = store.take_escalation(case_no, user.get("id", ""), user.get("name") or user.get("username") or "")
        if case is None:
            return
        when = datetime.fromtimestamp(case["taken_at"] or time.time(), ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
        name = case["taken_name"] or case["taken_by"]
        taken = fill(texts.alert["taken"], {"name": mention(case["taken_by"] or "", name), "time": when})
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts")
        if channel and ts:
            client.chat_update(channel=channel, ts=ts, text=f"{escape(case['case_no'])} {taken}",
                               blocks=alert_blocks(case, texts, taken=taken))

    return app


def command_event(command: dict, text: str, store: Store) -> InboxEvent:
    """A ``/tsunagu`` question as an inbox event, deduplicated on its ``trigger_id`` (one per use of
    the command).  Only the question and where to answer are kept, not who asked."""
    trigger = str(command.get("trigger_id") or "")
    key = trigger or hashlib.sha256(json.dumps(command, sort_keys=True).encode()).hexdigest()[:32]
    user = str(command.get("user_id") or "")
    return InboxEvent(f"slack:command:{key}", "slack", "command", store.user_hash("slack", user) if user else None,
                      time.time(), {"text": text, "response_url": str(command.get("response_url") or "")})


def _event_ts(event: dict, body: dict) -> float:
    """When Slack saw the event (``event_ts``, else ``event_time``); now if neither is a number."""
    for value in (event.get("event_ts"), body.get("event_time")):
        try:
            ts = float(value)
        except (TypeError, ValueError):
            continue
        if ts == ts and 0 < ts < 1e11:   # not NaN, seconds since 1970
            return ts
    return time.time()
