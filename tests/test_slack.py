"""Slack: requests signed exactly as Slack signs them, through the real Bolt app, against a
local Slack Web API fake that checks every call against slack_web_openapi_v2.json."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings
from bot.live import build
from bot.web import create_app
from fakes.line_api import FakeLine
from fakes.line_webhook import callback, post_signed, text_event
from fakes import slack_events
from fakes.slack_api import FakeSlack, block_problems

SLACK_SECRET = "test-signing-secret"
LINE_SECRET = "test-channel-secret"
ALERTS = "C0ALERTS"


@pytest.fixture(scope="module")
def escalating_version(settings):
    return build(settings, escalation=True)


@contextmanager
def platform_env(target, version):
    """The app with both platforms' fakes, on one storage target; checks the fakes' spec findings after."""
    with FakeSlack() as slack, FakeLine() as line:
        base = Settings.from_env({})
        settings = Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir,
                            **target.settings(), cache_dir=base.cache_dir,
                            line_channel_secret=LINE_SECRET, line_channel_access_token=line.access_token,
                            line_api_base_url=line.url, line_timeout=(1.0, 1.0),
                            slack_signing_secret=SLACK_SECRET, slack_bot_token=slack.token,
                            slack_api_base_url=slack.api_url, slack_escalation_channel=ALERTS)
        app = create_app(settings, version=version, start_worker=False)
        yield Env(app, slack, line)
        assert slack.violations == []
        line.assert_no_violations()


@pytest.fixture
def env(db_target, escalating_version):
    """Slack and LINE apps on each storage engine (tests/engines.py)."""
    with platform_env(db_target, escalating_version) as e:
        yield e


class Env:
    def __init__(self, app, slack: FakeSlack, line: FakeLine):
        self.app, self.slack, self.line = app, slack, line
        self.client = app.test_client()
        self.services = app.extensions["tsunagu"]

    def post(self, body: str, content_type="application/json", ts=None, secret=SLACK_SECRET, extra=None):
        return self._send(slack_events.signed(body, secret, content_type=content_type, ts=ts, extra=extra))

    def _send(self, signed_request: tuple[bytes, dict]):
        data, headers = signed_request
        return self.client.post("/slack/events", data=data, headers=headers)

    def command(self, text: str, trigger_id: str | None = None):
        return self._send(slack_events.command(text, SLACK_SECRET, self.slack.response_url(), trigger_id=trigger_id))

    def ask(self, text: str) -> dict:
        """``/tsunagu text``: acknowledged at once, then answered by the worker through the
        command's response_url (what was posted there)."""
        answered = len(self.slack.responses)
        started = time.perf_counter()
        r = self.command(text)
        assert r.status_code == 200 and time.perf_counter() - started < 3.0     # Slack's 3 seconds
        self.settle()
        assert len(self.slack.responses) == answered + 1
        return self.slack.responses[-1].args

    def action(self, payload: dict):
        return self._send(slack_events.action(payload, SLACK_SECRET))

    def mention(self, text: str, event_id: str = "Ev0001", retry: int | None = None):
        signed = slack_events.mention(text, SLACK_SECRET, event_id=event_id, retry=retry)
        self.last_event = json.loads(signed[0])["event"]
        return self._send(signed)

    def line_says(self, text: str, user: str = "U" + "a" * 32):
        event = text_event(text, user_id=user)
        self.line.issue_reply_token(event["replyToken"], user_id=user)
        assert post_signed(self.client, callback([event]), LINE_SECRET, path="/line/webhook").status == 200
        self.settle()
        return [d for d in self.line.delivered() if d.reply_token == event["replyToken"]][0].messages

    def settle(self, timeout: float = 10.0) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if not self.services.worker.step():
                if self.services.store.depth() == {"inbox": 0, "outbox": 0}:
                    return
                time.sleep(0.05)
        raise AssertionError("still queued")


def _texts(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


# -- signature ---------------------------------------------------------------------------------------
def test_url_verification(env):
    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"})
    assert env.post(body).get_json() == {"challenge": "abc123"}


@pytest.mark.parametrize("case", ["wrong_secret", "old", "missing"])
def test_bad_signature_or_old_timestamp_is_401(env, case):
    body = json.dumps({"token": "x", "challenge": "abc", "type": "url_verification"})
    if case == "wrong_secret":
        r = env.post(body, secret="other")
    elif case == "old":
        r = env.post(body, ts=int(time.time()) - 301)
    else:
        r = env.client.post("/slack/events", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert env.slack.calls == []


# -- slash command -------------------------------------------------------------------------------------
def test_slash_command_answers_within_3s_with_the_local_windows(env):
    started = time.perf_counter()
    r = env.command("訪問販売で布団を買わされた。３日前に契約。〒060-0001")
    took = time.perf_counter() - started
    assert r.status_code == 200 and took < 3.0
    assert env.services.store.depth()["inbox"] == 1            # stored before the acknowledgement
    env.settle()
    [answer] = env.slack.responses
    data = answer.args
    text = _texts(data["blocks"])
    assert data["response_type"] == "ephemeral"
    assert "札幌市消費者センター" in text and "011-728-2121" in text
    assert "クーリング・オフ" in text                      # the law point with its deadline
    assert "判定の理由" in text
    assert block_problems(data["blocks"]) == []


def test_area_lookup_and_help(env):
    data = env.ask("窓口 京都市伏見区")
    text = _texts(data["blocks"])
    assert "京都市消費生活総合センター" in text and "075-256-0800" in text
    assert "使い方" in env.command("help").get_json()["text"]         # help: in the acknowledgement itself
    assert "郵便番号" in _texts(env.ask("窓口 どこか")["blocks"])


def test_a_command_sent_twice_is_answered_once(env):
    """Deduplicated on its trigger_id, like an event on its event_id."""
    assert env.command("訪問販売で布団を買わされた", trigger_id="9.9.9").status_code == 200
    assert env.command("訪問販売で布団を買わされた", trigger_id="9.9.9").status_code == 200
    env.settle()
    assert len(env.slack.responses) == 1


def test_a_command_answer_is_retried_when_slack_fails(env):
    env.slack.fail_response_next(1, 503)
    env.command("訪問販売で布団を買わされた")
    env.settle(timeout=15)
    assert len(env.slack.responses) == 2 and env.services.store.depth() == {"inbox": 0, "outbox": 0}


# -- app mention -----------------------------------------------------------------------------------------
def test_app_mention_is_answered_in_the_thread(env):
    assert env.mention("188と#9110の使い分けは？").status_code == 200
    env.settle()
    posts = env.slack.calls_to("chat.postMessage")
    assert len(posts) == 1
    args = posts[0].args
    assert args["thread_ts"] == env.last_event["ts"] and args["channel"] == "C0STAFF"
    assert "警察相談専用電話" in args["text"] and "消費生活センター" in args["text"]


def test_retries_never_double_post(env):
    env.mention("ヤミ金の相談はどこ？", event_id="EvRETRY")
    env.mention("ヤミ金の相談はどこ？", event_id="EvRETRY", retry=1)
    env.mention("ヤミ金の相談はどこ？", event_id="EvRETRY", retry=2)
    env.settle()
    assert len(env.slack.calls_to("chat.postMessage")) == 1


def test_rate_limited_post_is_retried(env):
    env.slack.rate_limit_next(1, retry_after=1)
    env.mention("サポステってなに？", event_id="EvRL")
    env.settle()
    assert len(env.slack.calls_to("chat.postMessage")) >= 2
    assert env.services.store.counts()["outbox"] == {"sent": 1}


def test_a_slack_outage_is_retried_but_a_malformed_message_is_not(env):
    env.slack.fail_next(2, status=500)
    env.mention("サポステってなに？", event_id="EvDown")
    env.settle()
    assert len(env.slack.calls_to("chat.postMessage")) == 3
    env.slack.fail_next(1, status=200, error="invalid_blocks")
    env.mention("サポステってなに？", event_id="EvBad")
    env.settle()
    assert len(env.slack.calls_to("chat.postMessage")) == 4
    rows = [(r["event_id"], r["status"], r["last_error"]) for r in env.services.store.outbox()]
    assert rows == [("slack:EvDown", "sent", "slack fatal_error"), ("slack:EvBad", "failed", "slack invalid_blocks")]


# -- escalation ----------------------------------------------------------------------------------------------
def test_escalation_needs_consent_then_posts_one_masked_alert(env):
    user = "U" + "b" * 32
    first = env.line_says("田中です。弟のヤミ金の取り立てが毎日来て怖い。電話は090-1234-5678です", user)
    question = first[-1]
    assert "相談員" in _texts(first)
    labels = [i["action"]["label"] for i in question["quickReply"]["items"]]
    assert "はい" in labels and "いいえ" in labels
    assert env.slack.calls_to("chat.postMessage") == []          # nothing without consent

    thanks = env.line_says("はい", user)
    env.settle()
    posts = env.slack.calls_to("chat.postMessage")
    assert len(posts) == 1
    alert = posts[0].args
    assert alert["channel"] == ALERTS
    body = _texts(alert["blocks"]) + alert["text"]
    assert "090-1234-5678" not in body and "田中" not in body and user not in body
    case_no = env.services.store.escalations()[0]["case_no"]
    assert case_no in body and case_no in _texts(thanks)
    assert "ヤミ金" in body

    env.line_says("はい", user)                                     # a second はい does not post again
    env.settle()
    assert len(env.slack.calls_to("chat.postMessage")) == 1


def test_declined_or_calm_cases_are_not_escalated(env):
    user = "U" + "c" * 32
    env.line_says("弟のヤミ金の取り立てが毎日来て怖い", user)
    env.line_says("いいえ", user)
    env.line_says("サポステってなに？", user)
    env.settle()
    assert env.slack.calls_to("chat.postMessage") == []


def test_emergency_asks_for_consent_only_with_the_next_answer(env):
    """An emergency's answer is the 110 card and the text, nothing else to tap; the consent
    question comes, as its own last message, with the answer to the family's next message."""
    user = "U" + "e" * 32
    first = env.line_says("今、息子が包丁を振り回して暴れています。田中です", user)
    assert first[0]["type"] == "flex"
    button = next(c for box in first[0]["contents"]["body"]["contents"] if box["type"] == "box"
                  for c in box["contents"] if c["type"] == "button")
    assert button["action"]["uri"] == "tel:110"                     # the first action is the call
    texts = env.services.live.conversation().texts
    assert texts.consent_question_later not in _texts(first) and "相談員" not in _texts(first)
    assert all("quickReply" not in m for m in first)
    assert env.slack.calls_to("chat.postMessage") == []

    early = env.line_says("はい", user)        # a はい that answers no question is not consent
    env.settle()
    assert env.slack.calls_to("chat.postMessage") == []
    assert [m["text"] for m in early] == [texts.consent_question_later]   # asked now, on its own
    assert [i["action"]["label"] for i in early[-1]["quickReply"]["items"]] == ["はい", "いいえ"]

    thanks = env.line_says("はい", user)
    env.settle()
    posts = env.slack.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert "受付番号" in _texts(thanks)
    body = _texts(posts[0].args["blocks"])
    assert "包丁" in body and "田中" not in body                   # the emergency's words, masked


def test_an_urgent_answer_asks_below_the_card(env):
    first = env.line_says("弟のヤミ金の取り立てが毎日来て怖い", "U" + "f" * 32)
    kinds = [m["type"] for m in first]
    assert kinds == ["text", "flex", "text"]
    assert first[-1]["text"] == env.services.live.conversation().texts.consent_question
    assert "相談員" not in first[0]["text"]


def test_take_button_records_who_and_updates_the_message(env):
    user = "U" + "d" * 32
    env.line_says("今、息子が包丁を振り回して暴れています", user)
    later = env.line_says("ひきこもりの息子のことも相談したいです", user)   # the question comes after the emergency
    assert later[-1]["text"] == env.services.live.conversation().texts.consent_question_later
    assert [m["type"] for m in later] == ["text", "flex", "text"]  # the answer, its card, then the question
    env.line_says("はい", user)
    env.settle()
    post = env.slack.calls_to("chat.postMessage")[0]
    case_no = env.services.store.escalations()[0]["case_no"]
    payload = {"type": "block_actions", "user": {"id": "U0STAFF", "username": "yamada", "name": "yamada"},
               "api_app_id": "A0001", "team": {"id": "T0001"}, "channel": {"id": ALERTS},
               "container": {"type": "message", "message_ts": "1.000001", "channel_id": ALERTS},
               "message": {"ts": "1.000001", "text": post.args["text"], "blocks": post.args["blocks"]},
               "response_url": env.slack.response_url(), "trigger_id": "1.2",
               "actions": [{"action_id": "tsunagu_take", "block_id": f"take|{case_no}", "type": "button",
                            "value": case_no, "action_ts": "1.2"}]}
    assert env.action(payload).status_code == 200
    env.slack.wait_for(lambda: env.slack.calls_to("chat.update"))
    update = env.slack.calls_to("chat.update")[0].args
    assert update["channel"] == ALERTS and update["ts"] == "1.000001"
    assert "対応中" in _texts(update["blocks"]) and "tsunagu_take" not in _texts(update["blocks"])
    case = env.services.store.escalation(case_no)
    assert case["status"] == "taken" and case["taken_by"] == "U0STAFF"


# -- review queue -------------------------------------------------------------------------------------------
def review_action(env, message: str, correct: str) -> dict:
    """The block action Slack sends when a staff member picks ``correct`` under the answer to ``message``."""
    data = env.ask(message)
    menu = next(b for b in data["blocks"] if b["type"] == "actions")
    option = next(o for o in menu["elements"][0]["options"] if o["value"] == correct)
    return {"type": "block_actions", "user": {"id": "U0STAFF"}, "api_app_id": "A0001", "team": {"id": "T0001"},
            "container": {"type": "message", "is_ephemeral": True}, "channel": {"id": "C0STAFF"},
            "response_url": env.slack.response_url(), "trigger_id": "1.2",
            "actions": [{"action_id": "tsunagu_review", "block_id": menu["block_id"], "type": "static_select",
                         "selected_option": option, "action_ts": "1.3"}]}


def test_review_menu_feeds_the_export(env, db_target, tmp_path, monkeypatch):
    payload = review_action(env, "コンビニで電子マネーを買うように電話で言われた", "tokushu_sagi")
    assert env.action(payload).status_code == 200
    env.slack.wait_for(lambda: len(env.slack.responses) == 2)     # the answer, then the thanks
    rows = env.services.store.reviews()
    assert len(rows) == 1 and rows[0]["correct"] == "tokushu_sagi"

    for name, value in db_target.env().items():               # the CLI on the same database
        monkeypatch.setenv(name, value)
    out = tmp_path / "review.yml"
    r = CliRunner().invoke(cli, ["review", "export", "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert "intents/tokushu_sagi.yml" in text and "電子マネー" in text
    assert env.services.store.reviews() == []                 # exported once


# -- Slack formatting injection ---------------------------------------------------------------------------
INJECTION = ("<!channel> <!here> <!everyone> <@U0ADMIN> <#C0GENERAL> <!subteam^S0TEAM> "
             "<https://evil.example|銀行> & 続き\n>偽の引用\r\n2行目\u20283行目")


def _shown(value) -> list[str]:
    """Every text Slack shows of a payload: ``text`` strings of blocks, fields and elements."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in ([v] if k == "text" and isinstance(v, str) else _shown(v))]
    if isinstance(value, list):
        return [s for v in value for s in _shown(v)]
    return []


def _no_markup(texts: list[str]) -> None:
    for text in texts:
        for control in ("<!", "<@", "<#", "<http"):
            assert control not in text, (control, text)


def test_an_alert_escapes_the_excerpt_and_quotes_every_line(env):
    user = "U" + "9" * 32
    env.line_says("弟のヤミ金の取り立てが毎日来て怖い\n" + INJECTION, user)
    env.line_says("はい", user)
    env.settle()
    alert = env.slack.calls_to("chat.postMessage")[0].args
    blocks = alert["blocks"] if isinstance(alert["blocks"], list) else json.loads(alert["blocks"])
    shown = _shown(blocks) + [alert["text"]]
    _no_markup(shown)
    body = "\n".join(shown)
    assert "&lt;!channel&gt;" in body and "&lt;@U0ADMIN&gt;" in body and "&amp; 続き" in body
    assert "evil.example" not in body                               # the address itself is masked
    excerpt = next(b["text"] for b in blocks if b["type"] == "section" and "ヤミ金" in b.get("text", {}).get("text", ""))
    assert excerpt["verbatim"] is True
    quoted = excerpt["text"].split("\n")[1:]                        # below the bold label
    assert len(quoted) >= 4 and all(line.startswith(">") for line in quoted), quoted
    assert any(line.startswith(">&gt;偽の引用") for line in quoted)


def test_a_staff_text_is_never_echoed_as_markup(env):
    data = env.ask("窓口 " + INJECTION)                             # an area nobody can find: echoed back
    _no_markup(_shown(data))
    assert "&lt;!channel&gt;" in data["text"]

    env.mention("弟のヤミ金の取り立てが毎日来て怖い " + INJECTION, event_id="EvINJ")
    env.settle()
    post = env.slack.calls_to("chat.postMessage")[0].args
    blocks = post["blocks"] if isinstance(post["blocks"], list) else json.loads(post["blocks"])
    _no_markup(_shown(blocks) + [post["text"]])


def test_escape_quote_and_mention_helpers():
    from bot.channels.slack.text import clip, escape, mention, quote

    assert escape("<!here> & <@U1|x>") == "&lt;!here&gt; &amp; &lt;@U1|x&gt;"
    assert escape("&lt;") == "&amp;lt;"                      # an entity typed by someone stays text
    assert quote("a\r\nb\u2028c\n\nd") == ">a\n>b\n>c\n>\n>d"
    assert quote("") == ">" and quote("<!channel>") == ">&lt;!channel&gt;"
    assert mention("U0STAFF", "yamada") == "<@U0STAFF>"
    assert mention("U0STAFF>|<!channel", "<!channel>") == "&lt;!channel&gt;"
    assert clip("ab&amp;", 5) == "ab" and clip("ab&amp;", 7) == "ab&amp;"
