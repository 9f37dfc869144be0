"""LINE message objects for one answer: the text, a tap-to-call card, quick replies.

Plain dicts in the Messaging API's JSON shape (they are stored in the outbox and
sent with line-bot-sdk's ``*.from_dict``).  Limits from the official spec: text
5,000 characters, Flex altText 1,500 (400 kept here), button labels 40, quick-reply
labels 20, at most 5 messages.

The order is the order of importance on a phone:

- an answer: the text (what to do now, the law point), then the card with the windows
  (per window: name, a one-line why, ☎ number, hours and whether it is open now, a call button);
- an emergency: the card first, with the 110/119 line and a big call button at its top, then
  the text.  No quick replies: the only thing to tap is the call;
- a worry about a business's dealings: after the card, one small optional bubble naming the area's
  適格消費者団体 (:attr:`Decision.groups`) with a button to its information page — never instead of
  188 or the consumer center, and never in an emergency (the core gives no group then);
- a question (consent to tell staff) is its own last message, with its quick replies, below the
  card — never above or instead of a call button (see :mod:`bot.conversation`).

A number a tap cannot dial on every phone (``#9110``: the iPhone does not dial ``tel:`` links
with ``#``, see :mod:`bot.triage.directory`) is shown as text to dial by hand, not as a button that fails.
"""

from __future__ import annotations

from typing import Any

from ...conversation import ConversationTexts, Turn
from ...triage import EMERGENCY_IDS, fill

TEXT_MAX = 5000
ALT_MAX = 400
LABEL_MAX = 20
BUTTON_LABEL_MAX = 40
FLEX_TEXT_MAX = 60
NOTE_MAX = 200
EMERGENCY_COLOR = "#C62828"
OPEN_COLOR = "#1B5E20"
GREY = "#555555"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_message(text: str) -> dict[str, Any]:
    return {"type": "text", "text": _cut(text, TEXT_MAX) or "…"}


def quick_location(label: str) -> dict:
    return {"type": "action", "action": {"type": "location", "label": _cut(label, LABEL_MAX)}}


def quick_text(label: str, text: str | None = None) -> dict:
    return {"type": "action", "action": {"type": "message", "label": _cut(label, LABEL_MAX),
                                         "text": text or label}}


def _text(text: str, *, size: str = "sm", color: str | None = None, bold: bool = False) -> dict:
    node: dict[str, Any] = {"type": "text", "text": text, "wrap": True, "size": size}
    if color:
        node["color"] = color
    if bold:
        node["weight"] = "bold"
    return node


def _button(label: str, uri: str, *, style: str = "primary", height: str = "sm", color: str | None = None) -> dict:
    node: dict[str, Any] = {"type": "button", "style": style, "height": height, "margin": "sm",
                            "action": {"type": "uri", "label": _cut(label, BUTTON_LABEL_MAX), "uri": uri}}
    if color:
        node["color"] = color
    return node


def _status(w, card) -> str:
    parts = [w.hours] if w.hours else []
    if w.open_now is True:
        parts.append(card.open_now)
    elif w.open_now is False:
        parts.append(card.closed_now)
    return "　".join(parts)


def window_block(w, card, *, emergency: bool = False, first: bool = False) -> list[dict]:
    """One window: name, why, ☎ number, hours / open now, note, then how to call it."""
    block: list[dict] = [_text(_cut(w.name, FLEX_TEXT_MAX), size="md", bold=True)]
    if w.why:
        block.append(_text(w.why, color=GREY))
    if w.phone is not None:
        block.append(_text(f"☎ {w.phone.display}", size="lg" if emergency else "md", bold=True))
    status = _status(w, card)
    if status:
        block.append(_text(status, color=OPEN_COLOR if w.open_now else GREY))
    if w.note:
        block.append(_text(_cut(w.note, NOTE_MAX), size="xs", color=GREY))
    if w.phone is not None and w.phone.tappable:
        if emergency:
            label = fill(card.emergency_call, {"number": w.phone.display}) or w.phone.display
            block.append(_button(label, w.phone.tel_uri, height="md" if first else "sm", color=EMERGENCY_COLOR))
        else:
            block.append(_button(f"{card.call_label} {w.phone.display}", w.phone.tel_uri))
    elif w.phone is not None:
        block.append(_text(fill(card.dial_by_hand, {"number": w.phone.display}) or w.phone.display, bold=True))
    elif w.url:
        block.append(_button(card.more_label, w.url, style="secondary"))
    return block


def contact_card(windows, texts: ConversationTexts, *, headline: str = "") -> dict | None:
    """A Flex bubble with one block per window (phone or not).

    ``headline``: an emergency's first line (「いますぐ110番…」); the 110/119 windows then come
    first with big call buttons, the other windows below them with plain ones.
    """
    card = texts.card
    if not windows:
        return None
    emergency = [w for w in windows if headline and w.contact_id in EMERGENCY_IDS and w.phone is not None]
    others = [w for w in windows if w not in emergency]
    rows: list[dict] = []
    alt: list[str] = []
    for i, w in enumerate(emergency + others):
        if rows:
            rows.append({"type": "separator", "margin": "lg"})
        block = window_block(w, card, emergency=w in emergency, first=i == 0)
        rows.append({"type": "box", "layout": "vertical", "spacing": "xs", "margin": "lg", "contents": block})
        alt.append(f"{w.phone.display} {w.name}" if w.phone else w.name)
    title = _text(headline, size="lg", bold=True, color=EMERGENCY_COLOR) if headline else \
        _text(card.title, size="lg", bold=True)
    alt_text = (headline + " " if headline else card.alt_text_prefix) + "／".join(alt)
    return {
        "type": "flex",
        "altText": _cut(alt_text, ALT_MAX),
        "contents": {
            "type": "bubble",
            "body": {"type": "box", "layout": "vertical", "contents": [title, *rows]},
        },
    }


def group_message(groups, texts: ConversationTexts) -> dict | None:
    """The optional bubble about the first group offered: the lead line, the group's name, and a
    button to its page (the 消費者庁 page when no group is known); a group without a known page
    is named with no button."""
    if not groups:
        return None
    g, words = groups[0], texts.groups
    block: list[dict] = [_text(words.lead, size="sm", bold=True),
                         _text(_cut(g.name, FLEX_TEXT_MAX), size="md", bold=True)]
    if g.url:
        block.append(_button(words.guide_button if g.level == "guide" else words.button, g.url, style="secondary"))
    else:
        block.append(_text(words.no_link, size="xs", color=GREY))
    return {
        "type": "flex",
        "altText": _cut(f"{words.lead}：{g.name}", ALT_MAX),
        "contents": {"type": "bubble", "size": "kilo",
                     "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": block}},
    }


def build_messages(turn: Turn, texts: ConversationTexts) -> list[dict]:
    """The messages of one answer, most important first (at most 5)."""
    decision = turn.decision
    emergency = decision is not None and decision.urgency == "emergency" and turn.kind in ("answer", "area_followup")
    card = None
    if decision is not None and decision.windows:
        # an emergency's reply starts with the 110/119 line of responses/replies.yml
        headline = decision.reply.splitlines()[0] if emergency and decision.reply else ""
        card = contact_card(decision.windows, texts, headline=headline)
    text = text_message(turn.text)
    if emergency and card:
        messages = [card, text]
    else:
        messages = [text] + ([card] if card else [])
    groups = group_message(decision.groups, texts) if decision is not None and not emergency \
        and turn.kind in ("answer", "area_followup") else None
    if groups:
        messages.append(groups)     # after the answer and its card, before a question (kept last)
    if turn.question:
        messages.append(text_message(turn.question))
    quick: list[dict] = []
    if turn.ask_consent:
        quick.append(quick_text(texts.quick_replies["consent_yes"]))
        quick.append(quick_text(texts.quick_replies["consent_no"]))
    quick.extend(quick_text(label) for label in turn.topics)
    if turn.ask_area:
        quick.append(quick_location(texts.quick_replies["send_location"]))
    if decision is not None and turn.kind in ("answer", "area_followup") and not emergency:
        quick.append(quick_text(texts.quick_replies["reset"]))
    messages = messages[:5]
    if quick:
        # LINE shows quick replies only under the last message of a batch
        messages[-1]["quickReply"] = {"items": quick[:13]}
    return messages
