"""The windows card a family taps (LINE Flex): every window — with a number or not — with its
name, a one-line why, ☎ number, hours and whether it is open now; validated against LINE's spec."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.channels.line.messages import build_messages
from bot.channels.terminal import plain
from bot.conversation import Turn
from fakes.line_contract import message_docs_problems, strict_schema_problems
from tests.conftest import NOW


def _valid(messages: list[dict]) -> None:
    body = {"replyToken": "x" * 32, "messages": messages}
    assert strict_schema_problems(body, "#/components/schemas/ReplyMessageRequest") == []
    assert message_docs_problems(messages) == []


def _buttons(card: dict) -> list[dict]:
    out = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "button":
                out.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(card)
    return out


def test_each_window_shows_name_why_number_hours_and_open_now(triage, conversation):
    d = triage.decide("〒520-0044 訪問販売で布団を買わされました", now=NOW)   # 大津市: the prefecture's center
    messages = build_messages(conversation.reply_to(d, "", NOW), conversation.texts)
    _valid(messages)
    card = json.dumps(messages[1], ensure_ascii=False)
    w = d.windows[0]
    assert w.phone and w.hours and w.open_now is True
    for part in (w.name, w.why, w.phone.display, w.hours, conversation.texts.card.open_now):
        assert part in card, part
    assert _buttons(messages[1])[0]["action"]["uri"] == w.phone.tel_uri


def test_windows_without_a_phone_are_in_the_card_with_a_page_when_they_have_one(triage, conversation):
    d = triage.decide("息子が働きたいと言っています。サポステに行くべきでしょうか", now=NOW)
    guide = next(w for w in d.windows if w.phone is None)
    texts = conversation.texts
    turn = Turn("answer", d.reply, d, None)
    card = build_messages(turn, texts)[1]
    assert guide.name in json.dumps(card, ensure_ascii=False) and guide.why in json.dumps(card, ensure_ascii=False)
    assert all(b["action"]["uri"].startswith("tel:") for b in _buttons(card))     # no page: no button
    with_page = replace(d, windows=tuple(replace(w, url="https://example.org/saposute") if w is guide else w
                                         for w in d.windows))
    messages = build_messages(Turn("answer", d.reply, with_page, None), texts)
    _valid(messages)
    page = [b for b in _buttons(messages[1]) if b["action"]["uri"] == "https://example.org/saposute"]
    assert page and page[0]["action"]["label"] == texts.card.more_label and page[0]["style"] == "secondary"


def test_plain_output_is_what_the_family_sees(triage, conversation):
    """`tsunagu triage` and the terminal chat print the LINE messages: text, card, quick replies."""
    d = triage.decide("訪問販売で布団を買わされました", now=NOW)
    turn = conversation.reply_to(d, "", NOW)
    out = plain(build_messages(turn, conversation.texts))
    text_at, card_at = out.index(d.reply), out.index(conversation.texts.card.title)
    assert text_at < card_at < out.index("［" + conversation.texts.quick_replies["send_location"] + "］")
    assert "☎ 188" in out and f"［{conversation.texts.card.call_label} 188］" in out
