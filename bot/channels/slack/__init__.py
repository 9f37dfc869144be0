"""The Slack channel: staff ask in Slack, and families' consented cases reach them there.

parse: :mod:`.webhook` (verification) and :mod:`.app` (the Bolt app: app_mentions into the inbox,
the slash command, buttons); render: :mod:`.blocks`; send: :mod:`.send`.  It is the staff channel
of :mod:`bot.escalation` when ``SLACK_ESCALATION_CHANNEL`` is set.

Switched off, with a log line, unless ``SLACK_SIGNING_SECRET`` and ``SLACK_BOT_TOKEN`` are set.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from flask import Blueprint

from ...store import Claimed, Delivery, Outgoing
from ...worker import Processed
from ..base import Context, Outcome
from .app import SlackConfig, build_app
from .blocks import SlackTexts, alert_outgoing, load_slack_texts, section, triage_blocks, windows_text
from .send import SlackSender
from .text import clip, escape
from .webhook import blueprint

log = logging.getLogger("tsunagu.slack")

NAME = "slack"
#: A mention of the bot in an app_mention's text (removed before the triage).
MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")

__all__ = ["SlackChannel", "build"]


class SlackChannel:
    """Slack as a :class:`~bot.channels.base.Channel`: answers stored app_mentions in their thread."""

    name = NAME

    def __init__(self, ctx: Context, texts: SlackTexts):
        settings = ctx.settings
        self.live = ctx.live
        self.texts = texts
        config = SlackConfig(settings.slack_signing_secret, settings.slack_bot_token, settings.slack_api_base_url,
                             settings.slack_escalation_channel)
        self.bolt = build_app(config, ctx.store, ctx.live, ctx.wake, ctx.clock, texts)
        self._signing_secret = settings.slack_signing_secret
        self._sender = SlackSender(self.bolt.client, ctx.store)

    def blueprint(self) -> Blueprint:
        return blueprint(self.bolt, self._signing_secret)

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        event = claimed.payload.get("event") or {}
        text = MENTION.sub("", str(event.get("text") or "")).strip()
        triage = self.live.current.loaded.triage
        if not text:
            return Processed([self._reply(claimed, event, self.texts.help, [section(self.texts.help)])],
                             result="help")
        d = triage.decide(text, now=now)
        reply = escape(d.reply)     # the LINE-side reply: plain text that may repeat the staff's words
        blocks = [section(reply, verbatim=True)] + triage_blocks(d, self.texts, triage, text)
        # the family's text has no window list (on LINE the windows are a card): staff get them in
        # the blocks and, for notifications and clients without blocks, in the text too
        windows = windows_text(d.windows)
        return Processed([self._reply(claimed, event, f"{reply}\n\n{windows}".strip(), blocks)],
                         result=f"mention {d.intent} {d.urgency}", intent=d.intent, urgency=d.urgency)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        event = claimed.payload.get("event") or {}
        return [self._reply(claimed, event, self.texts.help, [section(self.texts.help)])]

    def send(self, delivery: Delivery) -> Outcome:
        return self._sender.send(delivery)

    @staticmethod
    def _reply(claimed: Claimed, event: dict, text: str, blocks: list[dict]) -> Outgoing:
        return Outgoing(channel=NAME, user_hash=claimed.user_hash, to_id=None, reply_token=None,
                        messages=[{"text": clip(text, 3000), "blocks": blocks,
                                   "thread_ts": event.get("thread_ts") or event.get("ts")}],
                        retry_key=claimed.event_id, event_ts=claimed.event_ts, target=event.get("channel"))


def build(ctx: Context) -> SlackChannel | None:
    """The Slack channel (and, with an escalation channel, the staff side of escalation), or None (logged)."""
    settings = ctx.settings
    if not settings.slack_enabled:
        log.warning("Slack is off: SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN are not both set")
        return None
    texts = load_slack_texts(settings.responses_dir)
    staff = settings.slack_escalation_channel
    if staff:
        ctx.escalation.route(lambda case, event_ts: alert_outgoing(case, texts, staff, event_ts))
    else:
        log.warning("Slack is on but SLACK_ESCALATION_CHANNEL is not set: urgent LINE cases are not escalated")
    return SlackChannel(ctx, texts)
