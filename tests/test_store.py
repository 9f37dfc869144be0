"""The store's claims on each engine: exactly one process gets each event, one family at a time, in order."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings
from bot.storage import LEASE_SECONDS, InboxEvent, Outgoing, Store, StoreError, open_store
from engines import Target
from test_slack import env, escalating_version, review_action  # noqa: F401  (fixtures: the real Slack app)


def _accept(store: Store, event_id: str, user: str, ts: float) -> None:
    store.accept([InboxEvent(event_id, "line", "message", user, ts, {"text": "x"})], now=ts)


def _answer(store: Store, claimed, user: str, now: float) -> None:
    out = Outgoing("line", user, "U1", "tok", [{"type": "text", "text": "a"}], f"k-{claimed.event_id}",
                   claimed.event_ts)
    store.complete(claimed, [out], now=now)


def test_one_familys_messages_are_taken_in_order_and_one_at_a_time(db_target):
    store = db_target.open()
    now = time.time()
    _accept(store, "b", "u1", now + 1)      # arrived first, written second
    _accept(store, "a", "u1", now)
    _accept(store, "c", "u2", now + 2)
    first = store.claim_event("w:1:0")
    assert first.event_id == "a"
    other = store.claim_event("w:1:1")
    assert other.event_id == "c", "u1's next message waits while 'a' is in progress"
    assert store.claim_event("w:1:2") is None


def test_the_next_message_waits_for_the_answer_being_sent_but_not_for_a_back_off(db_target):
    store = db_target.open()
    now = time.time()
    _accept(store, "a", "u1", now)
    _accept(store, "b", "u1", now + 1)
    a = store.claim_event("w:1:0", now=now)
    _answer(store, a, "u1", now)
    assert store.claim_event("w:1:1", now=now) is None, "a's answer is due: it goes first"
    d = store.claim_delivery("w:1:0", now=now)
    assert store.claim_event("w:1:1", now=now) is None, "a's answer is being sent"
    store.retry_later(d, now + 60, "reply 500")
    b = store.claim_event("w:1:1", now=now)
    assert b is not None and b.event_id == "b", "a back-off does not hold an emergency back"


def test_a_dead_workers_claim_is_taken_back_at_once_on_the_same_host_else_after_the_lease(db_target):
    store = db_target.open()
    now = time.time()
    _accept(store, "a", "u1", now)
    _accept(store, "b", "u2", now)
    assert store.claim_event("host1:999999:0", now=now).event_id == "a"
    assert store.claim_event("host2:123:0", now=now).event_id == "b"
    assert store.recover("host1", alive=lambda pid: pid != 999999) == 1
    again = store.claim_event("w:1:0", now=now)
    assert again.event_id == "a"
    store.complete(again, [], now=now)
    assert store.claim_event("w:1:1", now=now) is None, "another host's claim is trusted until its lease ends"
    assert store.claim_event("w:1:1", now=now + LEASE_SECONDS + 1).event_id == "b"


def _drain(target: Target, name: str, queue, ready, go) -> None:
    store = target.open()
    ready.put(name)
    go.wait(60)
    got = []
    idle = 0
    while idle < 20:
        claimed = store.claim_event(f"{name}:0")
        if claimed is None:
            idle += 1
            time.sleep(0.01)
            continue
        idle = 0
        got.append(claimed.event_id)
        time.sleep(0.002)                      # "triage": the others get their turn
        store.complete(claimed, [])
    queue.put(got)


def test_four_processes_claim_each_event_exactly_once(db_target):
    store = db_target.open()
    now = time.time()
    store.accept([InboxEvent(f"e{i}", "line", "message", f"u{i % 23}", now + i / 1000, {"text": "x"})
                  for i in range(400)], now=now)
    ctx = multiprocessing.get_context("spawn")
    queue, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_drain, args=(db_target, f"p{n}", queue, ready, go)) for n in range(4)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()                                   # all four start claiming at the same moment
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    claimed = [e for r in results for e in r]
    assert sorted(claimed) == sorted(f"e{i}" for i in range(400))
    assert sum(1 for r in results if r) >= 2, "the work was shared"


# -- idempotent review actions -------------------------------------------------------------------
def test_a_replayed_review_is_stored_once(db_target):
    store = db_target.open()
    now = time.time()
    ids = {store.add_review("＊＊の件", "fallback", "hikidashiya", "U0STAFF", now=now + i) for i in range(3)}
    assert len(ids) == 1 and len(store.reviews()) == 1
    assert store.add_review("＊＊の件", "fallback", "hikidashiya", "U0OTHER", now=now) not in ids  # reviewer
    assert store.add_review("＊＊の件", "fallback", "tokushu_sagi", "U0STAFF", now=now) not in ids  # label
    assert store.add_review("＊＊の件", "fallback", "hikidashiya", "U0STAFF", now=now + 3600) not in ids  # later
    keyed = [store.add_review("x", "a", "b", "U1", now=now, dedupe_key="action:1.3") for _ in range(2)]
    assert keyed[0] == keyed[1]
    assert len(store.reviews()) == 5


def test_reviews_from_concurrent_replays_are_one_row(db_target):
    db_target.open()
    with multiprocessing.get_context("fork").Pool(4) as pool:
        ids = pool.map(_review_once, [(db_target, i) for i in range(8)])
    assert len(set(ids)) == 1
    assert len(db_target.open().reviews()) == 1


def _review_once(args: tuple[Target, int]) -> int:
    target, _ = args
    return target.open().add_review("同じ指摘", "fallback", "hikidashiya", "U0STAFF")


# -- SQLite files: what older versions wrote, and processes racing to create one -------------------
def test_an_old_review_table_is_migrated_and_its_replays_merged(tmp_path):
    """SQLite only: databases of earlier versions are SQLite files."""
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE reviews (id INTEGER PRIMARY KEY, created_at FLOAT, text TEXT, predicted TEXT,"
                 " correct TEXT, reviewer TEXT, exported_at FLOAT)")
    now = time.time()
    rows = [(now, "同じ", "a", "b", "U1"), (now + 1, "同じ", "a", "b", "U1"), (now + 2, "同じ", "a", "b", "U1"),
            (now + 5000, "同じ", "a", "b", "U1"), (now, "別", "a", "b", "U1")]
    conn.executemany("INSERT INTO reviews (created_at, text, predicted, correct, reviewer) VALUES (?, ?, ?, ?, ?)",
                     rows)
    conn.commit()
    conn.close()
    store = open_store(path)
    assert [(r["text"], r["created_at"]) for r in store.reviews()] == [("同じ", now), ("同じ", now + 5000),
                                                                       ("別", now)]
    assert store.add_review("同じ", "a", "b", "U1", now=now + 5001) == store.reviews()[1]["id"]
    conn = sqlite3.connect(path)
    index = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '%dedupe_key%'")
    assert "UNIQUE" in index.fetchone()[0]
    conn.close()


def test_a_replayed_slack_review_action_is_stored_once(env):
    """The same signed block action sent three times (a retry, a replay) through the real Bolt app."""
    payload = review_action(env, "コンビニで電子マネーを買うように電話で言われた", "tokushu_sagi")
    for _ in range(3):
        assert env.action(payload).status_code == 200
    env.slack.wait_for(lambda: len(env.slack.responses) >= 3)
    assert len(env.services.store.reviews()) == 1


def _open_at_once(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        open_store(path)
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put(repr(exc))


def test_workers_opening_a_new_database_at_the_same_moment_all_start(tmp_path):
    """SQLite only.  Two or three gunicorn workers booting on a new file: SQLite may answer "locked" at
    once to the switch to WAL instead of waiting; every process must still open the store."""
    ctx = multiprocessing.get_context("fork")
    failures = []
    for round_ in range(15):
        path = str(tmp_path / f"r{round_}.db")
        barrier, results = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier, results)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        failures += [r for r in (results.get(timeout=5) for _ in procs) if r != "ok"]
    assert failures == []


# -- PostgreSQL: what it needs that a SQLite file does not -----------------------------------------
def test_tsunagu_db_selects_the_engine():
    for url in ("postgresql://tsunagu@db.internal/tsunagu", "postgres://tsunagu@db.internal:5433/tsunagu"):
        settings = Settings.from_env({"TSUNAGU_DB": url})
        assert settings.db_url == url and settings.db == url
    settings = Settings.from_env({"TSUNAGU_DB": "/var/lib/tsunagu/tsunagu.db"})
    assert settings.db_url is None and settings.db == Path("/var/lib/tsunagu/tsunagu.db")


def test_postgresql_refuses_to_start_without_the_shared_hashing_key(pg_cluster, tmp_path):
    url = pg_cluster.new_database()
    with pytest.raises(StoreError, match="TSUNAGU_HASH_KEY or TSUNAGU_HASH_KEY_FILE"):
        open_store(url)
    with pytest.raises(StoreError, match="copy the same key to every host"):
        open_store(url, key_file=tmp_path / "missing.key")      # never made here: each host would make its own
    (tmp_path / "shared.key").write_text(os.urandom(32).hex())
    a, b = open_store(url, key_file=tmp_path / "shared.key"), open_store(url, key_file=tmp_path / "shared.key")
    assert a.user_hash("line", "U1") == b.user_hash("line", "U1")


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="PostgreSQL database tsunagu on 127.0.0.1"):
        open_store("postgresql://tsunagu@127.0.0.1:1/tsunagu", b"k" * 32)


def test_the_commands_on_postgresql(pg_cluster, monkeypatch, tmp_path):
    """purge works as on SQLite; backup says what to use instead (pg_dump), without a traceback."""
    target = Target("postgresql", pg_cluster.new_database(), b"k" * 32)
    store = target.open()
    _accept(store, "a", "u1", time.time() - 40 * 86400)
    for name, value in target.env().items():
        monkeypatch.setenv(name, value)
    r = CliRunner().invoke(cli, ["purge"])
    assert r.exit_code == 0 and json.loads(r.output)["deleted"]["stuck"] == 1, r.output
    r = CliRunner().invoke(cli, ["backup", str(tmp_path / "b.db")])
    assert r.exit_code == 1 and "pg_dump" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "b.db").exists()


def test_a_lost_server_connection_fails_one_call_then_is_replaced(pg_cluster):
    """A restarted server or a dropped connection: that call fails as "unavailable" (a webhook gets 500
    and is delivered again), the next one runs on a new connection."""
    store = Target("postgresql", pg_cluster.new_database(), b"k" * 32).open()
    _accept(store, "a", "u1", time.time())
    pid = store.one("SELECT pg_backend_pid() AS pid")["pid"]
    admin = Target("postgresql", store.url, b"k" * 32).open()
    admin.run("SELECT pg_terminate_backend(?)", [pid])
    with pytest.raises(store.UNAVAILABLE):
        store.depth()
    assert store.depth() == {"inbox": 1, "outbox": 0}
