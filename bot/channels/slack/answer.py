"""Slack's answers to staff, made by the worker from stored events: a question asked by mention
(answered in its thread) or by ``/tsunagu`` (answered, only to the asker, through the command's
``response_url``), and the windows of an area (``/tsunagu 窓口 AREA``) with its 適格消費者団体."""

from __future__ import annotations

import re
from datetime import datetime

from ...storage import Claimed, Outgoing
from ...triage import Triage, clean, fill
from ...worker import Processed
from .blocks import SlackTexts, groups_section, section, sheet_blocks, triage_blocks, windows_text
from .text import clip, escape

NAME = "slack"
#: A mention of the bot in an app_mention's text (removed before the triage).
MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


class StaffAnswers:
    """One stored staff event (``app_mention`` or ``command``) → the Slack answer to send."""

    def __init__(self, live, texts: SlackTexts):
        self.live = live          # looked up per event: the knowledge may have been reloaded
        self.texts = texts
        self._area_words = {clean(w) for w in texts.area_words}
        self._refer_words = {clean(w) for w in texts.refer_words}

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        if claimed.kind == "command":
            return self._command(claimed, now)
        return self._mention(claimed, now)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        if claimed.kind == "command":
            return [_respond(claimed, self.texts.help, [section(self.texts.help)])]
        event = claimed.payload.get("event") or {}
        return [_in_thread(claimed, event, self.texts.help, [section(self.texts.help)])]

    def _mention(self, claimed: Claimed, now: datetime) -> Processed:
        event = claimed.payload.get("event") or {}
        text = MENTION.sub("", str(event.get("text") or "")).strip()
        triage = self.live.triage
        if not text:
            return Processed([_in_thread(claimed, event, self.texts.help, [section(self.texts.help)])],
                             result="help")
        d = triage.decide(text, now=now)
        reply = escape(d.reply)     # the LINE-side reply: plain text that may repeat the staff's words
        blocks = [section(reply, verbatim=True)] + triage_blocks(d, self.texts, triage, text)
        # the family's text has no window list (on LINE the windows are a card): staff get them in
        # the blocks and, for notifications and clients without blocks, in the text too
        windows = windows_text(d.windows)
        return Processed([_in_thread(claimed, event, f"{reply}\n\n{windows}".strip(), blocks)],
                         result=f"mention {d.intent} {d.urgency}", intent=d.intent, urgency=d.urgency)

    def _command(self, claimed: Claimed, now: datetime) -> Processed:
        text = str(claimed.payload.get("text") or "")
        triage = self.live.triage
        head, _, rest = text.strip().replace("\u3000", " ").partition(" ")
        if clean(head) in self._area_words:
            return Processed([_respond(claimed, escape(rest), area_lookup(rest, triage, self.texts, now))],
                             result="command area")
        if clean(head) in self._refer_words:
            if not clean(rest):
                usage = self.texts.refer_usage
                return Processed([_respond(claimed, usage, [section(usage)])], result="command refer usage")
            sheet = triage.referral(rest, now=now)
            return Processed([_respond(claimed, escape(sheet.title), sheet_blocks(sheet))], result="command refer")
        d = triage.decide(text, now=now)
        label = self.texts.urgency_labels.get(d.urgency, d.urgency)
        return Processed([_respond(claimed, f"{d.title}（{label}）", triage_blocks(d, self.texts, triage, text))],
                         result=f"command {d.intent} {d.urgency}", intent=d.intent, urgency=d.urgency)


def area_lookup(text: str, triage: Triage, texts: SlackTexts, now: datetime) -> list[dict]:
    """The main windows of the area named in ``text`` (or how to name one)."""
    area = triage.find_area(text)
    if area is None:
        return [section(texts.area_usage)]
    lines = []
    for cid in texts.area_contacts:
        windows = triage.windows(cid, area, now)[:2]
        if windows:
            lines.append(f"*{triage.contact(cid).label}*\n{windows_text(windows)}")
    header = fill(texts.area_header, {"area": escape(area.municipality or area.pref)}) or ""
    return [section(header)] + [section(x) for x in lines] + groups_section(triage.consumer_groups(area), texts)


def _in_thread(claimed: Claimed, event: dict, text: str, blocks: list[dict]) -> Outgoing:
    return Outgoing(channel=NAME, user_hash=claimed.user_hash, to_id=None, reply_token=None,
                    messages=[{"text": clip(text, 3000), "blocks": blocks,
                               "thread_ts": event.get("thread_ts") or event.get("ts")}],
                    retry_key=claimed.event_id, event_ts=claimed.event_ts, target=event.get("channel"))


def _respond(claimed: Claimed, text: str, blocks: list[dict]) -> Outgoing:
    """An answer only the asker sees, through the command's ``response_url`` (see :mod:`.send`)."""
    return Outgoing(channel=NAME, user_hash=claimed.user_hash, to_id=None, reply_token=None,
                    messages=[{"response_url": claimed.payload.get("response_url") or "",
                               "response_type": "ephemeral", "text": text, "blocks": blocks}],
                    retry_key=claimed.event_id, event_ts=claimed.event_ts)
