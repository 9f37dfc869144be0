"""Data lifecycle: retention (automatic and `tsunagu purge`), `tsunagu backup`, file permissions.

docs/privacy.md promises what is kept and for how long; these tests hold the code to it.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
import time

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.conversation import SESSION_TTL
from bot.storage import REVIEW_KEEP_FACTOR, InboxEvent, Outgoing, Store, open_store
from bot.worker import Processed, Worker

DAY = 86400.0


def _event(store: Store, n: int, at: float, case_no: str | None = None) -> None:
    """One LINE event accepted, answered and delivered at time ``at``, with a session (and a case)."""
    user = store.user_hash("line", f"U{n:032x}")
    store.accept([InboxEvent(f"ev{n}", "line", "message", user, at, {"text": "息子が部屋から出てこない"})], now=at)
    claimed = store.claim_event("test:1:0", now=at)
    out = Outgoing("line", user, f"U{n:032x}", f"token{n}", [{"type": "text", "text": "お返事"}], f"key{n}", at)
    case = {"case_no": case_no, "intent": "hikidashiya", "title": "t", "urgency": "urgent", "excerpt": "＊＊"}
    store.complete(claimed, [out], session=(user, {"area": {"pref": "北海道"}}), session_ttl=30 * DAY, now=at,
                   escalation=case if case_no else None)
    d = store.claim_delivery("test:1:0", now=at)
    store.delivered(d, "reply", now=at)


def _counts(store: Store) -> dict[str, int]:
    counts = store.table_counts()
    return {t: counts[t] for t in ("inbox", "outbox", "sessions", "escalations", "reviews")}


def _fill(store: Store, now: float) -> None:
    """Rows 40 days old and rows 1 day old of every kind."""
    for i, age in enumerate((40, 1)):
        at = now - age * DAY
        _event(store, i, at, case_no=f"C{i}")
        exported = store.add_review("＊＊の件", "fallback", "hikidashiya", "U0STAFF", now=at)
        store.mark_exported([exported], now=at)
        store.add_review("まだの件", "fallback", "hikidashiya", "U0STAFF", now=at)   # never exported


def test_purge_deletes_what_is_past_the_retention_period_and_nothing_newer(db_target):
    store = db_target.open()
    now = time.time()
    _fill(store, now)
    assert _counts(store) == {"inbox": 2, "outbox": 2, "sessions": 2, "escalations": 2, "reviews": 4}

    removed = store.purge(30 * DAY, now)

    assert removed == {"inbox": 1, "outbox": 1, "sessions": 1, "escalations": 1, "reviews": 1}
    assert _counts(store) == {"inbox": 1, "outbox": 1, "sessions": 1, "escalations": 1, "reviews": 3}
    assert [r["event_id"] for r in store.inbox()] == ["ev1"]
    # a flag nobody exported is kept longer (admins export in batches), but not for ever
    later = now + (REVIEW_KEEP_FACTOR * 30 - 40 + 1) * DAY
    assert store.purge(30 * DAY, later)["reviews"] == 2
    assert [(r["text"], r["created_at"]) for r in store.reviews(include_exported=True)] == [("まだの件", now - DAY)]


def test_nothing_is_kept_in_clear_once_answered(db_target):
    store = db_target.open()
    _event(store, 7, time.time())
    [row] = store.inbox()
    assert row["payload"] is None
    [out] = store.outbox()
    assert (out["to_id"], out["reply_token"], out["messages"]) == (None, None, None)
    dump = json.dumps([store.inbox(), store.outbox(), store.escalations(), store.reviews(True), store.dead_letters()],
                      ensure_ascii=False)
    assert "息子" not in dump and f"U{7:032x}" not in dump


def test_nothing_is_kept_in_clear_in_the_sqlite_file(tmp_path):
    """SQLite only: every row of the file, as ``.dump`` would print it."""
    store = open_store(tmp_path / "t.db")
    _event(store, 7, time.time())
    conn = sqlite3.connect(tmp_path / "t.db")
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert "ev7" in dump and "息子" not in dump and f"U{7:032x}" not in dump


def test_worker_purges_on_its_own_and_sessions_never_outlive_the_retention(db_target):
    store = db_target.open()
    now = time.time()
    _fill(store, now)
    worker = Worker(store, {}, {}, retention_seconds=7 * DAY, housekeeping_every=3600)
    assert worker.step() is False                      # idle: housekeeping runs
    assert _counts(store)["inbox"] == 1
    assert worker.housekeeping() is None               # not again within the hour
    assert worker.housekeeping(force=True) == {"inbox": 0, "outbox": 0, "sessions": 0, "escalations": 0,
                                               "reviews": 0}

    class Echo:
        def process(self, claimed, now):
            return Processed([], session=(claimed.user_hash, {"area": None}))

        def fallback(self, claimed):
            return []

    worker = Worker(store, {"line": Echo()}, {}, retention_seconds=7 * DAY)
    store.accept([InboxEvent("ev9", "line", "message", "u9", now, {"text": "x"})])
    assert worker.step()
    written = time.time()
    assert store.session("u9", now=now + 7 * DAY - 60) is not None
    assert store.session("u9", now=written + 7 * DAY + 1) is None
    assert SESSION_TTL == 30 * DAY                     # the default the privacy notice states


def test_database_is_readable_by_its_owner_only(tmp_path):
    open_store(tmp_path / "t.db")
    mode = stat.S_IMODE((tmp_path / "t.db").stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)


# -- the commands -------------------------------------------------------------------------------
@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "live.db"
    monkeypatch.setenv("TSUNAGU_DB", str(path))
    monkeypatch.delenv("TSUNAGU_RETENTION_DAYS", raising=False)
    return path


def test_purge_command(db, monkeypatch):
    store = open_store(db)
    _fill(store, time.time())
    r = CliRunner().invoke(cli, ["purge"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["older_than_days"] == 30 and out["deleted"]["inbox"] == 1

    monkeypatch.setenv("TSUNAGU_RETENTION_DAYS", "0.5")
    out = json.loads(CliRunner().invoke(cli, ["purge"]).output)
    assert out["older_than_days"] == 0.5 and out["deleted"]["inbox"] == 1
    assert _counts(store)["inbox"] == 0


@pytest.mark.parametrize("args, message", [
    (["purge", "--older-than-days", "-3"], "x>=0"),
    (["purge", "--older-than-days", "abc"], "not a valid float"),
])
def test_purge_command_refuses_bad_periods(db, args, message):
    open_store(db)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output


def test_commands_never_create_a_database_by_mistake(db, tmp_path):
    for args in (["purge"], ["backup", str(tmp_path / "b.db")]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 1 and "no database at" in r.output, r.output
    assert not db.exists()


def test_backup_while_the_database_is_being_written(db, tmp_path):
    store = open_store(db)
    _fill(store, time.time())
    stop = threading.Event()
    written = [0]

    def writer():                     # another process's worth of writes during the backup
        w = open_store(db)
        while not stop.is_set():
            w.accept([InboxEvent(f"w{written[0]}", "line", "message", "u", time.time(), {"text": "x" * 2000})])
            written[0] += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.2)
        r = CliRunner().invoke(cli, ["backup", str(tmp_path / "backup.db")])
    finally:
        stop.set()
        t.join()
    assert r.exit_code == 0, r.output
    copy = sqlite3.connect(tmp_path / "backup.db")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    n = copy.execute("SELECT count(*) FROM inbox WHERE event_id LIKE 'w%'").fetchone()[0]
    assert 0 < n <= written[0]
    assert stat.S_IMODE((tmp_path / "backup.db").stat().st_mode) & 0o077 == 0
    assert list(tmp_path.glob(".backup.db.*")) == []     # no temporary file left behind


def test_a_failed_backup_keeps_the_previous_one(db, tmp_path, monkeypatch):
    open_store(db)
    good = tmp_path / "good.db"
    assert CliRunner().invoke(cli, ["backup", str(good)]).exit_code == 0
    before = good.read_bytes()
    r = CliRunner().invoke(cli, ["backup", str(tmp_path / "missing-dir" / "x.db")])
    assert r.exit_code == 1 and "backup to" in r.output and "Traceback" not in r.output
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    monkeypatch.setenv("TSUNAGU_DB", str(garbage))
    r = CliRunner().invoke(cli, ["backup", str(good)])
    assert r.exit_code == 1 and "not a tsunagu database" in r.output
    assert good.read_bytes() == before


def test_an_unanswered_consent_question_is_forgotten_after_a_day(db_target):
    store = db_target.open()
    now = time.time()
    for user, asked in (("old", now - 25 * 3600), ("new", now - 3600)):
        store.accept([InboxEvent(f"ask-{user}", "line", "message", user, asked, {"text": "x"})], now=asked)
        data = {"area": {"pref": "北海道"}, "pending_consent": {"excerpt": "●●の件", "asked_at": asked}}
        store.complete(store.claim_event("w:1:0", now=asked), [], session=(user, data),
                       session_ttl=now + 20 * DAY - asked, now=asked)
    store.purge(30 * DAY, now)
    assert store.session("old") == {"area": {"pref": "北海道"}}
    assert store.session("new")["pending_consent"]["excerpt"] == "●●の件"


def test_a_delivery_given_up_keeps_no_text(db_target):
    store = db_target.open()
    now = time.time()
    store.accept([InboxEvent("e1", "line", "message", "u1", now, {"text": "x"})], now=now)
    claimed = store.claim_event("w:1:0", now=now)
    store.complete(claimed, [Outgoing("line", "u1", "Uraw", "tok", [{"type": "text", "text": "お返事"}], "k", now)],
                   now=now)
    store.give_up(store.claim_delivery("w:1:0", now=now), "push 400")
    [row] = store.outbox()
    assert (row["status"], row["messages"], row["to_id"], row["reply_token"], row["last_error"]) == (
        "failed", None, None, None, "push 400")


def test_an_emergencys_waiting_question_is_forgotten_a_day_after_the_emergency(loaded, settings):
    """After an emergency the consent question waits for the next message, but the masked excerpt
    it would pass on never outlives the day promised in docs/privacy.md."""
    from datetime import timedelta

    from bot.conversation import Conversation, load_texts
    from tests.conftest import NOW

    conv = Conversation(loaded.triage, load_texts(settings.responses_dir), escalation=True)
    first = conv.on_text("今、息子が包丁を振り回して暴れています", None, NOW)
    pending = first.session["pending_consent"]
    assert pending["deferred"] and pending["asked_at"] == NOW.timestamp() and not first.question
    soon = conv.on_text("ひきこもりの息子のことも相談したいです", first.session, NOW + timedelta(hours=2))
    assert soon.question == conv.texts.consent_question_later and soon.ask_consent
    assert soon.session["pending_consent"]["asked_at"] == NOW.timestamp()   # still counted from the emergency
    late = conv.on_text("ひきこもりの息子のことも相談したいです", first.session, NOW + timedelta(hours=25))
    assert not late.question and "pending_consent" not in late.session
