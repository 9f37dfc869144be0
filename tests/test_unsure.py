"""When tsunagu is not sure which worry a message is, it asks (topic quick replies) instead of
guessing, and the family's tap carries the same conversation on."""

from __future__ import annotations

import json

import pytest

from bot.channels.line.messages import build_messages
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


# -- "didn't understand" (the fallback intent) --------------------------------------------------
NOT_UNDERSTOOD = ["あのー", "えっと、その、なんというか",
                  # read as a record with nothing in it (urgency info): still buttons, never a dead end
                  "記録のみです。本人が「死ぬかと思った」と言ったのは、自転車で転びそうになった話でした。"]


@pytest.mark.parametrize("text", NOT_UNDERSTOOD)
def test_a_message_it_did_not_understand_offers_topics_in_plain_words(triage, conversation, text):
    d = triage.decide(text, now=NOW)
    assert d.intent == triage.fallback.id
    labels = [label for label, _ in d.topics]
    assert 2 <= len(labels) <= 4 and all(len(label) <= 20 for label in labels)
    assert "ボタン" in d.reply
    turn = conversation.on_text(text, None, NOW)
    items = build_messages(turn, conversation.texts)[-1]["quickReply"]["items"]
    assert [i["action"]["label"] for i in items][:len(labels)] == labels


def test_tapping_a_topic_after_not_understood_goes_on(conversation):
    first = conversation.on_text("えっと、その、なんというか", None, NOW)
    label = next(t for t in first.topics if first.session["asked"]["topics"][t] == "consumer_general")
    second = conversation.on_text(label, first.session, NOW)
    assert second.kind == "answer" and second.decision.intent == "consumer_general"
    assert second.decision.contacts[0] == "consumer_center" and not second.topics
    assert "asked" not in second.session
    messages = build_messages(second, conversation.texts)
    assert any(m["type"] == "flex" and "tel:188" in str(m) for m in messages)


def test_a_picked_topic_keeps_its_law_point(conversation):
    """A worry answered from a tapped topic tells the law point too (the advice no longer repeats it)."""
    first = conversation.on_text("ちょっと相談したいことがあって", None, NOW)
    session = {**first.session, "asked": {"topics": {"お金・契約のこと": "houmon_hanbai"},
                                          "asked_at": NOW.timestamp()}}
    second = conversation.on_text("お金・契約のこと", session, NOW)
    assert second.decision.intent == "houmon_hanbai"
    assert [p.id for p in second.decision.law] == ["cooling_off_houmon_hanbai"]
    assert "クーリング・オフ（" in second.text and "8日間" in second.text
