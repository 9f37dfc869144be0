"""When tsunagu is not sure which worry a message is, it asks (topic quick replies) instead of
guessing, and the family's tap carries the same conversation on."""

from __future__ import annotations

import json

from bot.channels.line_messages import build_messages
from tests.conftest import NOW


def test_a_message_it_cannot_place_asks_with_topics(triage):
    d = triage.decide("ちょっと相談したいことがあって", now=NOW)
    assert d.unsure
    labels = [label for label, _ in d.topics]
    assert 2 <= len(labels) <= 4 and all(len(label) <= 20 for label in labels)
    assert labels[0] in d.reply or "ボタン" in d.reply
    assert "110" not in d.reply.splitlines()[0]   # no danger word: no 110/119 line


def test_the_unsure_path_offers_the_likely_worries_first(triage):
    d = triage.decide("こわいです", now=NOW)
    assert d.unsure
    assert d.topics[0][0] == "家族の暴力"


def test_a_clear_message_does_not_ask(triage):
    for text in ("訪問販売で布団を３０万円で買わされました", "息子が十年部屋から出てきません"):
        d = triage.decide(text, now=NOW)
        assert not d.unsure and not d.topics, text


def test_emergencies_never_ask(triage):
    d = triage.decide("いま息子が包丁を持って暴れている", now=NOW)
    assert d.urgency == "emergency" and not d.unsure


def test_the_tapped_topic_continues_the_conversation(conversation):
    first = conversation.on_text("こわいです", None, NOW)
    assert first.topics and first.session["asked"]["topics"]
    # only ids and button words are remembered, not what was written
    assert "こわい" not in json.dumps(first.session, ensure_ascii=False)
    second = conversation.on_text(first.topics[0], first.session, NOW)
    assert second.kind == "answer"
    assert second.decision.intent == first.session["asked"]["topics"][first.topics[0]]
    assert second.decision.contacts[0] == "police_consult"
    assert "asked" not in second.session


def test_a_topic_typed_later_without_a_question_still_answers(conversation):
    turn = conversation.on_text("お金・契約のこと", None, NOW)
    assert turn.decision.intent == "consumer_general"
    assert turn.decision.contacts[0] == "consumer_center"


def test_writing_more_instead_of_tapping_is_read_as_a_new_message(conversation):
    first = conversation.on_text("ちょっと相談したいことがあって", None, NOW)
    second = conversation.on_text("訪問販売で羽毛布団を買わされました", first.session, NOW)
    assert second.decision.intent == "houmon_hanbai"
    assert "asked" not in second.session


def test_line_shows_the_topics_as_quick_replies(conversation):
    turn = conversation.on_text("ちょっと相談したいことがあって", None, NOW)
    messages = build_messages(turn, conversation.texts)
    items = messages[-1]["quickReply"]["items"]
    labels = [i["action"]["label"] for i in items if i["action"]["type"] == "message"]
    assert labels[:len(turn.topics)] == list(turn.topics)
    assert all(i["action"]["text"] == i["action"]["label"] for i in items if i["action"]["label"] in turn.topics)
