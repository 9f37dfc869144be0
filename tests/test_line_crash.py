"""Crash safety: SIGKILL a running ``tsunagu serve`` while answers are queued and in flight.

After a restart, every event the webhook accepted (answered 200) is answered exactly
once: nothing lost, nothing shown twice.
"""

from __future__ import annotations

import time

import pytest

from bot.channels.line import retry_key
from fakes.line_api import FakeLine
from fakes.line_webhook import callback, new_user_id, post_signed, text_event
from servers import ServerProcess

SECRET = "crash-test-secret"
MESSAGES = ["訪問販売で布団を買わされました", "身に覚えのない請求のハガキが届いた", "〒060-0001 です",
            "ヤミ金から毎日電話が来る", "息子が部屋から出てこない", "サポステってなに？"]


def _answers(fake: FakeLine, event: dict) -> int:
    key = retry_key("line:" + event["webhookEventId"])
    return sum(1 for d in fake.delivered()
               if (d.kind == "reply" and d.reply_token == event["replyToken"]) or
               (d.kind == "push" and d.retry_key == key))


@pytest.mark.parametrize("age", [0, 120], ids=["reply", "push"])
def test_sigkill_while_queued_then_restart_answers_every_event_exactly_once(tmp_path, db_target, age):
    """age 0: answers go out by reply token; age 120 s: the tokens are too old, answers are pushed."""
    with FakeLine() as fake:
        server = ServerProcess(tmp_path, {"LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": fake.access_token,
                                          "LINE_API_BASE_URL": fake.url, **db_target.env(),
                                          "LINE_API_TIMEOUT": "1,3"})
        try:
            server.start()
            fake.delay_next(6, 1.5, process_first=True)   # calls reach LINE, answers come back slowly
            users = [new_user_id() for _ in range(8)]
            accepted: list[dict] = []
            for i in range(40):
                event = text_event(MESSAGES[i % len(MESSAGES)], user_id=users[i % len(users)],
                                   timestamp=int((time.time() - age) * 1000))
                fake.issue_reply_token(event["replyToken"], user_id=event["source"]["userId"])
                if post_signed(server.url + "/line/webhook", callback([event]), SECRET).status == 200:
                    accepted.append(event)
            assert len(accepted) == 40
            fake.wait_for(lambda: len(fake.deliveries) >= 3, timeout=20)
            server.kill()
            answered_before = sum(1 for e in accepted if _answers(fake, e))
            assert answered_before < len(accepted), "the kill came too late to test anything"

            server.start()
            fake.wait_for(lambda: all(_answers(fake, e) >= 1 for e in accepted), timeout=90, interval=0.1)
            fake.wait_for(lambda: server.queued() == 0, timeout=90, interval=0.1)
            time.sleep(1.0)   # anything still in flight would show up as a duplicate now
            counts = [_answers(fake, e) for e in accepted]
            print(f"\nanswered before the kill: {answered_before}/{len(accepted)}; calls to LINE: "
                  f"{len(fake.deliveries)} ({sum(d.status == 409 for d in fake.deliveries)} × 409, "
                  f"{sum(d.status == 400 for d in fake.deliveries)} × 400)")
            assert counts == [1] * len(accepted), counts
            fake.assert_no_violations()
        finally:
            server.stop()
