"""Channels: the memory channel (the whole pipeline, no HTTP), the registry (a channel registered
in a test is served without other code changes) and the escalation service."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime

import pytest
from click.testing import CliRunner
from flask import request

from bot.channels.base import Context, Outcome, inbox_blueprint, refuse
from bot.channels.family import FamilyProcessor
from bot.channels.memory import MemoryChat
from bot.channels.registry import CHANNELS
from bot.cli import cli
from bot.conversation import Turn
from bot.escalation import Escalation, case_number
from bot.live import Live, build
from bot.request_body import decode_utf8, parse_object, read_body
from bot.storage import InboxEvent, Outgoing, Store, open_store
from bot.web import create_app

from conftest import NOW

WORRY = "訪問販売で布団を買わされた。３日前に契約。"
URGENT = "弟のヤミ金の取り立てが毎日来て怖い。電話は090-1234-5678です"


def _store(db_target) -> Store:
    """A store on each engine (tests/engines.py): the pipeline is the same on SQLite and PostgreSQL."""
    return db_target.open()


@pytest.fixture(scope="module")
def escalating_version(settings):
    return build(settings, escalation=True)


# -- the memory channel ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", [WORRY, "今、息子が包丁を振り回して暴れています", "サポステってなに？"])
def test_a_family_message_gets_what_tsunagu_triage_says(settings, live_version, db_target, text):
    chat = MemoryChat(_store(db_target), Live(settings, live_version), clock=lambda: NOW)
    [answer] = chat.say(text)
    printed = CliRunner().invoke(cli, ["triage", "--json", "--now", NOW.strftime("%Y-%m-%dT%H:%M"), text])
    assert printed.exit_code == 0, printed.output
    decided = json.loads(printed.output)
    assert answer["kind"] == "answer"
    assert answer["decision"] == decided
    assert answer["text"] == decided["reply"]
    assert chat.store.depth() == {"inbox": 0, "outbox": 0}      # claimed, completed and delivered


def test_the_session_is_kept_between_messages(settings, live_version, db_target):
    """A worry without an area, then the area: the second answer is the follow-up for the first
    worry, which only works if the session went through the store."""
    chat = MemoryChat(_store(db_target), Live(settings, live_version), clock=lambda: NOW)
    [first] = chat.say("ひきこもりの息子のことを相談したい")
    assert first["ask_area"] is True
    [second] = chat.say("京都市伏見区")
    assert second["kind"] == "area_followup"
    assert second["decision"]["intent"] == first["decision"]["intent"]
    assert second["decision"]["area"]["municipality"] == "京都市伏見区"
    [other] = chat.say("京都市伏見区", user="someone else")      # another family has no worry waiting
    assert other["kind"] == "area_only"


# -- the registry ---------------------------------------------------------------------------------
class Toy:
    """A toy SMS-like gateway: ``POST /toy/webhook {"from", "text"}``, answers kept in ``sent``."""

    name = "toy"

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.processor = FamilyProcessor(self, ctx.live.conversation, ctx.store, ctx.escalation)
        self.sent: list[tuple[str, str]] = []

    def blueprint(self):
        return inbox_blueprint(self.name, "/toy/webhook", self.parse, self.ctx.store, self.ctx.wake)

    def parse(self) -> list[InboxEvent]:
        body = parse_object(decode_utf8(read_body(request, 10_000)))
        if not all(isinstance(body.get(key), str) for key in ("id", "from", "text")):
            raise refuse(self.name, "malformed", "id, from and text are required")
        return [InboxEvent(f"toy:{body['id']}", self.name, "message:text",
                           self.ctx.store.user_hash(self.name, body["from"]), time.time(), body)]

    def process(self, claimed, now):
        return self.processor.process(claimed, now)

    def fallback(self, claimed):
        return self.processor.fallback(claimed)

    def content(self, claimed) -> str:
        return claimed.payload["text"]

    def render(self, turn: Turn, texts) -> list[dict]:
        return [{"sms": turn.text}]

    def address(self, claimed, messages) -> Outgoing:
        return Outgoing(channel=self.name, user_hash=claimed.user_hash, to_id=claimed.payload["from"],
                        reply_token=None, messages=messages, retry_key=claimed.event_id,
                        event_ts=claimed.event_ts)

    def send(self, delivery) -> Outcome:
        self.sent += [(delivery.to_id, m["sms"]) for m in delivery.messages]
        self.ctx.store.delivered(delivery, "sms", time.time())
        return Outcome("delivered", "sms")


def _bare(settings, tmp_path):
    """The test settings (no LINE or Slack secrets: only a registered toy can be on), a database of its own."""
    assert not settings.line_enabled and not settings.slack_enabled
    return replace(settings, db_path=tmp_path / "t.db")


def test_a_registered_channel_is_served_and_answered(settings, live_version, tmp_path, monkeypatch, triage):
    toys: list[Toy] = []
    monkeypatch.setitem(CHANNELS, "toy", lambda ctx: toys.append(Toy(ctx)) or toys[-1])
    app = create_app(_bare(settings, tmp_path), version=live_version, start_worker=False)
    client = app.test_client()
    services = app.extensions["tsunagu"]
    assert client.get("/healthz").get_json()["channels"] == {"slack": False, "line": False, "toy": True}

    message = {"id": "1", "from": "+81 90 0000 0000", "text": WORRY}
    assert client.post("/toy/webhook", json=message).status_code == 200
    assert client.post("/toy/webhook", json=message).status_code == 200       # a retry: stored once
    assert client.post("/toy/webhook", json={"id": "2"}).status_code == 400   # refused, nothing stored
    while services.worker.step():
        pass
    [(to, text)] = toys[0].sent
    assert to == message["from"]
    assert text == triage.decide(WORRY, now=datetime.now(NOW.tzinfo)).reply


def test_a_channel_without_its_settings_is_off(settings, live_version, tmp_path, monkeypatch):
    monkeypatch.setitem(CHANNELS, "toy", lambda ctx: None)
    client = create_app(_bare(settings, tmp_path), version=live_version, start_worker=False).test_client()
    assert client.get("/healthz").get_json()["channels"]["toy"] is False
    assert client.post("/toy/webhook", json={"text": "x"}).status_code == 404


# -- the escalation service -----------------------------------------------------------------------
def _turn(case: dict | None) -> Turn:
    return Turn("consented", "受付番号は {case_no} です", None, {}, escalation=case)


def test_escalate_numbers_the_case_and_builds_one_alert():
    alerts: list[tuple[dict, float]] = []
    service = Escalation()
    assert not service.enabled
    case = {"intent": "loan_shark", "urgency": "urgent", "excerpt": "…"}
    unrouted = service.escalate(_turn(case), "line:ev1", 5.0, NOW)
    assert unrouted.case is None and unrouted.alerts == ()            # no staff channel: nothing sent

    service.route(lambda c, ts: alerts.append((c, ts)) or Outgoing("staff", None, None, None, [c], "k", ts))
    done = service.escalate(_turn(case), "line:ev1", 5.0, NOW)
    number = case_number("line:ev1", NOW)
    assert done.case == {**case, "case_no": number}
    assert done.turn.text == f"受付番号は {number} です"
    assert alerts == [(done.case, 5.0)] and len(done.alerts) == 1
    assert service.escalate(_turn(case), "line:ev1", 5.0, NOW).case == done.case   # a retry: the same number
    assert case_number("line:ev2", NOW) != number
    calm = service.escalate(_turn(None), "line:ev3", 5.0, NOW)
    assert calm.case is None and calm.alerts == () and calm.turn.text == _turn(None).text


def test_a_consented_case_reaches_staff_through_the_outbox(settings, escalating_version, db_target):
    """The family conversation raises the case; the alert is an outbox row of the staff channel
    (here the memory channel itself), sent once by the worker."""
    escalation = Escalation()
    # the real time: the retention purge drops a consent question asked more than a day ago
    chat = MemoryChat(_store(db_target), Live(settings, escalating_version), escalation=escalation)
    escalation.route(lambda case, ts: Outgoing(channel="memory", user_hash=None, to_id="staff", reply_token=None,
                                               messages=[{"alert": case}], retry_key=f"alert:{case['case_no']}",
                                               event_ts=ts))
    [asked] = chat.say(URGENT)
    assert asked["ask_consent"] is True and "staff" not in chat.channel.sent
    [thanks] = chat.say("はい")
    [alert] = chat.channel.sent["staff"]
    case = alert["alert"]
    assert case["case_no"] in thanks["text"]
    assert "ヤミ金" in case["excerpt"] and "090-1234-5678" not in case["excerpt"]   # masked
    chat.say("はい")                                                  # a second yes raises nothing
    assert len(chat.channel.sent["staff"]) == 1

