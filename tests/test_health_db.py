"""/healthz tells the truth about the database: it performs a small write with a short wait,
so a locked database (or a full disk) makes it 503 instead of "ok" while webhooks fail.

The locked-file cases are SQLite's by nature (another process holding the file's write lock)."""

from __future__ import annotations

import logging
import sqlite3
import time

import pytest

from bot.config import Settings
from bot.web import create_app
from fakes.line_webhook import callback, post_signed, text_event

SECRET = "health-test-secret"


@pytest.fixture
def app(tmp_path, live_version):
    base = Settings.from_env({})
    settings = Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir,
                        db_path=tmp_path / "h.db", cache_dir=base.cache_dir,
                        line_channel_secret=SECRET, line_channel_access_token="token",
                        line_api_base_url="http://127.0.0.1:9")
    return create_app(settings, version=live_version, start_worker=False)


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
