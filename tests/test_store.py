"""The SQLite store's claims: exactly one process gets each event, one family at a time, in order."""

from __future__ import annotations

import multiprocessing
import time

from bot.store import LEASE_SECONDS, InboxEvent, Outgoing, Store


def _accept(store: Store, event_id: str, user: str, ts: float) -> None:
    store.accept([InboxEvent(event_id, "line", "message", user, ts, {"text": "x"})], now=ts)


def _answer(store: Store, claimed, user: str, now: float) -> None:
    out = Outgoing("line", user, "U1", "tok", [{"type": "text", "text": "a"}], f"k-{claimed.event_id}",
                   claimed.event_ts)
    store.complete(claimed, [out], now=now)


def test_one_familys_messages_are_taken_in_order_and_one_at_a_time(tmp_path):
    store = Store(tmp_path / "t.db")
    now = time.time()
    _accept(store, "b", "u1", now + 1)      # arrived first, written second
    _accept(store, "a", "u1", now)
    _accept(store, "c", "u2", now + 2)
    first = store.claim("w:1:0")
    assert first.event_id == "a"
    other = store.claim("w:1:1")
    assert other.event_id == "c", "u1's next message waits while 'a' is in progress"
    assert store.claim("w:1:2") is None


def test_the_next_message_waits_for_the_answer_being_sent_but_not_for_a_back_off(tmp_path):
    store = Store(tmp_path / "t.db")
    now = time.time()
    _accept(store, "a", "u1", now)
    _accept(store, "b", "u1", now + 1)
    a = store.claim("w:1:0", now=now)
    _answer(store, a, "u1", now)
    assert store.claim("w:1:1", now=now) is None, "a's answer is due: it goes first"
    d = store.due("w:1:0", now=now)
    assert store.claim("w:1:1", now=now) is None, "a's answer is being sent"
    store.retry_later(d, now + 60, "reply 500")
    b = store.claim("w:1:1", now=now)
    assert b is not None and b.event_id == "b", "a back-off does not hold an emergency back"


def test_a_dead_workers_claim_is_taken_back_at_once_on_the_same_host_else_after_the_lease(tmp_path):
    store = Store(tmp_path / "t.db")
    now = time.time()
    _accept(store, "a", "u1", now)
    _accept(store, "b", "u2", now)
    assert store.claim("host1:999999:0", now=now).event_id == "a"
    assert store.claim("host2:123:0", now=now).event_id == "b"
    assert store.recover("host1", alive=lambda pid: pid != 999999) == 1
    again = store.claim("w:1:0", now=now)
    assert again.event_id == "a"
    store.complete(again, [], now=now)
    assert store.claim("w:1:1", now=now) is None, "another host's claim is trusted until its lease ends"
    assert store.claim("w:1:1", now=now + LEASE_SECONDS + 1).event_id == "b"


def _drain(path: str, name: str, queue, ready, go) -> None:
    store = Store(path)
    ready.put(name)
    go.wait(60)
    got = []
    idle = 0
    while idle < 20:
        claimed = store.claim(f"{name}:0")
        if claimed is None:
            idle += 1
            time.sleep(0.01)
            continue
        idle = 0
        got.append(claimed.event_id)
        time.sleep(0.002)                      # "triage": the others get their turn
        store.complete(claimed, [])
    queue.put(got)


def test_four_processes_claim_each_event_exactly_once(tmp_path):
    path = str(tmp_path / "t.db")
    store = Store(path)
    now = time.time()
    store.accept([InboxEvent(f"e{i}", "line", "message", f"u{i % 23}", now + i / 1000, {"text": "x"})
                  for i in range(400)], now=now)
    ctx = multiprocessing.get_context("spawn")
    queue, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_drain, args=(path, f"p{n}", queue, ready, go)) for n in range(4)]
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
