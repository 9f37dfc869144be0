"""Poison events: an event that cannot be processed is set aside, with an apology, and never
holds back the same family's later messages (an emergency among them).

The failure is injected at the processor boundary (a wrapper around the real LineProcessor
that fails for one chosen event); webhooks are signed as LINE signs them and answers go to
the LINE API fake.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import pytest

from bot import metrics
from bot.config import Settings
from bot.storage import Claimed, Outgoing
from bot.web import create_app
from bot.worker import Processed
from fakes.line_api import FakeLine
from fakes.line_webhook import callback, new_user_id, post_signed, text_event

SECRET = "poison-test-secret"
EMERGENCY = "息子が包丁を持って暴れている"


class Poisoned:
    """The real processor, except for the events in ``poison``: ``how`` says how they fail."""

    def __init__(self, real, poison: set[str], how: str):
        self.real, self.poison, self.how = real, poison, how
        self.calls: dict[str, int] = {}

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        self.calls[claimed.event_id] = self.calls.get(claimed.event_id, 0) + 1
        if claimed.event_id not in self.poison:
            return self.real.process(claimed, now)
        if self.how == "raise":
            raise RuntimeError("a bug that quotes the text: " + str(claimed.payload))
        # an answer that cannot be stored (a lone surrogate): the failure is in the commit, not the triage
        done = self.real.process(claimed, now)
        bad = [Outgoing(**{**o.__dict__, "messages": [{"type": "text", "text": "\ud800"}]}) for o in done.answers]
        return Processed(bad, done.session, done.result)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        return self.real.fallback(claimed)


@pytest.fixture
def bot(db_target, live_version):
    with FakeLine() as fake:
        base = Settings.from_env({})
        settings = Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir,
                            cache_dir=base.cache_dir, **db_target.settings(),
                            line_channel_secret=SECRET, line_channel_access_token=fake.access_token,
                            line_api_base_url=fake.url, line_timeout=(1.0, 1.0))   # TSUNAGU_MAX_ATTEMPTS: 3
        app = create_app(settings, version=live_version, start_worker=False)
        yield Bot(app, fake)
        fake.assert_no_violations()


class Bot:
    def __init__(self, app, fake: FakeLine):
        self.app, self.fake = app, fake
        self.services = app.extensions["tsunagu"]
        self.store = self.services.store
        self.worker = self.services.worker

    def poison(self, how: str) -> Poisoned:
        wrapped = Poisoned(self.worker.processors["line"], set(), how)
        self.worker.processors["line"] = wrapped
        return wrapped

    def post(self, *events: dict) -> None:
        for e in events:
            self.fake.issue_reply_token(e["replyToken"], user_id=e["source"]["userId"])
        assert post_signed(self.app.test_client(), callback(list(events)), SECRET, path="/line/webhook").status == 200

    def settle(self, steps: int = 200) -> None:
        for _ in range(steps):
            if not self.worker.step() and self.store.depth() == {"inbox": 0, "outbox": 0}:
                return
            time.sleep(0.01)
        raise AssertionError(f"still queued: {self.store.depth()}")

    def answer_text(self, event: dict) -> str:
        found = [d for d in self.fake.delivered() if d.reply_token == event["replyToken"]]
        assert len(found) == 1, f"{len(found)} answers"
        return " ".join(m.get("text", "") for m in found[0].messages if m["type"] == "text")


def _dead_letters() -> float:
    return sum(s.value for m in metrics.DEAD_LETTERS.collect() for s in m.samples if s.name.endswith("_total"))


@pytest.mark.parametrize("how", ["raise", "unstorable"])
def test_a_poison_event_is_dead_lettered_with_an_apology_and_the_next_emergency_is_answered(bot, how, caplog):
    caplog.set_level(logging.INFO)
    poisoned = bot.poison(how)
    user = new_user_id()
    bad = text_event("訪問販売で布団を買わされました", user_id=user)
    emergency = text_event(EMERGENCY, user_id=user, timestamp=bad["timestamp"] + 1000)
    poisoned.poison.add("line:" + bad["webhookEventId"])
    before = _dead_letters()

    bot.post(bad, emergency)
    bot.settle()

    assert poisoned.calls["line:" + bad["webhookEventId"]] == 3            # TSUNAGU_MAX_ATTEMPTS, then no more
    letters = bot.store.dead_letters()
    assert [(d["event_id"], d["channel"], d["attempts"]) for d in letters] == [("line:" + bad["webhookEventId"],
                                                                               "line", 3)]
    assert letters[0]["error"] in ("RuntimeError", "UnicodeEncodeError")
    assert "布団" not in repr(letters)                                      # no text kept with it
    apology = bot.answer_text(bad)
    texts = bot.services.live.conversation().texts
    assert apology == texts.error_reply and "188" in apology and "110" in apology
    assert "110" in bot.answer_text(emergency)                             # answered, after the apology
    order = [d.reply_token for d in bot.fake.delivered()]
    assert order.index(bad["replyToken"]) < order.index(emergency["replyToken"])
    assert _dead_letters() == before + 1
    [dead] = bot.store.inbox("line:" + bad["webhookEventId"])
    assert dead["status"] == "dead" and dead["payload"] is None
    logged = "\n".join(caplog.text.splitlines())
    assert "dead letter" in logged and "布団" not in logged and user not in logged   # the error names no text


def test_an_event_whose_process_died_every_time_is_not_tried_again(bot):
    """A process killed while handling the event (out of memory, a crash in C code) leaves only
    an expired lease; after TSUNAGU_MAX_ATTEMPTS such claims the event is set aside unprocessed."""
    poisoned = bot.poison("raise")
    user = new_user_id()
    bad = text_event("身に覚えのない請求が来た", user_id=user)
    bot.post(bad)
    died = time.time() - 100                          # three workers died holding it, the last lease ran out
    for i in range(3):
        claimed = bot.store.claim_event(f"other-host:{i}:0", now=died + i * 31, lease=30)
        assert claimed is not None and claimed.attempts == i + 1
    assert bot.store.inbox("line:" + bad["webhookEventId"])[0]["status"] == "working"
    emergency = text_event(EMERGENCY, user_id=user)
    bot.post(emergency)

    bot.settle()

    assert poisoned.calls.get("line:" + bad["webhookEventId"], 0) == 0
    assert [d["error"] for d in bot.store.dead_letters()] == ["ProcessDied"]
    assert "188" in bot.answer_text(bad)
    assert "110" in bot.answer_text(emergency)


def test_a_passing_retry_is_not_a_dead_letter(bot):
    """A failure that goes away (attempt 2 works) is answered normally."""
    poisoned = bot.poison("raise")
    event = text_event("訪問販売で布団を買わされました", user_id=new_user_id())
    key = "line:" + event["webhookEventId"]
    poisoned.poison.add(key)
    bot.post(event)
    assert bot.worker.step()                          # attempt 1 fails and is put back
    poisoned.poison.clear()
    bot.settle()
    assert poisoned.calls[key] == 2 and bot.store.dead_letters() == []
    assert bot.answer_text(event) != bot.services.live.conversation().texts.error_reply   # the real answer


def test_max_attempts_comes_from_the_environment():
    assert Settings.from_env({"TSUNAGU_MAX_ATTEMPTS": "5"}).max_attempts == 5
    assert Settings.from_env({}).max_attempts == 3
    assert Settings.from_env({"TSUNAGU_MAX_ATTEMPTS": "x"}).max_attempts == 3
