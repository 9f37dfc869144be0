"""Slack's *render*: Block Kit for a staff question's triage, a family's case alert, the review menu.

Every word from outside (a family's excerpt, a staff message, extracted places, directory rows) is
escaped for Slack (:mod:`.text`): no ``<!channel>``, mention or disguised link can pass.  The words
of the blocks are in ``responses/slack.yml``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ...storage import Outgoing
from ...triage import Decision, ReferralSheet, Triage, fill
from ...yamlio import load_with_lines
from .text import escape, mrkdwn, quote

SECTION_MAX = 3000   # Block Kit: text of a section
OPTIONS_MAX = 100    # Block Kit: options of a static_select
BLOCK_ID_MAX = 255   # Block Kit: block_id
REVIEW_ACTION = "tsunagu_review"
TAKE_ACTION = "tsunagu_take"
REFER_ACTION = "tsunagu_refer"
VALUE_MAX = 2000     # Block Kit: value of a button


class SlackTexts(BaseModel):
    """``responses/slack.yml``."""

    model_config = ConfigDict(extra="forbid")
    help: str
    help_words: list[str] = Field(min_length=1)
    area_words: list[str] = Field(min_length=1)
    refer_words: list[str] = Field(min_length=1)
    refer_usage: str
    refer_button: str = Field(min_length=1, max_length=75)
    area_usage: str
    area_header: str
    area_contacts: list[str]
    urgency_labels: dict[str, str]
    triage: dict[str, str]
    alert: dict[str, str]


def load_slack_texts(responses_dir) -> SlackTexts:
    data, _ = load_with_lines(responses_dir / "slack.yml")
    return SlackTexts.model_validate(data)


def section(text: str, verbatim: bool = False) -> dict:
    """A section of mrkdwn ``text``: our markup with escaped values in it (``verbatim`` when it
    holds someone's words, so that Slack links nothing in them)."""
    return {"type": "section", "text": mrkdwn(text, verbatim, SECTION_MAX)}


def windows_text(windows) -> str:
    """The windows as a list; names and hours come from editable CSVs, so they are escaped."""
    lines = []
    for w in windows:
        phone = f" ☎ {escape(w.phone.display)}" if w.phone else ""
        hours = f"（{escape(w.hours)}）" if w.hours else ""
        lines.append(f"• {escape(w.name)}{phone}{hours}")
    return "\n".join(lines)


def groups_text(groups, texts: SlackTexts) -> str:
    """The 適格消費者団体 offered (name linked to its page, kind, what it does), one per line.

    Names and pages come from an editable CSV: names are escaped, and a page is linked only when it
    holds none of Slack's control characters (``check`` already refuses such a URL)."""
    t = texts.triage
    lines = []
    for g in groups:
        name = escape(g.name)
        linked = f"<{g.url}|{name}>" if g.url and not any(c in g.url for c in "<>| ") else name
        kind = f"（{escape(fill(t['group_kind'], {'kind': g.kind}) or g.kind)}）" if g.kind else ""
        what = f"：{escape(g.activities)}" if g.activities else ""
        lines.append(f"• {linked}{kind}{what}")
    return "\n".join(lines)


def groups_section(groups, texts: SlackTexts, where: str = "") -> list[dict]:
    """The 「連携先」 section (empty list when there is no group to offer)."""
    if not groups:
        return []
    return [section(f"*{texts.triage['groups']}{where}*\n{groups_text(groups, texts)}")]


def triage_blocks(d: Decision, texts: SlackTexts, triage: Triage, message: str) -> list[dict]:
    """The triage of a staff message: urgency, category, windows, law points, why, and the review menu."""
    t = texts.triage
    area = d.facts.area
    fields = [
        mrkdwn(f"*{t['category']}*\n{escape(d.title)}"),
        mrkdwn(f"*{t['urgency']}*\n{texts.urgency_labels.get(d.urgency, d.urgency)}"),
    ]
    blocks: list[dict] = [{"type": "section", "fields": fields}]
    windows = windows_text(d.windows) or t["no_windows"]
    where = f"（{escape(area.municipality or area.pref)}）" if area else ""
    blocks.append(section(f"*{t['windows']}{where}*\n{windows}"))
    blocks.extend(groups_section(d.groups, texts, where))
    if d.law:
        law = "\n".join(f"• {escape(p.title)}" + (f"：{escape(p.deadline_text)}" if p.deadline_text and p.running
                                                  else "") for p in d.law[:3])
        blocks.append(section(f"*{t['law']}*\n{law}"))
    why = [r.text for r in d.reasons if r.kind in ("keyword", "danger") and (r.weight > 0)][:6]
    rules = [r.detail for r in d.reasons if r.kind == "urgency"]
    context = escape("、".join(why) + (f" ／ {rules[0]}" if rules else ""))   # the words that matched
    if context:
        blocks.append({"type": "context", "elements": [mrkdwn(f"{t['why']}：{context}", verbatim=True)]})
    blocks.append(review_menu(d.intent, triage, t["review_placeholder"], message))
    blocks.append(refer_button(texts, "refer", message))
    return blocks


def refer_button(texts: SlackTexts, block_id: str, case_text: str) -> dict:
    """The 「つなぎシート」 button: the case text rides in its value (clipped to Slack's limit), so the
    click builds the sheet without a lookup.  Only text already in Slack goes there: a staff member's
    own words, or a family's excerpt as the alert shows it (masked)."""
    return {"type": "actions", "block_id": block_id[:BLOCK_ID_MAX], "elements": [
        {"type": "button", "action_id": REFER_ACTION, "value": case_text[:VALUE_MAX] or " ",
         "text": {"type": "plain_text", "text": texts.refer_button}}]}


def sheet_blocks(sheet: ReferralSheet) -> list[dict]:
    """The referral sheet: its title, then one section per heading (the lines escaped: they hold the
    message's words, masked)."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": sheet.title[:150]}}]
    if sheet.intro:
        blocks.append({"type": "context", "elements": [mrkdwn(escape(sheet.intro))]})
    for s in sheet.sections:
        lines = "\n".join(f"• {escape(line)}" for line in s.lines)
        blocks.append(section(f"*{escape(s.heading)}*\n{lines}", verbatim=True))
    return blocks


def review_menu(predicted: str, triage: Triage, placeholder: str, message: str) -> dict:
    """A static_select of every intent; the chosen one goes to the review queue with the message.

    The (masked) message rides in the block_id, so a menu under an ephemeral answer — whose
    text Slack does not send back — still knows what it was about.
    """
    options = [{"text": {"type": "plain_text", "text": i.spec.title[:75]}, "value": i.id}
               for i in triage.intents.values() if i.id not in ("empty_message",)][:OPTIONS_MAX]
    asked = triage.mask(message).replace("|", "｜")
    block_id = f"review|{predicted}|{asked}"[:BLOCK_ID_MAX]
    return {"type": "actions", "block_id": block_id,
            "elements": [{"type": "static_select", "action_id": REVIEW_ACTION,
                          "placeholder": {"type": "plain_text", "text": placeholder[:150]},
                          "options": options}]}


def alert_blocks(case: dict, texts: SlackTexts, taken: str | None = None) -> list[dict]:
    """The alert of a family's case: the (masked) excerpt escaped and quoted line by line, so that
    neither a mention nor a line break in it can act in the staff channel.  ``taken``: markup made
    by the take handler (the staff member through :func:`.text.mention`, already safe)."""
    a = texts.alert
    urgency = texts.urgency_labels.get(case["urgency"], case["urgency"])
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": fill(a["header"], {"urgency": urgency})[:150]}},
        {"type": "section", "fields": [
            mrkdwn(f"*{a['case']}*\n{escape(case['case_no'])}"),
            mrkdwn(f"*{a['urgency']}*\n{urgency}"),
            mrkdwn(f"*{a['category']}*\n{escape(case['title'])}"),
            mrkdwn(f"*{a['area']}*\n{escape(case.get('area')) or a['area_unknown']}", verbatim=True),
        ]},
        section(f"*{a['excerpt']}*\n{quote(case.get('excerpt') or '—')}", verbatim=True),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": a["note"]}]},
    ]
    if taken:
        blocks.append(section(taken))
    else:
        blocks.append({"type": "actions", "block_id": f"take|{case['case_no']}", "elements": [
            {"type": "button", "action_id": TAKE_ACTION, "style": "primary", "value": case["case_no"],
             "text": {"type": "plain_text", "text": a["take"]}}]})
    # the sheet from what the alert shows: the area and the masked excerpt, never the family's own text
    where = case.get("area") or ""
    blocks.append(refer_button(texts, f"refer|{case['case_no']}", f"{where}\n{case.get('excerpt') or ''}".strip()))
    return blocks


def alert_outgoing(case: dict, texts: SlackTexts, channel: str, event_ts: float) -> Outgoing:
    urgency = texts.urgency_labels.get(case["urgency"], case["urgency"])
    text = f"{fill(texts.alert['header'], {'urgency': urgency})} {escape(case['case_no'])}"
    return Outgoing(channel="slack", user_hash=None, to_id=None, reply_token=None,
                    messages=[{"text": text, "blocks": alert_blocks(case, texts), "case_no": case["case_no"]}],
                    retry_key=f"alert:{case['case_no']}", event_ts=event_ts, target=channel)
