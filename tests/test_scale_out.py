"""Scale-out: two `tsunagu serve` instances (2 workers each) on two ports share one database behind
a load balancer, as README "Scale-out" describes: a SQLite file (one host) or a PostgreSQL database
(what several hosts share; deploy/README.md "More than one host").

Events are spread over both instances, LINE redelivers some of them to the other instance,
one family's messages land on different instances, and one whole instance is SIGKILLed while
answers are in flight.  Every accepted event is answered exactly once, each family's answers
come in the order they wrote, and the conversation (the area given earlier) carries across
instances.
"""

from __future__ import annotations

import json
import time

from bot.channels.line import retry_key
from fakes.line_api import FakeLine
from fakes.line_webhook import callback, new_user_id, post_signed, redelivered, text_event
from servers import ServerProcess, until

SECRET = "scale-out-secret"
WORRIES = ["訪問販売で布団を買わされました", "身に覚えのない請求のハガキが届いた", "ヤミ金から毎日電話が来る",
           "息子が部屋から出てこない", "ネットで申し込んだサプリが定期購入だった"]


def _answers(line: FakeLine, event: dict) -> list:
    key = retry_key("line:" + event["webhookEventId"])
    return [d for d in line.delivered()
            if (d.kind == "reply" and d.reply_token == event["replyToken"]) or (d.kind == "push" and d.retry_key == key)]


def test_two_instances_on_one_database_answer_everything_exactly_once(tmp_path, db_target):
    with FakeLine() as line:
        env = {"LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": line.access_token,
               "LINE_API_BASE_URL": line.url, "LINE_API_TIMEOUT": "1,3", **db_target.env()}
        a = ServerProcess(tmp_path, env, name="a").start()
        b = ServerProcess(tmp_path, env, name="b").start()
        try:
            users = [new_user_id() for _ in range(6)]
            sent: list[dict] = []

            def send(server: ServerProcess, event: dict) -> None:
                line.issue_reply_token(event["replyToken"], user_id=event["source"]["userId"])
                assert post_signed(server.url + "/line/webhook", callback([event]), SECRET).status == 200
                sent.append(event)

            # the area goes to one instance, the worry to the other: the session is in the database
            send(a, text_event("〒060-0001 です", user_id=users[0]))
            until(lambda: _answers(line, sent[0]), 30, what="the area answer")
            send(b, text_event("訪問販売で布団を買わされました", user_id=users[0]))

            line.delay_next(8, 1.0, process_first=True)       # answers reach LINE, replies come back slowly
            for i in range(36):
                event = text_event(WORRIES[i % len(WORRIES)], user_id=users[1 + i % 5])
                send((a, b)[i % 2], event)
                if i % 6 == 0:                                # LINE redelivers it to the other instance
                    assert post_signed((b, a)[i % 2].url + "/line/webhook", callback([redelivered(event)]),
                                       SECRET).status == 200
            until(lambda: len(line.deliveries) >= 4, 30, what="the first answers")
            a.kill()                                          # one whole instance dies mid-flight
            answered_when_killed = sum(1 for e in sent if _answers(line, e))

            until(lambda: all(_answers(line, e) for e in sent), 90, what="every answer (instance b alone)")
            until(lambda: b.queued() == 0, 30, what="b's queues to empty")
            time.sleep(1.0)                                   # a late duplicate would show up now
        finally:
            a.stop()
            b.stop()

        counts = [len(_answers(line, e)) for e in sent]
        assert counts == [1] * len(sent), counts
        assert answered_when_killed < len(sent), "the kill came too late to test anything"
        line.assert_no_violations()

        area_then_worry = _answers(line, sent[1])[0]
        assert "札幌市" in json.dumps(area_then_worry.messages, ensure_ascii=False), "the area from a was used on b"

        for user in users[1:]:                                # each family's answers in the order written
            mine = [e for e in sent if e["source"]["userId"] == user]
            times = [_answers(line, e)[0].received_at for e in mine]
            assert times == sorted(times), user
