"""LINE message objects for one answer: the text, a tap-to-call card, quick replies.

Plain dicts in the Messaging API's JSON shape (they are stored in the outbox and
sent with line-bot-sdk's ``*.from_dict``).  Limits from the official spec: text
5,000 characters, altText 400, quick-reply labels 20, at most 5 messages.
"""

from __future__ import annotations

from typing import Any

from ..conversation import ConversationTexts, Turn

TEXT_MAX = 5000
ALT_MAX = 400
LABEL_MAX = 20
FLEX_TEXT_MAX = 60


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_message(text: str) -> dict[str, Any]:
    return {"type": "text", "text": _cut(text, TEXT_MAX) or "…"}


def quick_location(label: str) -> dict:
    return {"type": "action", "action": {"type": "location", "label": _cut(label, LABEL_MAX)}}


def quick_text(label: str, text: str | None = None) -> dict:
    return {"type": "action", "action": {"type": "message", "label": _cut(label, LABEL_MAX),
                                         "text": text or label}}


def contact_card(windows, texts: ConversationTexts) -> dict | None:
    """A Flex bubble with one block per window and a call button where there is a number."""
    card = texts.card
    rows: list[dict] = []
    alt: list[str] = []
    for w in windows:
        if w.phone is None:
            continue
        block: list[dict] = [
            {"type": "text", "text": _cut(w.name, FLEX_TEXT_MAX), "weight": "bold", "wrap": True, "size": "md"},
            {"type": "text", "text": f"☎ {w.phone.display}" + (f"　{w.hours}" if w.hours else ""),
             "wrap": True, "size": "sm", "color": "#555555"},
            {"type": "button", "style": "primary", "height": "sm", "margin": "sm",
             "action": {"type": "uri", "label": _cut(f"{card['call_label']} {w.phone.display}", LABEL_MAX * 2),
                        "uri": w.phone.tel_uri}},
        ]
        if rows:
            rows.append({"type": "separator", "margin": "lg"})
        rows.append({"type": "box", "layout": "vertical", "spacing": "xs", "margin": "lg", "contents": block})
        alt.append(f"{w.phone.display} {w.name}")
    if not rows:
        return None
    return {
        "type": "flex",
        "altText": _cut(card["alt_text_prefix"] + "／".join(alt), ALT_MAX),
        "contents": {
            "type": "bubble",
            "body": {"type": "box", "layout": "vertical", "contents": [
                {"type": "text", "text": card["title"], "weight": "bold", "size": "lg"}, *rows]},
        },
    }


def build_messages(turn: Turn, texts: ConversationTexts) -> list[dict]:
    """The messages of one answer, most important first (at most 5)."""
    quick: list[dict] = []
    if turn.ask_consent:
        quick.append(quick_text(texts.quick_replies["consent_yes"]))
        quick.append(quick_text(texts.quick_replies["consent_no"]))
    quick.extend(quick_text(label) for label in turn.topics)
    if turn.ask_area:
        quick.append(quick_location(texts.quick_replies["send_location"]))
    if turn.decision is not None and turn.kind in ("answer", "area_followup"):
        quick.append(quick_text(texts.quick_replies["reset"]))
    messages = [text_message(turn.text)]
    if turn.decision is not None and turn.decision.windows:
        card = contact_card(turn.decision.windows, texts)
        if card:
            messages.append(card)
    messages = messages[:5]
    if quick:
        # LINE shows quick replies only under the last message of a batch
        messages[-1]["quickReply"] = {"items": quick[:13]}
    return messages
