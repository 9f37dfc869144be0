"""Tests of the LINE fakes themselves, driven by the real line-bot-sdk client."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3
from flask import Flask, abort, request
from linebot.v3 import WebhookHandler, WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    FlexMessage,
    MessagingApi,
    MessagingApiBlob,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.messaging import MessageAction as SdkMessageAction
from linebot.v3.messaging.exceptions import ServiceException, UnauthorizedException  # not re-exported
from linebot.v3.webhooks import (
    AudioMessageContent,
    FileMessageContent,
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
)
from werkzeug.serving import make_server

from .line_api import INVALID_REPLY_TOKEN, RETRY_KEY_ACCEPTED, FakeLine
from .line_webhook import (
    DEFAULT_USER_ID,
    ULID_RE,
    USER_ID_RE,
    WebhookContractError,
    audio_event,
    callback,
    dumps,
    file_event,
    follow_event,
    image_event,
    location_event,
    new_ulid,
    post_signed,
    postback_event,
    redelivered,
    reply_tokens,
    sign,
    sticker_event,
    text_event,
    unfollow_event,
    validate_webhook,
)

USER = "U" + "ab" * 16
SECRET = "test-channel-secret"


@pytest.fixture
def api(fake_line: FakeLine) -> Iterator[MessagingApi]:
    with ApiClient(fake_line.configuration()) as client:
        yield MessagingApi(client)


def reply(api: MessagingApi, token: str, *texts: str, **kw: Any) -> Any:
    return api.reply_message_with_http_info(
        ReplyMessageRequest(reply_token=token, messages=[TextMessage(text=t) for t in texts]), **kw
    )


def push(api: MessagingApi, text: str, key: str | None = None, **kw: Any) -> Any:
    return api.push_message_with_http_info(
        PushMessageRequest(to=USER, messages=[TextMessage(text=text)]), x_line_retry_key=key, **kw
    )


def raw_post(fake: FakeLine, path: str, body: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
    """Bypass the SDK's own pydantic checks to send what a buggy client might send."""
    req = urllib.request.Request(
        fake.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token or fake.access_token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# ============================================================================ reply


def test_valid_reply_is_delivered(fake_line: FakeLine, api: MessagingApi) -> None:
    token = fake_line.issue_reply_token(user_id=USER)
    resp = reply(api, token, "こんにちは", "188 に電話してください")
    assert resp.status_code == 200
    assert len(resp.data.sent_messages) == 2 and resp.data.sent_messages[0].quote_token
    assert resp.headers["x-line-request-id"]
    [d] = fake_line.delivered()
    assert (d.kind, d.reply_token, d.to, d.status) == ("reply", token, USER, 200)
    assert fake_line.texts_for(reply_token=token) == ["こんにちは", "188 に電話してください"]
    assert fake_line.texts_for(to=USER) == ["こんにちは", "188 に電話してください"]
    assert fake_line.requests[0].headers["Authorization"] == f"Bearer {fake_line.access_token}"
    fake_line.assert_no_violations()


def test_reply_token_is_single_use(fake_line: FakeLine, api: MessagingApi) -> None:
    token = fake_line.issue_reply_token()
    reply(api, token, "1回目")
    with pytest.raises(ApiException) as exc:
        reply(api, token, "2回目")
    assert exc.value.status == 400
    assert json.loads(exc.value.body) == {"message": INVALID_REPLY_TOKEN}
    assert [d.status for d in fake_line.deliveries] == [200, 400]
    assert fake_line.texts_for() == ["1回目"]
    fake_line.assert_no_violations()  # a reused token is a semantic error, not a contract violation


def test_reply_token_expires(fake_line: FakeLine, api: MessagingApi) -> None:
    fake_line.reply_ttl = 0.05
    slow = fake_line.issue_reply_token()
    forced = fake_line.issue_reply_token(ttl=60)
    fake_line.expire_reply_token(forced)
    time.sleep(0.06)
    for token in (slow, forced):
        with pytest.raises(ApiException) as exc:
            reply(api, token, "遅すぎた返信")
        assert exc.value.status == 400 and INVALID_REPLY_TOKEN in exc.value.body
    assert fake_line.delivered() == []


def test_unknown_reply_token_is_invalid(api: MessagingApi) -> None:
    with pytest.raises(ApiException) as exc:
        reply(api, "never-issued", "x")
    assert exc.value.status == 400


def test_wrong_access_token_is_401(fake_line: FakeLine) -> None:
    config = fake_line.configuration()
    config.access_token = "revoked"
    with ApiClient(config) as client, pytest.raises(UnauthorizedException) as exc:
        reply(MessagingApi(client), fake_line.issue_reply_token(), "x")
    assert exc.value.status == 401
    assert fake_line.delivered() == []


# ============================================================================ push + retry key


def test_push_with_same_retry_key_twice_is_200_then_409(fake_line: FakeLine, api: MessagingApi) -> None:
    key = str(uuid.uuid4())
    first = push(api, "お知らせ", key)
    assert first.status_code == 200
    with pytest.raises(ApiException) as exc:
        push(api, "お知らせ", key)
    assert exc.value.status == 409
    assert exc.value.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert exc.value.headers["x-line-request-id"] != first.headers["x-line-request-id"]
    body = json.loads(exc.value.body)
    assert body["message"] == RETRY_KEY_ACCEPTED
    assert body["sentMessages"][0]["id"] == first.data.sent_messages[0].id
    assert [d.status for d in fake_line.deliveries] == [200, 409]
    assert fake_line.texts_for(to=USER) == ["お知らせ"]  # the 409 is not a second delivery
    fake_line.assert_no_violations()


def test_push_without_key_is_delivered_every_time(fake_line: FakeLine, api: MessagingApi) -> None:
    push(api, "a")
    push(api, "a")
    assert fake_line.texts_for(to=USER) == ["a", "a"]


def test_retry_key_on_reply_is_a_violation(fake_line: FakeLine) -> None:
    token = fake_line.issue_reply_token()
    req = urllib.request.Request(
        fake_line.url + "/v2/bot/message/reply",
        method="POST",
        data=json.dumps({"replyToken": token, "messages": [{"type": "text", "text": "x"}]}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {fake_line.access_token}",
            "X-Line-Retry-Key": str(uuid.uuid4()),
        },
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code == 400
    assert [v.kind for v in fake_line.violations] == ["docs"]


def test_failed_push_does_not_accept_the_key_so_the_retry_delivers(fake_line: FakeLine, api: MessagingApi) -> None:
    key = str(uuid.uuid4())
    fake_line.fail_next(1, 500)
    with pytest.raises(ServiceException):
        push(api, "再送", key)
    assert push(api, "再送", key).status_code == 200
    assert fake_line.texts_for(to=USER) == ["再送"]


# ============================================================================ faults


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fail_next(fake_line: FakeLine, api: MessagingApi, status: int) -> None:
    token = fake_line.issue_reply_token()
    fake_line.fail_next(2, status)
    for _ in range(2):
        with pytest.raises(ServiceException) as exc:
            reply(api, token, "x")
        assert exc.value.status == status
    assert reply(api, token, "x").status_code == 200  # an injected failure does not use up the token
    assert [d.status for d in fake_line.deliveries] == [status, status, 200]


def test_fail_next_can_target_one_endpoint(fake_line: FakeLine, api: MessagingApi) -> None:
    fake_line.fail_next(1, 503, endpoint="push")
    assert reply(api, fake_line.issue_reply_token(), "reply is untouched").status_code == 200
    with pytest.raises(ServiceException):
        push(api, "push fails")


def test_rate_limit_next(fake_line: FakeLine, api: MessagingApi) -> None:
    fake_line.rate_limit_next(1, retry_after=2)
    with pytest.raises(ApiException) as exc:
        push(api, "x")
    assert exc.value.status == 429 and exc.value.headers["Retry-After"] == "2"
    assert push(api, "x").status_code == 200


def test_delay_next_times_out_the_client_but_the_push_was_delivered(fake_line: FakeLine, api: MessagingApi) -> None:
    key = str(uuid.uuid4())
    fake_line.delay_next(1, 1.0)  # the handler thread sleeps on in the background; nobody waits for it
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.HTTPError) as exc:  # not an ApiException
        push(api, "タイムアウト", key, _request_timeout=0.05)
    assert time.monotonic() - started < 0.9
    # urllib3 does not retry a POST after a read timeout: ReadTimeoutError (MaxRetryError would wrap a retry)
    assert isinstance(exc.value, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.MaxRetryError))
    assert fake_line.texts_for(to=USER) == ["タイムアウト"]  # LINE accepted it anyway
    with pytest.raises(ApiException) as retry:  # the correct retry (same key) is refused, no duplicate
        push(api, "タイムアウト", key, _request_timeout=1)
    assert retry.value.status == 409
    assert fake_line.texts_for(to=USER) == ["タイムアウト"]


def test_urllib3_silently_retries_a_timed_out_get(fake_line: FakeLine, api: MessagingApi) -> None:
    """Worth knowing: GETs (profile, content) are retried 3x by urllib3's default Retry; POSTs are not."""
    fake_line.delay_next(3, 0.5, endpoint="getProfile")
    assert api.get_profile(USER, _request_timeout=0.05).user_id == USER
    assert [r.status for r in fake_line.requests] == [200, 200, 200, 200]


def test_delay_next_without_processing_first(fake_line: FakeLine, api: MessagingApi) -> None:
    fake_line.delay_next(1, 0.1, process_first=False)
    with pytest.raises(urllib3.exceptions.HTTPError):
        push(api, "late", _request_timeout=0.03)
    assert fake_line.delivered() == []
    fake_line.wait_for_deliveries(1, timeout=1)  # processed after the delay


def test_fail_ratio_is_seeded_and_thread_safe(fake_line: FakeLine) -> None:
    fake_line.fail_ratio(0.3, 503, seed=7)

    def one(i: int) -> int:
        return raw_post(
            fake_line, "/v2/bot/message/push", {"to": USER, "messages": [{"type": "text", "text": str(i)}]}
        )[0]

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(60)))
    failures = statuses.count(503)
    assert failures + statuses.count(200) == 60
    rng = random.Random(7)  # one draw per request, whatever the thread interleaving
    assert failures == sum(rng.random() < 0.3 for _ in range(60)) > 0
    assert len(fake_line.delivered()) == 60 - failures
    fake_line.fail_ratio(0)
    assert one(99) == 200


def test_fail_next_set_from_another_thread_while_requests_run(fake_line: FakeLine) -> None:
    stop = threading.Event()
    statuses: list[int] = []

    def pusher() -> None:
        while not stop.is_set():
            statuses.append(
                raw_post(fake_line, "/v2/bot/message/push", {"to": USER, "messages": [{"type": "text", "text": "t"}]})[
                    0
                ]
            )

    threads = [threading.Thread(target=pusher) for _ in range(4)]
    for t in threads:
        t.start()
    fake_line.wait_for(lambda: len(statuses) > 10)
    fake_line.fail_next(5, 500)
    fake_line.wait_for(lambda: statuses.count(500) == 5)
    time.sleep(0.02)
    stop.set()
    for t in threads:
        t.join()
    assert statuses.count(500) == 5
    fake_line.assert_no_violations()


def test_wait_for_and_reset(fake_line: FakeLine, api: MessagingApi) -> None:
    threading.Timer(0.05, lambda: push(api, "後から")).start()
    [d] = fake_line.wait_for_deliveries(1, timeout=2)
    assert d.texts == ["後から"]
    with pytest.raises(AssertionError, match="not met"):
        fake_line.wait_for(lambda: False, timeout=0.02)
    fake_line.fail_next(3)
    fake_line.reset()
    assert fake_line.deliveries == [] and fake_line.requests == []
    assert push(api, "after reset").status_code == 200


# ============================================================================ contract


def test_empty_messages_is_recorded_as_violation(fake_line: FakeLine, api: MessagingApi) -> None:
    token = fake_line.issue_reply_token()
    bad = ReplyMessageRequest.construct(reply_token=token, messages=[])  # the SDK would refuse it client-side
    with pytest.raises(ApiException) as exc:
        api.reply_message_with_http_info(bad)
    assert exc.value.status == 400
    [v] = fake_line.violations
    assert v.kind == "openapi" and "at least 1 items; got 0" in str(v)
    assert reply(api, token, "ok").status_code == 200  # a rejected request does not use up the token


def test_text_over_5000_utf16_units_is_a_violation(fake_line: FakeLine, api: MessagingApi) -> None:
    reply(api, fake_line.issue_reply_token(), "あ" * 5000)  # at the limit: fine
    with pytest.raises(ApiException) as exc:
        reply(api, fake_line.issue_reply_token(), "🍎" * 2501)  # 2501 code points, 5002 UTF-16 units
    assert exc.value.status == 400
    details = json.loads(exc.value.body)["details"]
    assert details[0]["property"] == "messages[0].text"
    [v] = fake_line.violations
    assert v.kind == "docs"  # the spec has no maxLength on text; LINE's docs say 5000


@pytest.mark.parametrize(
    "message, fragment",
    [
        ({"type": "text"}, "'text' is a required property"),
        ({"type": "text", "text": 5}, "not of type 'string'"),
        ({"type": "bogus"}, "not a known 'type'"),
        ({"type": "flex", "altText": "a"}, "'contents' is a required property"),
        (
            {
                "type": "flex",
                "altText": "a",
                "contents": {"type": "bubble", "body": {"type": "box", "layout": "diagonal", "contents": []}},
            },
            "'diagonal' is not one of",
        ),
    ],
)
def test_discriminated_schemas_are_enforced(fake_line: FakeLine, message: dict[str, Any], fragment: str) -> None:
    """openapi-core alone accepts all of these (it ignores discriminator mappings)."""
    status, body = raw_post(fake_line, "/v2/bot/message/push", {"to": USER, "messages": [message]})
    assert status == 400 and body["message"].startswith("The request body has")
    [v] = fake_line.violations
    assert v.kind == "schema" and fragment in str(v)


def test_push_to_malformed_id_and_missing_auth_header(fake_line: FakeLine) -> None:
    status, _ = raw_post(
        fake_line, "/v2/bot/message/push", {"to": "user-1", "messages": [{"type": "text", "text": "x"}]}
    )
    assert status == 400
    req = urllib.request.Request(
        fake_line.url + "/v2/bot/message/push",
        method="POST",
        data=b'{"to":"%s","messages":[{"type":"text","text":"x"}]}' % USER.encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=5)
    assert exc.value.code == 401
    assert [v.kind for v in fake_line.violations] == ["docs", "auth"]


def test_quick_reply_limits(fake_line: FakeLine, api: MessagingApi) -> None:
    def quick(labels: list[str]) -> TextMessage:
        items = [QuickReplyItem(action=SdkMessageAction(label=label, text=label)) for label in labels]
        # .construct(): the SDK itself refuses more than 13 items (pydantic), like the spec does
        return TextMessage(text="どちらですか", quick_reply=QuickReply.construct(items=items))

    twenty = "最寄りの消費生活センターに相談したいです"[:20]
    ok = api.reply_message_with_http_info(
        ReplyMessageRequest(
            reply_token=fake_line.issue_reply_token(), messages=[quick(["はい", "いいえ", twenty] + ["x"] * 10)]
        )
    )
    assert ok.status_code == 200
    fake_line.assert_no_violations()
    for labels, kind, fragment in (
        (["x"] * 14, "openapi", "at most 13 items; got 14"),
        ([twenty + "。"], "docs", "quickReply.items[0].action.label"),
    ):
        with pytest.raises(ApiException):
            api.reply_message_with_http_info(
                ReplyMessageRequest(reply_token=fake_line.issue_reply_token(), messages=[quick(labels)])
            )
        assert fake_line.violations[-1].kind == kind
        assert fragment in str(fake_line.violations[-1])


def flex_call_card(*uris: str) -> dict[str, Any]:
    buttons = [
        {"type": "button", "style": "primary", "action": {"type": "uri", "label": f"電話する {i}", "uri": uri}}
        for i, uri in enumerate(uris)
    ]
    return {
        "type": "flex",
        "altText": "相談窓口の電話番号",
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [{"type": "text", "text": "消費者ホットライン 188", "wrap": True, "weight": "bold"}],
            },
            "footer": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": buttons},
        },
    }


def test_flex_with_tel_uri_actions_validates(fake_line: FakeLine, api: MessagingApi) -> None:
    message = FlexMessage.from_dict(flex_call_card("tel:0120279338", "tel:%239110", "tel:188"))
    resp = api.reply_message_with_http_info(
        ReplyMessageRequest(reply_token=fake_line.issue_reply_token(), messages=[message])
    )
    assert resp.status_code == 200
    sent = fake_line.delivered()[0].messages[0]
    assert [b["action"]["uri"] for b in sent["contents"]["footer"]["contents"]] == [
        "tel:0120279338",
        "tel:%239110",
        "tel:188",
    ]
    assert fake_line.texts_for() == ["相談窓口の電話番号"]
    fake_line.assert_no_violations()


def test_flex_with_unescaped_hash_in_tel_uri_is_flagged(fake_line: FakeLine) -> None:
    status, body = raw_post(fake_line, "/v2/bot/message/push", {"to": USER, "messages": [flex_call_card("tel:#9110")]})
    assert status == 400
    assert body["details"][0]["property"] == "messages[0].contents.footer.contents[0].action.uri"
    assert fake_line.violations[0].kind == "docs"


def test_flex_alt_text_limit(fake_line: FakeLine) -> None:
    card = flex_call_card("tel:188")
    card["altText"] = "あ" * 1501
    assert raw_post(fake_line, "/v2/bot/message/push", {"to": USER, "messages": [card]})[0] == 400


def test_blob_download_goes_to_the_same_fake(fake_line: FakeLine) -> None:
    fake_line.set_content("4711", b"%PDF-1.7 fake", "application/pdf")
    with ApiClient(fake_line.configuration()) as client:
        data = MessagingApiBlob(client).get_message_content("4711")
    assert bytes(data) == b"%PDF-1.7 fake"
    fake_line.assert_no_violations()  # validated against the api-data.line.me server of that operation


# ============================================================================ webhooks

ALL_BUILDERS = {
    "text": lambda: text_event("屋根の無料点検で契約してしまいました"),
    "sticker": lambda: sticker_event(keywords=["OK"]),
    "image": lambda: image_event(),
    "image_external": lambda: image_event(
        original_url="https://example.com/a.jpg", preview_url="https://example.com/p.jpg"
    ),
    "audio": lambda: audio_event(),
    "file": lambda: file_event(),
    "location": lambda: location_event("札幌市中央区北1条西2丁目", 43.0621, 141.3544, title="札幌市役所"),
    "follow": lambda: follow_event(),
    "unfollow": lambda: unfollow_event(),
    "postback": lambda: postback_event("action=call&to=188", params={"date": "2026-11-27"}),
}
SDK_TYPES = {
    "text": (MessageEvent, TextMessageContent),
    "sticker": (MessageEvent, StickerMessageContent),
    "image": (MessageEvent, ImageMessageContent),
    "image_external": (MessageEvent, ImageMessageContent),
    "audio": (MessageEvent, AudioMessageContent),
    "file": (MessageEvent, FileMessageContent),
    "location": (MessageEvent, LocationMessageContent),
    "follow": (FollowEvent, None),
    "unfollow": (UnfollowEvent, None),
    "postback": (PostbackEvent, None),
}


@pytest.mark.parametrize("name", sorted(ALL_BUILDERS))
def test_every_builder_passes_the_webhook_contract_and_parses_in_the_sdk(name: str) -> None:
    body = callback([ALL_BUILDERS[name]()])
    validate_webhook(body)
    event = body["events"][0]
    assert ULID_RE.match(event["webhookEventId"]) and len(event["webhookEventId"]) == 26
    assert USER_ID_RE.match(event["source"]["userId"]) and USER_ID_RE.match(body["destination"])
    assert event["mode"] == "active" and event["timestamp"] > 10**12
    assert ("replyToken" in event) is (name != "unfollow")
    raw = dumps(body)
    [parsed] = WebhookParser(SECRET).parse(raw.decode("utf-8"), sign(raw, SECRET))
    event_cls, content_cls = SDK_TYPES[name]
    assert isinstance(parsed, event_cls)
    if content_cls is not None:
        assert isinstance(parsed.message, content_cls)
    assert parsed.webhook_event_id == event["webhookEventId"]


def test_verify_button_body_and_multiple_events_validate() -> None:
    validate_webhook(callback([]))
    body = callback([text_event("一つ目"), text_event("二つ目"), redelivered(text_event("再送"))])
    validate_webhook(body)
    ids = [e["webhookEventId"] for e in body["events"]]
    assert len(set(ids)) == 3
    assert body["events"][2]["deliveryContext"] == {"isRedelivery": True}
    assert len(reply_tokens(body)) == 3


def test_ulids_are_unique_and_time_ordered() -> None:
    ids = [new_ulid(1_700_000_000_000 + i) for i in range(200)]
    assert len(set(ids)) == 200 and ids == sorted(ids)
    assert all(ULID_RE.match(i) for i in ids)


@pytest.mark.parametrize(
    "breakage, fragment",
    [
        (lambda b: b.update(destination="U123"), "destination"),
        (lambda b: b["events"][0].pop("webhookEventId"), "webhookEventId"),
        (lambda b: b["events"][0]["message"].pop("quoteToken"), "quoteToken"),  # only the discriminator layer sees this
        (lambda b: b["events"][0].update(type="messageEdited"), "not a known 'type'"),
        (lambda b: b["events"][0].update(webhookEventId="evt-1"), "ULID"),
        (lambda b: b["events"][0].update(timestamp=1_700_000_000), "milliseconds"),
        (lambda b: b["events"][0].update(mode="paused"), "mode"),
    ],
)
def test_a_broken_body_fails_validation(breakage: Any, fragment: str) -> None:
    body = callback([text_event("x")])
    breakage(body)
    with pytest.raises(WebhookContractError) as exc:
        validate_webhook(body)
    assert fragment in str(exc.value)


def test_sign_matches_line_and_the_sdk() -> None:
    raw = dumps(callback([text_event("héllo 🍎")]))
    assert "🍎".encode() in raw  # non-ASCII is not escaped, like LINE
    signature = sign(raw, SECRET)
    WebhookParser(SECRET).parse(raw.decode("utf-8"), signature)  # no InvalidSignatureError
    with pytest.raises(InvalidSignatureError):
        WebhookParser("another-secret").parse(raw.decode("utf-8"), signature)


def make_echo_app(fake: FakeLine) -> Flask:
    """A minimal LINE webhook app (platforms.md §2.5) for exercising post_signed."""
    handler = WebhookHandler(SECRET)
    app = Flask(__name__)

    @app.post("/callback")
    def cb() -> str:
        signature = request.headers.get("X-Line-Signature")
        if signature is None:
            abort(400)
        try:
            handler.handle(request.get_data(as_text=True), signature)
        except InvalidSignatureError:
            abort(400)
        return "OK"

    @handler.add(MessageEvent, message=TextMessageContent)
    def on_text(event: MessageEvent) -> None:
        with ApiClient(fake.configuration()) as client:
            MessagingApi(client).reply_message(
                ReplyMessageRequest(
                    reply_token=event.reply_token, messages=[TextMessage(text="受け付けました: " + event.message.text)]
                )
            )

    return app


@pytest.mark.parametrize(
    "tamper, status",
    [(None, 200), ("body", 400), ("reserialized", 400), ("signature", 400), ("missing", 400), ("empty", 400)],
)
def test_post_signed_to_flask_test_client(fake_line: FakeLine, tamper: str | None, status: int) -> None:
    body = callback([text_event("訪問販売で契約しました")])
    for token in reply_tokens(body):
        fake_line.issue_reply_token(token, user_id=DEFAULT_USER_ID)
    resp = post_signed(make_echo_app(fake_line).test_client(), body, SECRET, tamper=tamper)
    assert resp.status == status
    expected = ["受け付けました: 訪問販売で契約しました"] if status == 200 else []
    assert fake_line.texts_for(to=DEFAULT_USER_ID) == expected
    fake_line.assert_no_violations()


def test_post_signed_to_a_real_server_and_malformed_bodies(fake_line: FakeLine) -> None:
    server = make_server("127.0.0.1", 0, make_echo_app(fake_line), threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/callback"
    try:
        body = callback([text_event("本物のHTTPで")])
        fake_line.issue_reply_token(reply_tokens(body)[0])
        resp = post_signed(url, body, SECRET)
        assert (resp.status, resp.text) == (200, "OK")
        assert fake_line.texts_for() == ["受け付けました: 本物のHTTPで"]
        assert post_signed(url, body, SECRET, tamper="signature").status == 400
        with pytest.raises(WebhookContractError):
            post_signed(url, {"destination": "nope", "events": []}, SECRET)
        with pytest.raises(ValueError):
            post_signed(url, b"{not json", SECRET)
        # the app under test decides what a malformed (but correctly signed) body gets; here: 500
        assert post_signed(url, b"{not json", SECRET, validate=False).status == 500
    finally:
        server.shutdown()
