"""/healthz tells the truth about the database: it performs a small write with a short wait,
so a locked database (or a full disk) makes it 503 instead of "ok" while webhooks fail.

The locked-file cases are SQLite's by nature (another process holding the file's write lock)."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import subprocess
import time

import pytest

from bot.config import Settings
from bot.web import create_app
from fakes.line_webhook import callback, post_signed, text_event

SECRET = "health-test-secret"


def _app(db_path, version):
    """The web app on ``db_path``, LINE on (its API unreachable: no answer is sent), no worker."""
    base = Settings.from_env({})
    settings = Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir,
                        db_path=db_path, cache_dir=base.cache_dir,
                        line_channel_secret=SECRET, line_channel_access_token="token",
                        line_api_base_url="http://127.0.0.1:9")
    return create_app(settings, version=version, start_worker=False)


@pytest.fixture
def app(tmp_path, live_version):
    return _app(tmp_path / "h.db", live_version)


def _lock(path) -> sqlite3.Connection:
    """Another process holding the write lock (a long transaction, a stuck migration)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=1)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_healthz_is_503_while_the_database_is_locked_and_ok_again_after(app, caplog):
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    holder = _lock(app.extensions["tsunagu"].settings.db_path)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="tsunagu.web"):
            r = client.get("/healthz")
        took = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.status_code == 503 and took < 5, (r.status_code, took)
    body = r.get_json()
    assert body["status"] == "db_unwritable" and "locked" in body["error"]
    assert "Traceback" not in r.get_data(as_text=True)
    assert any("does not take writes" in m for m in caplog.messages)
    ok = client.get("/healthz")
    assert ok.status_code == 200 and ok.get_json()["status"] == "ok"


def test_healthz_writes_a_heartbeat(app):
    store = app.extensions["tsunagu"].store
    app.test_client().get("/healthz")
    first = store.last_heartbeat()
    assert first is not None
    time.sleep(0.01)
    app.test_client().get("/healthz")
    assert store.last_heartbeat() > first
    assert store.table_counts()["meta"] == 1, "one row, overwritten"


def test_a_webhook_on_a_locked_database_is_500_with_one_log_line(app, caplog, monkeypatch):
    """LINE delivers a non-2xx webhook again; the log says why in one line, without the body."""
    store = app.extensions["tsunagu"].store
    real_accept = store.accept

    def locked(events, now=None):            # what a 30 s busy wait ends in (not waited out here)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "accept", locked)
    event = text_event("訪問販売で布団を買わされました")
    with caplog.at_level(logging.ERROR):
        r = post_signed(app.test_client(), callback([event]), SECRET, path="/line/webhook")
    assert r.status == 500
    lines = [rec for rec in caplog.records if rec.name == "tsunagu.web"]
    assert len(lines) == 1 and "database is locked" in lines[0].getMessage()
    assert lines[0].exc_info is None
    assert all("布団" not in rec.getMessage() for rec in caplog.records)
    monkeypatch.setattr(store, "accept", real_accept)


@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MB filesystem (tmpfs) to fill up. Mounting needs root, which CI (`.ci/run`) has."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("TSUNAGU_REQUIRE_MOUNT") == "1":   # CI: this case must run, not be skipped
            pytest.fail(f"cannot mount a small filesystem: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk) -> None:
    with open(disk / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_is_503_on_healthz_500_on_webhooks_and_loses_nothing(small_disk, live_version, caplog):
    app = _app(small_disk / "h.db", live_version)
    client, store = app.test_client(), app.extensions["tsunagu"].store
    assert client.get("/healthz").status_code == 200
    _fill(small_disk)
    body = callback([text_event("訪問販売で布団を買わされました")])
    with caplog.at_level(logging.ERROR):
        health = client.get("/healthz")
        hook = post_signed(client, body, SECRET, path="/line/webhook")
    assert health.status_code == 503 and health.get_json()["status"] == "db_unwritable"
    assert "full" in health.get_json()["error"]
    assert hook.status == 500                                   # LINE delivers it again
    assert store.depth()["inbox"] == 0
    web = [rec.getMessage() for rec in caplog.records if rec.name == "tsunagu.web"]
    assert any("full" in m for m in web) and all("布団" not in rec.getMessage() for rec in caplog.records)
    (small_disk / "filler").unlink()                            # space again: LINE's redelivery is taken
    assert client.get("/healthz").status_code == 200
    assert post_signed(client, body, SECRET, path="/line/webhook").status == 200
    assert store.depth()["inbox"] == 1
