"""The HTTP edge under hostile input (issue 11): what a request can make the bot log, answer and store.

Requests are signed exactly as LINE and Slack sign them (or deliberately not); the app is the real
one (Flask test client, or gunicorn when transfer-encoding matters); LINE and Slack are the local
fakes.  Every test here failed on the code before issue 11 (see the commit message).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
from dataclasses import replace

import pytest

from bot import logs, metrics
from bot.channels.line import retry_key
from bot.channels.line.webhook import inbox_event
from bot.config import Settings
from bot.logs import JsonFormatter, TextFormatter
from bot.web import create_app
from fakes.line_api import FakeLine
from fakes.line_webhook import callback, dumps, new_user_id, post_signed, sign, text_event
from fakes.slack_api import FakeSlack
from servers import ServerProcess

LINE_SECRET = "edge-line-secret"
SLACK_SECRET = "edge-slack-secret"
#: What a family might write; none of it may reach a log.
PHONE, NAME = "090-3141-5926", "山田花子"
DAY_MS = 24 * 3600 * 1000


# -- set-up ------------------------------------------------------------------------------------------
class Edge:
    """The real app with LINE and Slack on, talking to the fakes."""

    def __init__(self, app, line: FakeLine, slack: FakeSlack):
        self.app, self.line, self.slack = app, line, slack
        self.client = app.test_client()
        self.services = app.extensions["tsunagu"]

    def slack_post(self, raw: bytes, *, secret: str = SLACK_SECRET, ts: str | None = None,
                   content_type: str = "application/json", signed: bool = True):
        headers = {"Content-Type": content_type}
        if signed:
            headers.update(slack_signature(raw, secret, ts))
        return self.client.post("/slack/events", data=raw, headers=headers)

    def line_post(self, raw: bytes, secret: str = LINE_SECRET):
        return self.client.post("/line/webhook", data=raw, headers={"Content-Type": "application/json",
                                                                    "X-Line-Signature": sign(raw, secret)})

    def settle(self, timeout: float = 15.0) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if not self.services.worker.step():
                if self.services.store.depth() == {"inbox": 0, "outbox": 0}:
                    return
                time.sleep(0.05)
        raise AssertionError(f"still queued: {self.services.store.depth()}")

    def inbox_rows(self) -> int:
        return self.services.store.table_counts()["inbox"]


def slack_signature(raw: bytes, secret: str, ts: str | None = None) -> dict:
    """Slack's v0 signature over the raw bytes (whatever they are)."""
    ts = str(int(time.time())) if ts is None else ts
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest}


def _settings(tmp_path, line: FakeLine, slack: FakeSlack) -> Settings:
    base = Settings.from_env({})
    return Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir, db_path=tmp_path / "t.db",
                    cache_dir=base.cache_dir, line_channel_secret=LINE_SECRET,
                    line_channel_access_token=line.access_token, line_api_base_url=line.url,
                    line_timeout=(1.0, 1.0), slack_signing_secret=SLACK_SECRET, slack_bot_token=slack.token,
                    slack_api_base_url=slack.api_url)


@pytest.fixture
def edge(tmp_path, live_version, caplog):
    # DEBUG before the app is built: Bolt copies the root level into its loggers when it is created
    # (a real server runs at INFO, and Bolt logged refused bodies at INFO)
    caplog.set_level(logging.DEBUG)
    with FakeLine() as line, FakeSlack() as slack:
        app = create_app(_settings(tmp_path, line, slack), version=live_version, start_worker=False)
        yield Edge(app, line, slack)
        line.assert_no_violations()


def _mention_body(text: str, event_id: str = "EvEDGE1") -> bytes:
    now = int(time.time())
    return json.dumps({"type": "event_callback", "team_id": "T0001", "api_app_id": "A0001", "event_id": event_id,
                       "event_time": now, "event": {"type": "app_mention", "user": "U0STAFF", "channel": "C0STAFF",
                                                     "text": f"<@U0BOT> {text}", "ts": f"{now}.000100",
                                                     "event_ts": f"{now}.000100"}},
                      ensure_ascii=False).encode()


def _logged(records: list[logging.LogRecord]) -> str:
    """Everything the records would write, through both shipped formatters."""
    json_fmt, text_fmt = JsonFormatter(), TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    return "\n".join(json_fmt.format(r) + "\n" + text_fmt.format(r) for r in records)


# -- finding 1: Slack request bodies in logs --------------------------------------------------------
@pytest.mark.parametrize("how", ["wrong_secret", "unsigned", "old_timestamp"])
def test_a_refused_slack_request_writes_nothing_of_its_body_to_any_log(edge, caplog, how):
    caplog.set_level(logging.DEBUG)
    raw = _mention_body(f"{NAME}です。電話は{PHONE}")
    reason = "stale" if how == "old_timestamp" else "bad_signature"
    counted = metrics.REFUSED.labels("slack", reason)._value.get()
    if how == "wrong_secret":
        r = edge.slack_post(raw, secret="not-the-secret")
    elif how == "unsigned":
        r = edge.slack_post(raw, signed=False)
    else:
        r = edge.slack_post(raw, ts=str(int(time.time()) - 3600))
    assert r.status_code == 401
    logged = _logged(caplog.records)
    assert PHONE not in logged and NAME not in logged and "3141" not in logged
    assert edge.inbox_rows() == 0 and edge.slack.calls == []
    assert metrics.REFUSED.labels("slack", reason)._value.get() == counted + 1


def test_bolt_messages_never_quote_a_signed_request(edge, caplog):
    """A correctly signed request Bolt has no listener for: Bolt logs it as "Unhandled request (…body…)"."""
    caplog.set_level(logging.DEBUG)
    payload = {"type": "block_actions", "team": {"id": "T0001"}, "user": {"id": "U0STAFF", "name": NAME},
               "api_app_id": "A0001", "actions": [{"action_id": "someone_elses_button", "value": PHONE,
                                                   "block_id": "b", "type": "button", "action_ts": "1"}],
               "trigger_id": "1.2.3", "container": {"type": "message"}}
    from urllib.parse import urlencode

    raw = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
    r = edge.slack_post(raw, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 404        # Bolt: nothing handles it
    logged = _logged(caplog.records)
    assert any(rec.name.startswith("slack_bolt") for rec in caplog.records), \
        "Bolt did log something (withheld)"
    assert PHONE not in logged and NAME not in logged


@pytest.mark.parametrize("size", [900 * 1024, 5 * 1024 * 1024])
def test_an_unsigned_body_of_megabytes_grows_the_log_by_a_few_hundred_bytes(edge, caplog, size):
    caplog.set_level(logging.DEBUG)
    raw = b'{"type": "event_callback", "pad": "' + b"x" * size + b'"}'
    r = edge.slack_post(raw, signed=False)
    assert r.status_code in (401, 413)
    assert len(_logged(caplog.records).encode()) < 600, "log grew by the request"


def test_every_log_line_is_bounded():
    long = "長" * 20_000
    record = logging.LogRecord("tsunagu.x", logging.ERROR, __file__, 1, "said %s", (long,), None)
    record.detail = long
    try:
        raise ValueError(long)
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert len(data["msg"]) <= logs.MSG_MAX and len(data["detail"]) <= logs.FIELD_MAX
    assert len(data["exc"]) <= logs.EXC_MAX
    assert long[:100] not in data["exc"]            # the exception's message is never written
    text = TextFormatter("%(levelname)s %(name)s %(message)s").format(record)
    assert len(text.splitlines()[0]) <= logs.MSG_MAX + 40


# -- finding 2: malformed input → 4xx ---------------------------------------------------------------
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("raw, status", [
    (DEEP, 400),
    (b'{"destination": "U1", "events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
    (b'{"events": [], "x": "\xff\xfe"}', 400),
    (b"[1, 2]", 400),
    (b'{"destination": "U1", "events": {"0": {}}}', 400),
    (b'{"destination": "U1", "events": [{"type": "message", "source": "not an object", "timestamp": 1}]}', 200),
])
def test_line_malformed_signed_bodies_get_4xx_not_500(edge, raw, status):
    r = edge.line_post(raw)
    assert r.status_code == status, r.get_data()[:200]
    assert b"Traceback" not in r.get_data()


@pytest.mark.parametrize("raw, headers, status", [
    (DEEP, None, 400),
    (b'{"type": "event_callback", "event": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None, 400),
    (b'{"type": "event_callback", "x": "\xff\xfe"}', None, 400),
    (b"[1, 2]", None, 400),
    (b'{"type": "event_callback", "event_id": "Ev1", "event": ["app_mention"]}', None, 400),
    (b'{"type": "event_callback", "event_id": "Ev2", "event": {"type": "app_mention", "user": "U1", '
     b'"text": "x", "event_ts": "soon"}}', None, 200),
    (b'{"type": "url_verification", "challenge": "c"}', {"X-Slack-Request-Timestamp": "yesterday"}, 401),
    (b'{"type": "url_verification", "challenge": "c"}', {"X-Slack-Request-Timestamp": ""}, 401),
    (b'{"type": "url_verification", "challenge": "c"}', {"X-Slack-Request-Timestamp": "1e12"}, 401),
    (b'{"type": "url_verification", "challenge": "c"}', {"X-Slack-Request-Timestamp": "\u00b2"}, 401),
    (b'{"type": "url_verification", "challenge": "c"}', {"X-Slack-Signature": "v0=\u00ff\u00fe"}, 401),
])
def test_slack_malformed_bodies_and_timestamps_get_4xx_not_500(edge, raw, headers, status):
    signed = slack_signature(raw, SLACK_SECRET, (headers or {}).get("X-Slack-Request-Timestamp"))
    signed.update(headers or {})
    r = edge.client.post("/slack/events", data=raw, headers={"Content-Type": "application/json", **signed})
    assert r.status_code == status, r.get_data()[:200]
    assert b"Traceback" not in r.get_data()


def _chunked_post(url: str, path: str, headers: dict, total: int) -> tuple[int, bytes]:
    """POST ``total`` bytes with Transfer-Encoding: chunked (no Content-Length); status and body."""
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.putrequest("POST", path)
    for k, v in {**headers, "Transfer-Encoding": "chunked"}.items():
        conn.putheader(k, v)
    conn.endheaders()
    chunk = b"[" * 65536
    sent = 0
    try:
        while sent < total:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass                      # the server answered and closed before the end: fine
    try:
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_chunked_10mb_bodies_get_413_from_the_real_server(tmp_path):
    with FakeLine() as line, FakeSlack() as slack:
        env = {"LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": line.access_token,
               "LINE_API_BASE_URL": line.url, "SLACK_SIGNING_SECRET": SLACK_SECRET,
               "SLACK_BOT_TOKEN": slack.token, "SLACK_API_BASE_URL": slack.api_url}
        with ServerProcess(tmp_path, env, workers=1, threads=2) as server:
            before = len(server.log())
            ten_mb = 10 * 1024 * 1024
            line_status = _chunked_post(server.url, "/line/webhook",
                                        {"Content-Type": "application/json", "X-Line-Signature": "x"}, ten_mb)
            slack_status = _chunked_post(server.url, "/slack/events",
                                         {"Content-Type": "application/json", **slack_signature(b"", SLACK_SECRET)},
                                         ten_mb)
            assert (line_status, slack_status) == ((413, b"body too large"), (413, b"body too large"))
            assert server.health()["status"] == "ok"
            time.sleep(0.5)
            assert len(server.log()) - before < 600, server.log()[before:][:2000]


# -- finding 3: one bad event never fails the batch -------------------------------------------------
def test_a_lone_surrogate_in_one_event_does_not_fail_the_others(edge):
    users = [new_user_id() for _ in range(3)]
    texts = ["訪問販売で布団を買わされた", "息子が部屋から出てこない@@LONE@@どうしたら", "借金の取り立てが怖い"]
    events = [text_event(t, user_id=u) for t, u in zip(texts, users)]
    for e in events:
        edge.line.issue_reply_token(e["replyToken"], user_id=e["source"]["userId"])
    # "\ud800" as LINE would escape it in JSON: valid JSON text, a lone surrogate once parsed
    raw = dumps(callback(events)).replace(b"@@LONE@@", b"\\ud800")
    r = edge.line_post(raw)
    assert r.status_code == 200, r.get_data()[:200]
    edge.settle()
    answered = {d.reply_token for d in edge.line.delivered()}
    assert [e["replyToken"] in answered for e in events] == [True, True, True]
    middle = next(d for d in edge.line.delivered() if d.reply_token == events[1]["replyToken"])
    error_reply = edge.services.live.conversation().texts.error_reply
    assert all(m.get("text") != error_reply for m in middle.messages), "answered, not apologised for"


# -- finding 4: replay window -----------------------------------------------------------------------
def _refused(reason: str) -> float:
    return metrics.REFUSED.labels("line", reason)._value.get()


def _answers(edge: Edge, event: dict) -> list:
    key = retry_key("line:" + event["webhookEventId"])
    return [d for d in edge.line.delivered() if d.reply_token == event["replyToken"] or d.retry_key == key]


def test_a_webhook_replayed_after_the_purge_is_not_answered_again(edge):
    store = edge.services.store
    two_days_ago = int(time.time() * 1000) - 2 * DAY_MS
    event = text_event("訪問販売で布団を買わされた", timestamp=two_days_ago)
    # answered two days ago (stored then), then the retention purge deleted its row
    edge.line.issue_reply_token(event["replyToken"], user_id=event["source"]["userId"])
    store.accept([inbox_event(event, store)], now=two_days_ago / 1000)
    edge.settle()
    assert len(_answers(edge, event)) == 1          # by push: a 2-day-old reply token is no use
    store.purge(0, time.time() + 1)
    assert edge.inbox_rows() == 0
    stale_before = _refused("stale")
    fresh = text_event("借金の取り立てが怖い")
    edge.line.issue_reply_token(fresh["replyToken"], user_id=fresh["source"]["userId"])
    r = post_signed(edge.client, callback([event, fresh]), LINE_SECRET, path="/line/webhook")
    assert r.status == 200                          # LINE must not redeliver it
    edge.settle()
    assert len(_answers(edge, event)) == 1, "the replay was answered again"
    assert len(_answers(edge, fresh)) == 1          # the fresh event of the same batch is answered
    assert _refused("stale") == stale_before + 1


def test_the_replay_window_is_never_longer_than_the_retention():
    assert Settings.from_env({}).replay_window == 24 * 3600
    assert Settings.from_env({"TSUNAGU_REPLAY_WINDOW": "600"}).replay_window == 600
    assert Settings.from_env({"TSUNAGU_REPLAY_WINDOW": str(90 * 86400),
                              "TSUNAGU_RETENTION_DAYS": "7"}).replay_window == 7 * 86400


# -- finding 5: Host check for /try -----------------------------------------------------------------
@pytest.fixture
def try_app(settings, live_version, tmp_path):
    def make(**changes):
        s = replace(settings, db_path=tmp_path / "try.db", **changes)
        return create_app(s, version=live_version, start_worker=False).test_client()
    return make


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io:8000", "localhost.evil"])
def test_try_refuses_a_rebound_host_name(try_app, host):
    client = try_app()
    page = client.get("/try", headers={"Host": host})
    api = client.post("/try/api", json={"text": "訪問販売"}, headers={"Host": host})
    for r in (page, api):
        assert r.status_code == 421
        body = r.get_data(as_text=True)
        assert "TSUNAGU_ALLOWED_HOSTS" in body and "ホスト" in body and "<script" not in body


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:5000", "[::1]:8000", "LOCALHOST"])
def test_try_answers_the_local_host_names(try_app, host):
    client = try_app()
    assert client.get("/try", headers={"Host": host}).status_code == 200
    assert client.post("/try/api", json={"text": "訪問販売"}, headers={"Host": host}).status_code == 200


def test_allowed_hosts_come_from_the_environment(try_app):
    hosts = Settings.from_env({"TSUNAGU_ALLOWED_HOSTS": " Bot.Example.JP , localhost"}).allowed_hosts
    assert hosts == ("bot.example.jp", "localhost")
    client = try_app(allowed_hosts=hosts, try_page=True)
    assert client.get("/try", headers={"Host": "bot.example.jp:443"}).status_code == 200
    assert client.get("/try", headers={"Host": "127.0.0.1"}).status_code == 421
