"""What is on disk after a conversation: the database, its WAL and shm, backups, the hashing key.

docs/privacy.md says the family's text and the raw LINE user id are deleted once the answer
is made and delivered; these tests read the files' bytes (not SQL: cleared rows and old WAL
frames are invisible to SQL) to hold the code to it.  Retention of backups, sessions and
rows stuck unprocessed is tested here too.

SQLite only, by nature: these are the files of the embedded engine (PostgreSQL keeps no key
file and makes no file backups; deploy/README.md says what replaces them there).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import PROJECT_ROOT, Settings
from bot import worker as worker_module
from bot.storage import REVIEW_KEEP_FACTOR, InboxEvent, Outgoing, Store, open_store
from bot.web import create_app
from bot.worker import Worker
from fakes.line_api import FakeLine
from fakes.line_webhook import callback, new_user_id, post_signed, text_event, unfollow_event

SECRET = "disk-privacy-secret"
DAY = 86400.0
#: Words of the family's messages that no answer repeats (the needles looked for on disk).
MESSAGES = ["訪問販売で布団を買わされました、クーリングオフしたい",
            "身に覚えのない請求のハガキが届いて困っています",
            "息子が部屋から何年も出てこないのです",
            "サポステってなんですか、教えてください"]
NEEDLES = ["布団を買わされました", "身に覚えのない請求のハガキ", "部屋から何年も出てこない", "サポステってなんですか"]


def _files(db: Path) -> dict[str, bytes]:
    """The database and its companions as they are on disk now."""
    return {p.name: p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()}


def _found(files: dict[str, bytes], needles: list[str]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for name, data in files.items():
        for n in needles:
            if n.encode() in data:
                hits.setdefault(name, []).append(n)
    return hits


@pytest.fixture
def line_app(tmp_path, live_version):
    with FakeLine() as fake:
        base = Settings.from_env({})
        settings = Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir,
                            db_path=tmp_path / "conv.db", cache_dir=base.cache_dir,
                            line_channel_secret=SECRET, line_channel_access_token=fake.access_token,
                            line_api_base_url=fake.url, line_timeout=(1.0, 1.0))
        app = create_app(settings, version=live_version, start_worker=False)
        yield app, fake
        fake.assert_no_violations()


def _say(app, fake: FakeLine, event: dict) -> None:
    if "replyToken" in event:
        fake.issue_reply_token(event["replyToken"], user_id=event["source"]["userId"])
    assert post_signed(app.test_client(), callback([event]), SECRET, path="/line/webhook").status == 200


def _settle(app) -> None:
    """Run the worker until it has nothing to do: the turn is over (what a quiet server does)."""
    services = app.extensions["tsunagu"]
    end = time.time() + 15
    while time.time() < end:
        if not services.worker.step() and services.store.depth() == {"inbox": 0, "outbox": 0}:
            return
    raise AssertionError(f"still queued: {services.store.depth()}")


def _idle(app, db: Path, needles: list[str], seconds: float = 3.0) -> dict[str, list[str]]:
    """Let the idle worker poll for ``seconds`` (scrubs are spaced by worker.SCRUB_SECONDS);
    return what is still found on disk by then (early once nothing is)."""
    worker = app.extensions["tsunagu"].worker
    end = time.time() + seconds
    while (hits := _found(_files(db), needles)) and time.time() < end:
        worker.step()
        time.sleep(worker_module.POLL_SECONDS)
    return hits


# -- finding: "deleted" text survives in the WAL ------------------------------------------------------
def test_no_text_or_raw_user_id_on_disk_after_a_conversation(line_app):
    app, fake = line_app
    db = app.extensions["tsunagu"].settings.db_path
    user = new_user_id()
    for text in MESSAGES:
        _say(app, fake, text_event(text, user_id=user))
        _settle(app)
    assert len(fake.delivered()) == len(MESSAGES)           # a real conversation took place
    assert worker_module.SCRUB_SECONDS <= 1.0   # what docs/privacy.md promises
    assert _idle(app, db, NEEDLES + [user]) == {}, "text or raw id left in the database files"


def test_unfollow_leaves_no_raw_id_on_disk(line_app):
    app, fake = line_app
    db = app.extensions["tsunagu"].settings.db_path
    user = new_user_id()
    _say(app, fake, text_event(MESSAGES[0], user_id=user))
    _say(app, fake, unfollow_event(user_id=user))
    _settle(app)
    assert _idle(app, db, NEEDLES[:1] + [user]) == {}


def test_purge_leaves_no_trace_of_deleted_rows(tmp_path):
    """Reviews and cases hold (masked) text for the retention period; after it, not even in free pages."""
    store = open_store(tmp_path / "t.db")
    old = time.time() - 100 * DAY
    store.add_review("古い指摘の文ＸＹＺ", "fallback", "hikidashiya", "U0STAFF", now=old)
    store.accept([InboxEvent("e1", "line", "message", "u1", old, {"text": "x"})], now=old)
    store.complete(store.claim_event("t:1:0", now=old), [], now=old, escalation={
        "case_no": "C1", "intent": "i", "title": "t", "urgency": "urgent", "excerpt": "古い抜粋ＱＲＳ"})
    assert store.purge(30 * DAY)["reviews"] == 1
    assert _found(_files(tmp_path / "t.db"), ["古い指摘の文ＸＹＺ", "古い抜粋ＱＲＳ"]) == {}


# -- finding: the hashing key is stored next to the hashes ---------------------------------------------
def test_a_fresh_database_keeps_its_hashing_key_in_a_0600_file_outside(tmp_path):
    db = tmp_path / "fresh.db"
    store = open_store(db)
    key_file = tmp_path / "fresh.db.key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = bytes.fromhex(key_file.read_text().strip())
    assert len(key) == 32
    expected = hmac.new(key, b"line:U123", hashlib.sha256).hexdigest()[:32]
    assert store.user_hash("line", "U123") == expected
    assert open_store(db).user_hash("line", "U123") == expected     # the same key on the next start
    assert _found(_files(db), [key.hex(), key.hex().upper()]) == {}
    assert all(key not in data for data in _files(db).values())


def test_an_old_database_with_the_key_inside_is_migrated_and_hashes_stay_the_same(tmp_path):
    db = tmp_path / "old.db"
    old_key = os.urandom(32)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('hash_key', ?)", [old_key.hex()])
    conn.commit()
    conn.close()
    before = hmac.new(old_key, b"line:Uabc", hashlib.sha256).hexdigest()[:32]

    store = open_store(db)
    assert store.user_hash("line", "Uabc") == before
    assert bytes.fromhex((tmp_path / "old.db.key").read_text().strip()) == old_key
    assert stat.S_IMODE((tmp_path / "old.db.key").stat().st_mode) == 0o600
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM meta WHERE key = 'hash_key'").fetchone()[0] == 0
    conn.close()
    assert _found(_files(db), [old_key.hex()]) == {}, "the key's old row is still readable on disk"


def test_the_key_file_can_live_elsewhere_and_the_environment_key_wins(tmp_path, monkeypatch):
    key_file = tmp_path / "secrets" / "hash.key"
    key_file.parent.mkdir()
    store = open_store(tmp_path / "a.db", key_file=key_file)
    assert key_file.is_file() and not (tmp_path / "a.db.key").exists()
    monkeypatch.setenv("TSUNAGU_HASH_KEY", "from-the-environment")
    settings = Settings.from_env()
    env_store = open_store(tmp_path / "b.db", settings.hash_key)
    assert env_store.user_hash("line", "U1") == hmac.new(b"from-the-environment", b"line:U1",
                                                         hashlib.sha256).hexdigest()[:32]
    assert not (tmp_path / "b.db.key").exists()                  # nothing to keep: the key is elsewhere
    monkeypatch.setenv("TSUNAGU_HASH_KEY_FILE", str(key_file))
    assert Settings.from_env().hash_key_file == key_file
    assert store.user_hash("line", "U1") != env_store.user_hash("line", "U1")


def test_a_broken_key_file_is_a_clear_error(tmp_path):
    (tmp_path / "c.db.key").write_text("not a key")
    with pytest.raises(ValueError, match="hashing key"):
        open_store(tmp_path / "c.db")


# -- finding: backups world-readable during the copy ----------------------------------------------------
def test_a_backup_is_private_from_its_first_byte_under_umask_022(tmp_path, monkeypatch):
    store = open_store(tmp_path / "live.db")
    store.accept([InboxEvent("e1", "line", "message", "u1", time.time(), {"text": "x" * 50_000})])
    seen: list[int] = []
    real_connect = sqlite3.connect

    def connect(path, *args, **kwargs):                     # the moment the copy's file is opened
        conn = real_connect(path, *args, **kwargs)
        if Path(path).name.startswith(".backup.db"):
            seen.append(stat.S_IMODE(os.stat(path).st_mode))
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    old_umask = os.umask(0o022)
    try:
        store.backup(tmp_path / "backup.db")
    finally:
        os.umask(old_umask)
    assert seen and all(m & 0o077 == 0 for m in seen), [oct(m) for m in seen]
    assert stat.S_IMODE((tmp_path / "backup.db").stat().st_mode) == 0o600


# -- finding: data outlives the stated retention ---------------------------------------------------------
def _old_conversation(store: Store, at: float, text: str) -> None:
    user = store.user_hash("line", "Uold")
    store.accept([InboxEvent("old1", "line", "message", user, at, {"text": text})], now=at)
    claimed = store.claim_event("t:1:0", now=at)
    store.complete(claimed, [Outgoing("line", user, "Uold", "tok", [{"type": "text", "text": "a"}], "k", at)],
                   session=(user, {"area": {"pref": "北海道"}}), session_ttl=30 * DAY, now=at)
    store.delivered(store.claim_delivery("t:1:0", now=at), "reply", now=at)
    store.add_review("バックアップにだけ残る指摘ＡＢＣ", "fallback", "hikidashiya", "U0STAFF", now=at)


def test_backups_are_held_to_the_retention_period(tmp_path):
    store = open_store(tmp_path / "live.db")
    now = time.time()
    _old_conversation(store, now - 40 * DAY, "x")
    backups = tmp_path / "backup"
    backups.mkdir()
    store.backup(backups / "tsunagu-1.db")                  # made today, holding rows 40 days old
    store.backup(backups / "tsunagu-2.db")
    os.utime(backups / "tsunagu-2.db", (now - 31 * DAY, now - 31 * DAY))   # a backup older than the period

    worker = Worker(store, {}, {}, retention_seconds=30 * DAY, backup_dir=backups)
    removed = worker.housekeeping(force=True)
    assert removed["backups_deleted"] == 1 and removed["backups_purged"] == 1
    assert not (backups / "tsunagu-2.db").exists()
    copy = sqlite3.connect(backups / "tsunagu-1.db")
    assert copy.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0
    assert copy.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    copy.close()
    # the never-exported flag is 40 days old: within 3 periods, so it stays in the backup as in the database
    assert store.purge_backups(backups, 30 * DAY) == {"deleted": 0, "purged": 0}
    # purging keeps the file's time (when the backup was made): it is deleted once that is past the period
    made = (backups / "tsunagu-1.db").stat().st_mtime
    assert made <= now + 1
    assert store.purge_backups(backups, 30 * DAY, now=made + 31 * DAY) == {"deleted": 1, "purged": 0}
    assert list(backups.iterdir()) == []


def test_the_purge_command_applies_the_period_to_the_backup_dir(tmp_path, monkeypatch):
    db = tmp_path / "live.db"
    store = open_store(db)
    _old_conversation(store, time.time() - 40 * DAY, "x")
    backups = tmp_path / "backup"
    backups.mkdir()
    store.backup(backups / "tsunagu-3.db")
    monkeypatch.setenv("TSUNAGU_DB", str(db))
    monkeypatch.setenv("TSUNAGU_BACKUP_DIR", str(backups))
    monkeypatch.setenv("TSUNAGU_RETENTION_DAYS", "10")
    r = CliRunner().invoke(cli, ["purge"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["deleted"]["backups_purged"] == 1
    assert _found(_files(backups / "tsunagu-3.db"), ["バックアップにだけ残る指摘ＡＢＣ"]) == {}


def test_sessions_go_when_the_retention_period_is_lowered(tmp_path):
    store = open_store(tmp_path / "t.db")
    now = time.time()
    _old_conversation(store, now - 10 * DAY, "x")            # written with a 30-day expiry
    assert store.table_counts()["sessions"] == 1
    assert store.purge(7 * DAY, now)["sessions"] == 1        # the period is 7 days now


def test_rows_stuck_unprocessed_lose_their_text_after_the_period(tmp_path):
    store = open_store(tmp_path / "t.db")
    now = time.time()
    at = now - 40 * DAY
    store.accept([InboxEvent("stuck", "line", "message", "u1", at, {"text": "止まったままの文ＤＥＦ",
                                                                        "source": {"userId": "Ustuck"}})], now=at)
    store.accept([InboxEvent("fresh", "line", "message", "u2", now, {"text": "新しい文"})], now=now)
    removed = store.purge(30 * DAY, now)
    assert removed["stuck"] == 1
    rows = {r["event_id"]: r["payload"] for r in store.inbox()}
    assert rows["stuck"] is None and "新しい文" in rows["fresh"]
    assert _found(_files(tmp_path / "t.db"), ["止まったままの文ＤＥＦ", "Ustuck"]) == {}


def test_privacy_notice_states_the_retention_as_implemented():
    """docs/privacy.md names the settings and the factor the code uses."""
    text = (PROJECT_ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    for name in ("TSUNAGU_RETENTION_DAYS", "TSUNAGU_BACKUP_DIR", "TSUNAGU_HASH_KEY_FILE", "TSUNAGU_MAX_ATTEMPTS"):
        assert name in text, name
    assert re.search(rf"保存期間の {REVIEW_KEEP_FACTOR} 倍", text)
    assert "secure_delete" in text
