"""The Slack channel: staff ask in Slack, and families' consented cases reach them there.

parse: :mod:`.webhook` (verification) and :mod:`.app` (the Bolt app: mentions and ``/tsunagu``
questions into the inbox, buttons and menus); the worker's answers: :mod:`.answer`; render:
:mod:`.blocks`; send: :mod:`.send`.  It is the staff channel
of :mod:`bot.escalation` when ``SLACK_ESCALATION_CHANNEL`` is set.

Switched off, with a log line, unless ``SLACK_SIGNING_SECRET`` and ``SLACK_BOT_TOKEN`` are set.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint

from ...storage import Claimed, Delivery, Outgoing
from ...worker import Processed
from ..base import Context, Outcome
from .answer import NAME, StaffAnswers
from .app import SlackConfig, build_app
from .blocks import SlackTexts, alert_outgoing, load_slack_texts
from .send import SlackSender
from .webhook import blueprint

log = logging.getLogger("tsunagu.slack")

__all__ = ["SlackChannel", "build"]


class SlackChannel:
    """Slack as a :class:`~bot.channels.base.Channel`: staff questions in, answers and alerts out."""

    name = NAME

    def __init__(self, ctx: Context, texts: SlackTexts):
        settings = ctx.settings
        config = SlackConfig(settings.slack_signing_secret, settings.slack_bot_token, settings.slack_api_base_url)
        self.bolt = build_app(config, ctx.store, ctx.live, ctx.wake, texts)
        self._signing_secret = settings.slack_signing_secret
        self._texts = texts
        self._staff_channel = settings.slack_escalation_channel
        self._answers = StaffAnswers(ctx.live, texts)
        self._sender = SlackSender(self.bolt.client, ctx.store)

    def blueprint(self) -> Blueprint:
        return blueprint(self.bolt, self._signing_secret)

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        return self._answers.process(claimed, now)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        return self._answers.fallback(claimed)

    def send(self, delivery: Delivery) -> Outcome:
        return self._sender.send(delivery)

    def alert(self, case: dict, event_ts: float) -> Outgoing:
        """The staff alert of a family's case, to ``SLACK_ESCALATION_CHANNEL`` (:mod:`bot.escalation`)."""
        return alert_outgoing(case, self._texts, self._staff_channel or "", event_ts)


def build(ctx: Context) -> SlackChannel | None:
    """The Slack channel (and, with an escalation channel, the staff side of escalation), or None (logged)."""
    settings = ctx.settings
    if not settings.slack_enabled:
        log.warning("Slack is off: SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN are not both set")
        return None
    channel = SlackChannel(ctx, load_slack_texts(settings.responses_dir))
    if settings.slack_escalation_channel:
        ctx.escalation.route(channel.alert)
    else:
        log.warning("Slack is on but SLACK_ESCALATION_CHANNEL is not set: urgent LINE cases are not escalated")
    return channel
