"""What docs/admin.md promises, on a real running server (gunicorn, 2 workers):

an admin adds a new scam pattern as an intent (§3), runs `tsunagu check`, and sees it live without
a restart; a broken edit keeps the last good version live and is reported (log + Slack admin
channel); fixing it goes live again. No request fails at any point.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings
from fakes.slack_api import FakeSlack
from servers import ServerProcess, get, post_json, seed_cache, until

NEW_INTENT = """id: setsudenki
title: 節電器・省エネ機器の高額な訪問販売
rule: consumer
contacts: [consumer_center]
urgency: normal
law: [cooling_off_houmon_hanbai]
keywords:
  節電器: 5
  節電装置: 5
  電気代 & 安くなる|下がる|半分: 3
examples:
  - 電気代が半分になるという節電器を３０万円で買わされました
  - 節電装置を付ければ電気代が安くなると言われて契約した
  - 母が買った節電器、本当に効くのか心配
  - せつでんき を かわされた
  - 電気代が安くなる節電装置だと言われて、玄関でサインしました
  - 節電器の業者がまた来ると言っています
  - 父の家に節電装置の営業が来て、４０万円のローンを組まされた
  - 節電器って効果あるの？高すぎると思う
  - ｾﾂﾃﾞﾝｷ の けいやく やめたい
  - 節電器のクーリングオフはできますか
  - 電気代が下がるという節電器を勧められて、断れずに買いました
  - 節電器を買った。説明と違って電気代が変わらない
counter_examples:
  - 電気代の請求書が来ました
"""
NEW_REPLY = """advice:
  - "家に来た業者から買った機器は、決まった日数のうちなら契約をやめられます（クーリング・オフ）。"
  - "契約書は捨てずに取っておき、消費生活センターに相談してください。"
"""
MESSAGE = "電気代が安くなる節電器を玄関先で勧められて買ってしまった"


_post = post_json


def _get(url: str) -> dict:
    return json.loads(get(url)[1])


@pytest.fixture
def reload_interval() -> str:
    return "0.3"


@pytest.fixture
def server(tmp_path, reload_interval):
    base = Settings.from_env({})
    intents, responses, cache = tmp_path / "intents", tmp_path / "responses", tmp_path / "cache"
    shutil.copytree(base.intents_dir, intents)
    shutil.copytree(base.responses_dir, responses)
    seed_cache(cache)   # built once already
    with FakeSlack() as slack:
        env = {"TSUNAGU_INTENTS_DIR": str(intents), "TSUNAGU_RESPONSES_DIR": str(responses),
               "TSUNAGU_CACHE_DIR": str(cache), "TSUNAGU_DB": str(tmp_path / "t.db"), "TSUNAGU_TRY_PAGE": "1",
               "TSUNAGU_RELOAD_INTERVAL": reload_interval, "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": slack.token,
               "SLACK_API_BASE_URL": slack.api_url, "SLACK_ADMIN_CHANNEL": "C0ADMIN"}
        with ServerProcess(tmp_path, env) as server:
            yield {"url": server.url, "intents": intents, "responses": responses, "env": server.env, "slack": slack,
                   "log": server.log_path, "pid": server.proc.pid}


_until = until


def _every_worker(url: str, check) -> bool:
    """True once both gunicorn workers (told apart by pid) pass ``check`` on /healthz."""
    seen: dict[int, bool] = {}
    for _ in range(40):
        health = _get(url + "/healthz")
        seen[health["pid"]] = check(health)
        if len(seen) >= 2 and all(seen.values()):
            return True
    return False


def _all_workers_say(url: str, intent: str) -> bool:
    # two gunicorn workers reload on their own: ask several times, every answer must agree
    return all(_post(url + "/try/api", {"text": MESSAGE})["intent"] == intent for _ in range(6))


def test_admin_adds_a_scam_pattern_and_sees_it_live_without_restart(server, monkeypatch):
    url = server["url"]
    failures: list[str] = []
    stop = threading.Event()

    def traffic():                       # a steady stream of requests during every reload
        while not stop.is_set():
            try:
                _post(url + "/try/api", {"text": "訪問販売で布団を買わされた"})
            except Exception as exc:   # any failed request fails the test
                failures.append(repr(exc))
            time.sleep(0.02)

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        first = _post(url + "/try/api", {"text": MESSAGE})["intent"]
        assert first != "setsudenki"
        before = _get(url + "/healthz")["knowledge"]

        # docs/admin.md §3: write the intent and its reply, then `tsunagu check`
        (server["intents"] / "setsudenki.yml").write_text(NEW_INTENT, encoding="utf-8")
        (server["responses"] / "replies" / "setsudenki.yml").write_text(NEW_REPLY, encoding="utf-8")
        for key in ("TSUNAGU_INTENTS_DIR", "TSUNAGU_RESPONSES_DIR", "TSUNAGU_CACHE_DIR"):
            monkeypatch.setenv(key, server["env"][key])
        checked = CliRunner().invoke(cli, ["check"])
        assert checked.exit_code == 0, checked.output

        _until(lambda: _every_worker(url, lambda h: h["knowledge"] != before))
        assert _all_workers_say(url, "setsudenki")
        live = _get(url + "/healthz")["knowledge"]

        # a broken edit: the last good version stays live and the error is reported
        path = server["intents"] / "setsudenki.yml"
        path.write_text(NEW_INTENT.replace("contacts: [consumer_center]", "contacts: [consumer_centre]"),
                        encoding="utf-8")
        _until(lambda: _every_worker(url, lambda h: h["reload"]["status"] == "rejected"))
        _until(lambda: _every_worker(url, lambda h: h["knowledge"] == live), timeout=15,
               what="the good version stays")
        assert _all_workers_say(url, "setsudenki")
        posts = server["slack"].wait_for(lambda: server["slack"].calls_to("chat.postMessage"))
        notice = posts[0].args
        assert notice["channel"] == "C0ADMIN" and "intents/setsudenki.yml:4" in notice["text"]
        assert "consumer_centre" in server["log"].read_text(encoding="utf-8")

        # docs/admin.md §7: put the good version back; it goes live again
        path.write_text(NEW_INTENT, encoding="utf-8")
        _until(lambda: _every_worker(url, lambda h: h["reload"]["status"] == "reloaded"))
        assert _all_workers_say(url, "setsudenki")
    finally:
        stop.set()
        worker.join(5)
    assert failures == []
    assert len(server["slack"].calls_to("chat.postMessage")) == 1   # one notice, not one per worker


@pytest.mark.parametrize("reload_interval", ["0"])
def test_sighup_reloads_and_a_broken_edit_restarts_on_the_last_good_copy(server):
    """With file watching off, `kill -HUP` (systemctl reload) is how edits go live; gunicorn starts new
    workers, which load the files — or, when the files are broken, the last good copy."""
    url = server["url"]
    before = _get(url + "/healthz")["knowledge"]
    (server["intents"] / "setsudenki.yml").write_text(NEW_INTENT, encoding="utf-8")
    (server["responses"] / "replies" / "setsudenki.yml").write_text(NEW_REPLY, encoding="utf-8")
    time.sleep(1.0)
    assert _get(url + "/healthz")["knowledge"] == before        # not watching: nothing changes by itself
    os.kill(server["pid"], signal.SIGHUP)
    _until(lambda: _every_worker(url, lambda h: h["knowledge"] != before))
    assert _all_workers_say(url, "setsudenki")
    good = _get(url + "/healthz")["knowledge"]

    (server["intents"] / "setsudenki.yml").write_text("id: [broken\n", encoding="utf-8")
    pids: set[int] = set()                                           # both workers of now
    _until(lambda: pids.add(_get(url + "/healthz")["pid"]) or len(pids) >= 2, what="both workers")
    os.kill(server["pid"], signal.SIGHUP)
    _until(lambda: _every_worker(url, lambda h: h["pid"] not in pids), what="new workers")
    # …on the last good copy (waits only for a busy machine to let both answer: a worker on
    # anything else keeps failing the check until the time-out)
    _until(lambda: _every_worker(url, lambda h: h["knowledge"] == good), timeout=15, what="the last good copy")
    assert _all_workers_say(url, "setsudenki")
    assert "setsudenki.yml" in server["log"].read_text(encoding="utf-8")
