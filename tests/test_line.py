"""LINE channel: signed webhooks into the real app, answers to a local LINE API fake.

Every webhook body is validated against webhook.yml before it is sent; every call
the app makes is validated by the fake against messaging-api.yml.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from bot.channels.line import retry_key
from bot.config import Settings
from bot.web import create_app
from fakes.line_api import FakeLine
from fakes.line_webhook import (DEFAULT_USER_ID, audio_event, callback, file_event, follow_event, image_event,
                                location_event, new_user_id, post_signed, redelivered, sticker_event, text_event,
                                unfollow_event)

SECRET = "test-channel-secret"


@pytest.fixture
def fake():
    with FakeLine() as f:
        yield f
        f.assert_no_violations()


@pytest.fixture
def line(db_target, fake, live_version):
    """A LINE app on each storage engine (tests/engines.py): the same tests pass on SQLite and PostgreSQL."""
    base = Settings.from_env({})
    settings = Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir,
                        **db_target.settings(), cache_dir=base.cache_dir,
                        line_channel_secret=SECRET, line_channel_access_token=fake.access_token,
                        line_api_base_url=fake.url, line_timeout=(1.0, 1.0))
    app = create_app(settings, version=live_version, start_worker=False)
    return LineHarness(app, fake)


class LineHarness:
    def __init__(self, app, fake: FakeLine):
        self.app = app
        self.client = app.test_client()
        self.fake = fake
        self.services = app.extensions["tsunagu"]

    def post(self, *events, tamper=None, validate=True):
        for e in events:
            if "replyToken" in e:
                self.fake.issue_reply_token(e["replyToken"], user_id=e["source"].get("userId"))
        return post_signed(self.client, callback(list(events)), SECRET, tamper, path="/line/webhook",
                           validate=validate)

    def settle(self, timeout: float = 15.0) -> None:
        """Run the worker until nothing is waiting (retries included)."""
        end = time.time() + timeout
        store = self.services.store
        while time.time() < end:
            if not self.services.worker.step():
                if store.depth() == {"inbox": 0, "outbox": 0}:
                    return
                time.sleep(0.05)
        raise AssertionError(f"still queued: {store.depth()}")

    def inbox_count(self) -> int:
        return self.services.store.table_counts()["inbox"]

    def deliveries_for(self, event: dict) -> list:
        key = retry_key("line:" + event["webhookEventId"])
        return [d for d in self.fake.delivered() if
                (d.kind == "reply" and d.reply_token == event.get("replyToken")) or
                (d.kind == "push" and d.retry_key == key)]

    def answer(self, event: dict) -> list[dict]:
        found = self.deliveries_for(event)
        assert len(found) == 1, f"{len(found)} deliveries for one event"
        return found[0].messages


def first_text(messages: list[dict]) -> str:
    return next(m["text"] for m in messages if m["type"] == "text")


def card_of(messages: list[dict]) -> str:
    """The windows card's contents as one string (names, numbers, buttons)."""
    return json.dumps(next(m for m in messages if m["type"] == "flex"), ensure_ascii=False)


# -- signature and body -------------------------------------------------------------------------
@pytest.mark.parametrize("tamper", ["missing", "signature", "body", "empty"])
def test_bad_signature_is_rejected_and_nothing_is_stored_or_sent(line, tamper):
    r = line.post(text_event("訪問販売で布団を買った"), tamper=tamper)
    assert r.status == 400
    line.settle()
    assert line.inbox_count() == 0
    assert line.fake.deliveries == []


def test_reserialized_body_fails_the_signature(line):
    """The signature covers the exact bytes LINE sent (escaped vs raw UTF-8 differ)."""
    r = line.post(text_event("訪問販売で布団を買った"), tamper="reserialized")
    assert r.status == 400 and line.inbox_count() == 0


def test_malformed_and_odd_bodies(line):
    for raw in [b"{not json", b"[]", b'{"destination": "x"}', "\udcff".encode("utf-8", "surrogatepass")]:
        r = post_signed(line.client, raw, SECRET, path="/line/webhook", validate=False)
        assert r.status == 400, raw
    assert post_signed(line.client, callback([]), SECRET, path="/line/webhook").status == 200  # "Verify" button
    big = json.dumps({"destination": "U" + "0" * 32, "events": [], "pad": "x" * (2 * 1024 * 1024)}).encode()
    assert post_signed(line.client, big, SECRET, path="/line/webhook", validate=False).status == 413
    assert line.inbox_count() == 0


# -- answering ----------------------------------------------------------------------------------
def test_text_is_answered_once_by_reply_with_a_tap_to_call_card(line):
    event = text_event("無料点検と言われて屋根の工事を契約してしまいました")
    assert line.post(event).status == 200
    assert line.inbox_count() == 1          # stored before the 200
    line.settle()
    messages = line.answer(event)
    assert line.deliveries_for(event)[0].kind == "reply"
    assert "クーリング・オフ" in first_text(messages) or "点検" in first_text(messages)
    card = next(m for m in messages if m["type"] == "flex")
    uris = json.dumps(card, ensure_ascii=False)
    assert "tel:188" in uris
    assert card["altText"].startswith("相談先")
    # nothing personal is kept once answered
    [row] = line.services.store.inbox()
    assert row["payload"] is None
    [out] = line.services.store.outbox()
    assert (out["to_id"], out["reply_token"], out["messages"]) == (None, None, None)


def actions(node) -> list[dict]:
    """Every action in a message, in reading order (a Flex bubble is read top to bottom)."""
    if isinstance(node, dict):
        found = [node["action"]] if "action" in node and isinstance(node["action"], dict) else []
        return found + [a for k, v in node.items() if k != "action" for a in actions(v)]
    if isinstance(node, list):
        return [a for item in node for a in actions(item)]
    return []


def test_emergency_card_comes_first_with_the_110_button_on_top(line):
    event = text_event("今、息子が包丁を振り回して暴れています")
    line.post(event)
    line.settle()
    messages = line.answer(event)
    first = messages[0]
    assert first["type"] == "flex"                                    # the call button before any text
    assert actions(first)[0]["uri"] == "tel:110"
    body = first["contents"]["body"]["contents"]
    assert "110" in body[0]["text"]                                   # the 110 line heads the card
    assert first["altText"].startswith(body[0]["text"])               # …and the notification
    assert "110" in first_text(messages).splitlines()[0]              # the text still starts with it too
    assert all("quickReply" not in m for m in messages)               # nothing else to tap


def test_9110_is_shown_to_dial_not_as_a_button(line):
    """iPhone does not dial tel: links with '#': #9110 is text to dial by hand; 188 keeps its button."""
    event = text_event("ロマンス詐欺かもしれません。マッチングアプリの相手にお金を送ってしまった")
    line.post(event)
    line.settle()
    messages = line.answer(event)
    card = next(m for m in messages if m["type"] == "flex")
    uris = [a["uri"] for a in actions(card) if a["type"] == "uri"]
    assert "#9110" in card_of(messages) and "電話のボタンで" in card_of(messages)
    assert not any("9110" in u for u in uris)
    assert "tel:188" in uris


def test_redelivery_is_answered_at_most_once(line):
    event = text_event("ヤミ金から毎日電話が来て怖い")
    line.post(event)
    line.post(redelivered(event))
    line.post(redelivered(event))
    line.settle()
    assert len(line.deliveries_for(event)) == 1
    assert line.inbox_count() == 1


def test_two_events_in_one_body_are_both_answered(line):
    a, b = text_event("サポステってなに？"), text_event("おやすみなさい", user_id=new_user_id())
    line.post(a, b)
    line.settle()
    assert line.answer(a) and line.answer(b)


@pytest.mark.parametrize("make", [sticker_event, image_event, audio_event, file_event])
def test_non_text_gets_a_gentle_request_for_words(line, make):
    event = make()
    line.post(event)
    line.settle()
    assert "文字" in first_text(line.answer(event))


def test_follow_greets_and_unfollow_forgets(line):
    follow = follow_event()
    line.post(follow)
    line.settle()
    greeting = first_text(line.answer(follow))
    assert "110" in greeting and "119" in greeting and "人ではありません" in greeting
    line.post(text_event("〒060-0001 です"))
    line.settle()
    store = line.services.store
    user = store.user_hash("line", DEFAULT_USER_ID)
    assert store.session(user)["area"]["municipality"] == "札幌市中央区"
    line.post(unfollow_event())
    line.settle()
    assert store.session(user) is None
    assert store.table_counts()["sessions"] == 0
    # nothing left that ties the finished events to this person
    assert store.rows_about(user) == {"sessions": 0, "inbox": 0, "outbox": 0, "dead_letters": 0}
    assert [r["payload"] for r in store.inbox() if r["payload"] is not None] == []


# -- the area conversation ---------------------------------------------------------------------
def test_area_conversation(line):
    worry = text_event("訪問販売で布団を買わされました。解約したい")
    line.post(worry)
    line.settle()
    first = line.answer(worry)
    text = first_text(first)
    assert "188" in json.dumps(first, ensure_ascii=False)
    assert "郵便番号" in text
    assert first[-1]["quickReply"]["items"][0]["action"]["type"] == "location"

    area = text_event("０６０ー０００１")
    line.post(area)
    line.settle()
    followup = line.answer(area)
    assert "札幌市" in first_text(followup)
    assert "011-728-2121" in card_of(followup) and "tel:0117282121" in card_of(followup)
    assert "011-728-2121" not in first_text(followup)            # the number is in the card, not the text

    again = text_event("電話でしつこく勧誘されて健康食品を契約した")
    line.post(again)
    line.settle()
    answer = line.answer(again)
    assert "011-728-2121" in card_of(answer) and "郵便番号" not in first_text(answer)   # remembered

    line.post(text_event("最初から"))
    line.settle()
    after = text_event("電話でしつこく勧誘されて健康食品を契約した")
    line.post(after)
    line.settle()
    assert "郵便番号" in first_text(line.answer(after))


def test_location_message_address_counts_as_area(line):
    worry = text_event("訪問販売で布団を買わされました")
    line.post(worry)
    line.settle()
    place = location_event("〒060-0001 北海道札幌市中央区北1条西2丁目", 43.06, 141.35)
    line.post(place)
    line.settle()
    assert "011-728-2121" in card_of(line.answer(place))


# -- delivery under trouble --------------------------------------------------------------------
def test_stale_reply_token_falls_back_to_push_with_a_stable_retry_key(line):
    event = text_event("身に覚えのない請求のハガキが届いた")
    line.post(event)
    line.fake.expire_reply_token(event["replyToken"])
    line.settle()
    found = line.deliveries_for(event)
    assert len(found) == 1 and found[0].kind == "push"
    assert found[0].retry_key == str(uuid.uuid5(uuid.UUID("6f1d9e0e-2f4a-5b7c-9d3e-7a1b2c3d4e5f"),
                                                "line:" + event["webhookEventId"] + "/0"))
    assert found[0].to == DEFAULT_USER_ID


def test_event_queued_too_long_is_pushed_not_replied(line):
    event = text_event("身に覚えのない請求のハガキが届いた", timestamp=int((time.time() - 120) * 1000))
    line.post(event)
    line.settle()
    assert [r.kind for r in line.fake.deliveries] == ["push"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_and_delivered_once(line, status):
    event = text_event("身に覚えのない請求のハガキが届いた")
    line.fake.fail_next(3, status)
    line.post(event)
    line.settle()
    assert len(line.deliveries_for(event)) == 1
    assert sum(1 for d in line.fake.deliveries if not d.delivered) == 3


def test_rate_limit_honours_retry_after(line):
    event = text_event("身に覚えのない請求のハガキが届いた", timestamp=int((time.time() - 120) * 1000))
    line.fake.rate_limit_next(1, retry_after=1)
    line.post(event)
    line.settle()
    tries = [d for d in line.fake.deliveries]
    assert [d.status for d in tries] == [429, 200]
    assert tries[1].received_wall - tries[0].received_wall >= 0.95


def test_push_timeout_is_retried_with_the_same_key_and_counts_once(line):
    """LINE got the push but the answer timed out: the retry gets 409 and nothing shows twice."""
    event = text_event("身に覚えのない請求のハガキが届いた", timestamp=int((time.time() - 120) * 1000))
    line.fake.delay_next(1, 2.0, process_first=True)
    line.post(event)
    line.settle()
    statuses = [d.status for d in line.fake.deliveries]
    assert statuses == [200, 409]
    assert len(line.deliveries_for(event)) == 1


def test_reply_timeout_does_not_double_send(line):
    event = text_event("身に覚えのない請求のハガキが届いた")
    line.fake.delay_next(1, 2.0, process_first=True)
    line.post(event)
    line.settle()
    assert len(line.deliveries_for(event)) == 1


def test_a_reply_in_doubt_stays_in_doubt_through_a_server_error(line):
    """Cut off (LINE took it) -> 500 on the retry -> "invalid reply token": that token was used by
    the first call, so the answer counts as delivered; pushing it would show it twice."""
    event = text_event("身に覚えのない請求のハガキが届いた")
    line.fake.delay_next(1, 2.0, process_first=True)
    line.post(event)
    assert line.services.worker.step()               # the first reply: LINE takes it, the answer times out
    line.fake.fail_next(1, 500)
    line.settle()
    assert [(d.kind, d.status) for d in line.fake.deliveries] == [("reply", 200), ("reply", 500), ("reply", 400)]
    assert len(line.deliveries_for(event)) == 1


def test_failed_processing_still_answers(line, monkeypatch):
    """A bug in the triage must not leave a family without an answer."""
    conversation = line.services.live.conversation()
    monkeypatch.setattr(conversation, "on_text", lambda *a, **k: 1 / 0)
    event = text_event("訪問販売で布団を買わされました")
    line.post(event)
    line.settle()
    assert "188" in first_text(line.answer(event))


def test_healthz(line):
    data = line.client.get("/healthz").get_json()
    assert data["status"] == "ok" and data["channels"]["line"] is True


def test_line_is_off_without_secrets(tmp_path, live_version):
    base = Settings.from_env({})
    app = create_app(Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir,
                              db_path=tmp_path / "x.db", cache_dir=base.cache_dir),
                     version=live_version, start_worker=False)
    client = app.test_client()
    assert client.post("/line/webhook", data=b"{}").status_code == 404
    assert client.get("/healthz").get_json()["channels"]["line"] is False
