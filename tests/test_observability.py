"""/metrics and the logs of a real server (gunicorn, 2 workers) after real traffic.

One server runs every flow a day brings — LINE messages (an emergency with consent to pass it
on, an address, a sticker, a redelivery, a forged signature, a broken body, an unfollow),
LINE being down for a moment, Slack mentions, commands and buttons, the /try page, an admin's
edit and a broken edit — and then:

- /metrics adds up both workers and counts exactly what happened;
- every log line is one JSON object, and none holds what anyone wrote, a user id, a token
  or a secret (the logs are checked at DEBUG level, the most they can say).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import defaultdict

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.channels.line import retry_key
from bot.config import Settings
from fakes import slack_events
from fakes.line_api import FakeLine
from fakes.line_webhook import (callback, follow_event, new_user_id, post_signed, redelivered, sticker_event,
                                text_event, unfollow_event)
from fakes.slack_api import FakeSlack
from servers import ServerProcess, get, post, post_json, until

LINE_SECRET = "observability-line-secret"
SLACK_SECRET = "observability-slack-secret"
ALERTS = "C0ALERTS"

EMERGENCY = "今、息子が包丁を振り回して暴れています。怖いです"
ADDRESS = "〒060-0001 の山田花子です。訪問販売で３０万円の布団を契約させられました。電話は090-1234-5678"
FORGED = "署名がちがうのでこの文は届かないはずです"
SLACK_MENTION = "高橋さんの家に自立支援業者が来て五百万円を請求している。どこにつなぐ？"
SLACK_COMMAND = "コンビニで電子マネーを買うように電話で言われた"
TRY_TEXT = "ネットで申し込んだサプリが定期購入だった"
WRITTEN = [EMERGENCY, ADDRESS, "はい", FORGED, SLACK_MENTION, SLACK_COMMAND, TRY_TEXT]
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")


def _metrics(url: str) -> dict[str, dict[tuple, float]]:
    status, body, headers = get(url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert not CJK.search(text), "metrics must not carry text"
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def _sum(metrics, name: str, **labels) -> float:
    return sum(v for key, v in metrics.get(name, {}).items() if set(labels.items()) <= set(key))


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """Run the day's traffic once; the tests read what it left behind."""
    tmp = tmp_path_factory.mktemp("observability")
    base = Settings.from_env({})
    intents, responses = tmp / "intents", tmp / "responses"
    shutil.copytree(base.intents_dir, intents)
    shutil.copytree(base.responses_dir, responses)
    with FakeLine() as line, FakeSlack() as slack:
        env = {"LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_CHANNEL_ACCESS_TOKEN": line.access_token,
               "LINE_API_BASE_URL": line.url, "LINE_API_TIMEOUT": "1,2",
               "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_BOT_TOKEN": slack.token,
               "SLACK_API_BASE_URL": slack.api_url, "SLACK_ESCALATION_CHANNEL": ALERTS,
               "SLACK_ADMIN_CHANNEL": "C0ADMIN", "TSUNAGU_INTENTS_DIR": str(intents),
               "TSUNAGU_RESPONSES_DIR": str(responses), "TSUNAGU_RELOAD_INTERVAL": "0.3",
               "TSUNAGU_LOG_LEVEL": "DEBUG"}
        with ServerProcess(tmp, env) as server:
            record = _traffic(server, line, slack, intents)
            yield {"server": server, "line": line, "slack": slack, "metrics": _metrics(server.url),
                   "log": server.log(), **record}
            assert slack.violations == []
            line.assert_no_violations()


def _traffic(server: ServerProcess, line: FakeLine, slack: FakeSlack, intents) -> dict:
    hook = server.url + "/line/webhook"
    users = [new_user_id(), new_user_id()]
    statuses: list[int] = []
    events: list[dict] = []

    def send(event: dict, **kw) -> dict:
        if "replyToken" in event:
            line.issue_reply_token(event["replyToken"], user_id=event["source"]["userId"])
        statuses.append(post_signed(hook, callback([event]), LINE_SECRET, **kw).status)
        return event

    def answered(event: dict) -> bool:
        if "replyToken" not in event:
            return True
        key = retry_key("line:" + event["webhookEventId"])
        return any(d.reply_token == event["replyToken"] if d.kind == "reply" else d.retry_key == key
                   for d in line.delivered())

    def settle() -> None:
        until(lambda: server.queued() == 0, 30, what="the queues to empty")

    events.append(send(follow_event(user_id=users[0])))
    settle()
    line.fail_next(2, 500)                                   # LINE is down for a moment
    emergency = send(text_event(EMERGENCY, user_id=users[0]))
    events.append(emergency)
    until(lambda: answered(emergency), 30, what="the emergency answer")
    settle()
    events.append(send(text_event("はい", user_id=users[0])))    # after an emergency: the consent question now
    settle()
    events.append(send(text_event("はい", user_id=users[0])))    # consent: the case goes to Slack, masked
    address = send(text_event(ADDRESS, user_id=users[1]))
    events.append(address)
    events.append(send(sticker_event(user_id=users[1])))
    send(redelivered(address))                               # LINE sends it again: answered once
    send(text_event(FORGED, user_id=users[1]), tamper="signature")
    statuses.append(post_signed(hook, b'{"destination": "U1", "events": [', LINE_SECRET, validate=False).status)
    settle()
    events.append(send(unfollow_event(user_id=users[1])))

    slack_statuses = []
    for signed in (slack_events.mention(SLACK_MENTION, SLACK_SECRET, event_id="EvObs1"),
                   slack_events.mention(SLACK_MENTION, SLACK_SECRET, event_id="EvObs1", retry=1)):
        slack_statuses.append(post(server.url + "/slack/events", *signed)[0])
    status, _ = post(server.url + "/slack/events",
                      *slack_events.command(SLACK_COMMAND, SLACK_SECRET, slack.response_url()))
    slack_statuses.append(status)
    answer = slack.wait_for(lambda: slack.responses, 30)[0].args      # the worker answers the command
    menu = next(b for b in answer["blocks"] if b["type"] == "actions")
    option = next(o for o in menu["elements"][0]["options"] if o["value"] == "tokushu_sagi")
    review = {"type": "block_actions", "user": {"id": "U0STAFF"}, "api_app_id": "A0001", "team": {"id": "T0001"},
              "container": {"type": "message", "is_ephemeral": True}, "channel": {"id": "C0STAFF"},
              "response_url": slack.response_url(), "trigger_id": "1.2",
              "actions": [{"action_id": "tsunagu_review", "block_id": menu["block_id"], "type": "static_select",
                           "selected_option": option, "action_ts": "1.3"}]}
    slack_statuses.append(post(server.url + "/slack/events", *slack_events.action(review, SLACK_SECRET))[0])
    assert post_json(server.url + "/try/api", {"text": TRY_TEXT})["intent"]

    # an admin's edit goes live; a broken one is refused
    target = intents / "hikidashiya.yml"
    target.write_text(target.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    until(lambda: server.health()["reload"]["status"] == "reloaded", 30, what="the reload")
    (intents / "broken.yml").write_text("id: broken\nexamples: [\n", encoding="utf-8")
    until(lambda: server.health()["reload"]["status"] == "rejected", 30, what="the rejection")
    (intents / "broken.yml").unlink()

    until(lambda: all(answered(e) for e in events), 30, what="every answer")
    settle()
    until(lambda: slack.calls_to("chat.postMessage") and len(slack.responses) == 2, 30, what="Slack calls")
    time.sleep(1.0)      # the reloaders of both workers see the last change
    return {"statuses": statuses, "slack_statuses": slack_statuses, "users": users, "line_events": events}


# -- metrics -------------------------------------------------------------------------------------
def test_requests_are_counted_by_channel_and_status_across_both_workers(day):
    m, statuses = day["metrics"], day["statuses"]
    assert statuses.count(200) == len(statuses) - 2 and statuses.count(400) == 2  # forged, broken
    for status in set(statuses):
        assert _sum(m, "tsunagu_requests_total", channel="line", status=str(status)) == statuses.count(status)
    assert day["slack_statuses"] == [200] * 4
    assert _sum(m, "tsunagu_requests_total", channel="slack") == 4, m["tsunagu_requests_total"]
    assert _sum(m, "tsunagu_requests_total", channel="try", status="200") == 1
    pids: set[int] = set()
    until(lambda: pids.add(day["server"].health()["pid"]) or len(pids) == 2, 20,
          what="both workers to answer (the counts above are their sum)")


def test_decisions_emergencies_and_triage_latency(day):
    m = day["metrics"]
    processed_line = len(day["line_events"])         # the redelivery is not processed twice
    assert _sum(m, "tsunagu_triage_seconds_count", channel="line") == processed_line
    assert _sum(m, "tsunagu_triage_seconds_bucket", channel="line", le="+Inf") == processed_line
    assert _sum(m, "tsunagu_emergencies_total", channel="line") == 1
    emergency = [dict(k) for k, v in m["tsunagu_decisions_total"].items() if dict(k)["urgency"] == "emergency"]
    assert len(emergency) == 1 and emergency[0]["intent"].startswith("danger_")
    assert _sum(m, "tsunagu_decisions_total", channel="slack") == 2     # the mention (its retry deduped), /tsunagu
    assert _sum(m, "tsunagu_escalations_total") == 1


def test_deliveries_retries_depths_and_reloads(day):
    m = day["metrics"]
    assert _sum(m, "tsunagu_delivery_retries_total", channel="line") >= 1     # LINE answered 500 twice
    assert _sum(m, "tsunagu_delivery_failures_total") == 0
    delivered = _sum(m, "tsunagu_deliveries_total", channel="line", result="delivered")
    assert delivered == len(day["line"].delivered())
    assert _sum(m, "tsunagu_event_to_delivery_seconds_count", channel="line") == delivered
    assert _sum(m, "tsunagu_deliveries_total", channel="slack", result="delivered") >= 2
    assert _sum(m, "tsunagu_inbox_depth") == 0 and _sum(m, "tsunagu_outbox_depth") == 0
    assert _sum(m, "tsunagu_reloads_total", result="reloaded") >= 1
    assert _sum(m, "tsunagu_reloads_total", result="rejected") >= 1


# -- logs ----------------------------------------------------------------------------------------
def test_every_log_line_is_one_json_object(day):
    lines = [line for line in day["log"].splitlines() if line.strip()]
    assert len(lines) > 20
    for line in lines:
        record = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(record), line
    loggers = {json.loads(line)["logger"] for line in lines}
    assert {"gunicorn.error", "tsunagu.worker", "tsunagu.line", "tsunagu.reload"} <= loggers


def test_logs_hold_no_message_text_ids_tokens_or_secrets(day):
    log = day["log"]
    # Japanese appears only where an admin's file is quoted (a rejected edit), never elsewhere
    about_files = {"tsunagu.reload", "tsunagu.knowledge"}
    other = [line for line in log.splitlines() if line and json.loads(line)["logger"] not in about_files]
    assert not [line for line in other if CJK.search(line)]
    for text in WRITTEN:
        for i in range(len(text) - 3):
            assert text[i:i + 4] not in log
    secrets = [LINE_SECRET, SLACK_SECRET, day["line"].access_token, day["slack"].token, "090-1234-5678",
               "09012345678", "U0STAFF", *day["users"]]
    secrets += [e["replyToken"] for e in day["line_events"] if "replyToken" in e]
    for secret in secrets:
        assert secret not in log, secret
    # what the logs do say: event ids and outcomes, enough to follow an event through
    first = day["line_events"][1]["webhookEventId"]
    assert first in log
