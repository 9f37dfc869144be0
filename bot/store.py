"""Durable state in one SQLite file: inbox, outbox, sessions.

Every accepted platform event is written to ``inbox`` before the webhook answers;
a worker claims it atomically, triages it and writes the answer to ``outbox`` in the
same transaction that marks the event done, so a crash at any moment loses nothing
and answers nothing twice.  Several processes may share the file (WAL mode; claims
are single ``UPDATE … RETURNING`` statements).

Privacy: user ids are stored as keyed hashes; the hashing key lives outside the
database (``TSUNAGU_HASH_KEY`` or a 0600 key file next to it).  The raw id and the
message text live only as long as a feature needs them — the event payload (text and
raw id) until it is processed, the raw id of a pending answer until it is delivered
(a push needs it when the reply token has expired) — and are then cleared.  Cleared
text must not survive on disk either: every connection runs with ``secure_delete``
(freed content is zeroed) and ``scrub()`` checkpoints and truncates the WAL, whose old
frames still hold the text after the row was cleared.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlite_utils

log = logging.getLogger("tsunagu.store")
#: After this long a claimed row whose worker died is claimed again.
LEASE_SECONDS = 30.0
#: A flagged answer that nobody exported is deleted after this many retention periods.
REVIEW_KEEP_FACTOR = 3
#: A staff flag repeated within this many seconds is a replay of the first (Slack signs for 5 minutes).
REVIEW_REPLAY_SECONDS = 600.0
#: /healthz waits at most this long for the write lock before reporting the database unwritable.
HEARTBEAT_TIMEOUT = 2.0
#: How long scrub() waits for other connections before leaving the WAL for the next scrub.
SCRUB_BUSY_MS = 1000


@dataclass(frozen=True)
class InboxEvent:
    event_id: str
    channel: str
    kind: str
    user_hash: str | None
    event_ts: float
    payload: dict
    redelivery: bool = False


@dataclass(frozen=True)
class Claimed:
    event_id: str
    channel: str
    kind: str
    user_hash: str | None
    event_ts: float
    received_at: float
    payload: dict
    attempts: int


@dataclass(frozen=True)
class Outgoing:
    """One answer to send (LINE: up to 5 messages)."""

    channel: str
    user_hash: str | None
    to_id: str | None
    reply_token: str | None
    messages: list[dict]
    retry_key: str
    event_ts: float
    target: str | None = None  # Slack: channel id etc.


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: str
    channel: str
    user_hash: str | None
    to_id: str | None
    reply_token: str | None
    messages: list[dict]
    retry_key: str
    event_ts: float
    attempts: int
    attempt_kind: str | None   # the call that was going out when last seen ("reply" | "push")
    in_doubt: bool             # the sender died mid-call: it may or may not have reached the platform
    target: str | None
    created_at: float


def _wal(conn: sqlite3.Connection, wait: float = 30.0) -> None:
    """Put the database in WAL mode, waiting while another process holds it.

    Switching a new database to WAL needs it to itself, and SQLite can answer "locked" at once
    instead of calling the busy handler (two workers starting on a new file, one of them in its
    first transaction): try again for up to ``wait`` seconds.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    """Thread-safe access to the database (one connection per thread)."""

    def __init__(self, path: str | os.PathLike, hash_key: bytes | None = None,
                 key_file: str | os.PathLike | None = None):
        self.path = Path(path)
        self.key_file = Path(key_file) if key_file else default_key_file(self.path)
        self._local = threading.local()
        self.migrate()
        self._hash_key = self._key(hash_key)

    def _key(self, given: bytes | None) -> bytes:
        """The user-id hashing key, kept apart from the hashes it protects.

        ``given`` (TSUNAGU_HASH_KEY) wins; otherwise the key file, made once (0600).  Older
        versions kept the key in ``meta``: it moves to the key file (hashes stay the same) and
        is deleted from the database and its WAL, so a copy of the database alone cannot
        test guesses of user ids against the hashes.
        """
        with self.transaction():   # one process at a time makes or migrates the file
            row = self.db.execute("SELECT value FROM meta WHERE key = 'hash_key'").fetchone()
            key = None
            if given is None or row is not None:
                key = _read_or_make_key(self.key_file, bytes.fromhex(row[0]) if row else None)
            if row is not None:
                self.db.execute("DELETE FROM meta WHERE key = 'hash_key'")
        if row is not None:
            self.scrub()
        return given or key  # type: ignore[return-value]

    # -- connection ---------------------------------------------------------------------
    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # conversation data: readable by the bot's user only
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            _wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA secure_delete=ON")   # freed rows are zeroed, not left in free space
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def transaction(self):
        """``with store.transaction():`` — BEGIN IMMEDIATE … COMMIT (ROLLBACK on error)."""
        return _Immediate(self.db.conn)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    def migrate(self) -> None:
        db = self.db
        with self.transaction():
            db["inbox"].create({
                "event_id": str, "channel": str, "kind": str, "user_hash": str, "event_ts": float,
                "received_at": float, "payload": str, "status": str, "redelivery": int, "attempts": int,
                "lease_until": float, "claimed_by": str, "done_at": float, "result": str,
            }, pk="event_id", if_not_exists=True, defaults={"status": "new", "attempts": 0, "redelivery": 0})
            db["outbox"].create({
                "id": int, "event_id": str, "seq": int, "channel": str, "user_hash": str, "to_id": str,
                "reply_token": str, "messages": str, "retry_key": str, "target": str, "event_ts": float,
                "status": str, "attempt_kind": str, "attempts": int, "next_at": float, "lease_until": float,
                "last_error": str, "created_at": float, "sent_at": float, "sent_kind": str, "in_doubt": int,
                "claimed_by": str,
            }, pk="id", if_not_exists=True, defaults={"status": "pending", "attempts": 0})
            db["sessions"].create({
                "user_hash": str, "channel": str, "data": str, "updated_at": float, "expires_at": float,
            }, pk="user_hash", if_not_exists=True)
            db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            db["escalations"].create({
                "case_no": str, "created_at": float, "intent": str, "title": str, "urgency": str, "area": str,
                "excerpt": str, "status": str, "taken_by": str, "taken_name": str, "taken_at": float,
                "slack_channel": str, "slack_ts": str,
            }, pk="case_no", if_not_exists=True, defaults={"status": "open"})
            db["reviews"].create({
                "id": int, "created_at": float, "text": str, "predicted": str, "correct": str,
                "reviewer": str, "exported_at": float, "dedupe_key": str,
            }, pk="id", if_not_exists=True)
            if "dedupe_key" not in db["reviews"].columns_dict:
                self._add_review_keys()
            db["reviews"].create_index(["dedupe_key"], unique=True, if_not_exists=True)
            db["dead_letters"].create({
                "event_id": str, "channel": str, "kind": str, "user_hash": str, "error": str,
                "attempts": int, "at": float,
            }, pk="event_id", if_not_exists=True)
            db["inbox"].create_index(["status", "received_at"], if_not_exists=True)
            db["inbox"].create_index(["user_hash"], if_not_exists=True)
            db["inbox"].create_index(["user_hash", "status", "event_ts"], if_not_exists=True)
            db["outbox"].create_index(["event_id", "seq"], unique=True, if_not_exists=True)
            db["outbox"].create_index(["status", "next_at"], if_not_exists=True)
            db["outbox"].create_index(["user_hash", "status"], if_not_exists=True)

    def _add_review_keys(self) -> None:
        """Migration: reviews get ``dedupe_key``; replays stored before it are merged into one."""
        self.db.execute("ALTER TABLE reviews ADD COLUMN dedupe_key TEXT")
        self.db.execute("DELETE FROM reviews WHERE EXISTS (SELECT 1 FROM reviews o WHERE o.id < reviews.id"
                        " AND o.text IS reviews.text AND o.predicted IS reviews.predicted"
                        " AND o.correct IS reviews.correct AND o.reviewer IS reviews.reviewer"
                        " AND reviews.created_at - o.created_at < ?)", [REVIEW_REPLAY_SECONDS])
        rows = self.db.execute("SELECT id, created_at, text, predicted, correct, reviewer FROM reviews").fetchall()
        for id_, created_at, *fields in rows:
            key = f"{review_key(*fields)}:{created_at!r}:{id_}"
            self.db.execute("UPDATE reviews SET dedupe_key = ? WHERE id = ?", [key, id_])

    # -- ids ------------------------------------------------------------------------------
    def user_hash(self, channel: str, user_id: str) -> str:
        """Keyed hash of a platform user id (never store or log the raw id)."""
        mac = hmac.new(self._hash_key, f"{channel}:{user_id}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    # -- inbox ----------------------------------------------------------------------------
    def accept(self, events: Iterable[InboxEvent], now: float | None = None) -> list[bool]:
        """Write events durably; True for each event that is new (False: already seen)."""
        now = time.time() if now is None else now
        fresh: list[bool] = []
        with self.transaction():
            for e in events:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO inbox (event_id, channel, kind, user_hash, event_ts, received_at,"
                    " payload, status, redelivery, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, 'new', ?, 0)",
                    [e.event_id, e.channel, e.kind, e.user_hash, e.event_ts, now,
                     json.dumps(e.payload, ensure_ascii=False), int(e.redelivery)])
                fresh.append(cur.rowcount == 1)
        return fresh

    def claim(self, worker: str, now: float | None = None, lease: float = LEASE_SECONDS) -> Claimed | None:
        """Take the oldest waiting event whose user has nothing else in progress.

        "In progress" includes an earlier answer being sent or due now, so that one family's
        answers reach them in the order they wrote, across processes.  An answer waiting to
        retry (the platform is failing) does not hold the next message back: a new message may
        be an emergency, and its answer should not wait out another's back-off.
        """
        now = time.time() if now is None else now
        # An expired lease (a worker died) is rare: look for one with a plain read (no write lock)
        # and only then use the OR form.  With 'new' alone SQLite walks (status, received_at) in
        # order and stops at the first eligible row, instead of testing and sorting the whole
        # backlog while holding the write lock (248 ms -> 0.03 ms with 3,000 waiting; bench/load.py).
        expired = self.db.execute("SELECT 1 FROM inbox WHERE status = 'working' AND lease_until < ? LIMIT 1",
                                  [now]).fetchone() is not None
        waiting = ("(i.status = 'new' OR (i.status = 'working' AND i.lease_until < ?))" if expired
                   else "(i.status = 'new' AND ? IS NOT NULL)")
        row = self.db.execute(
            f"""
            UPDATE inbox SET status = 'working', claimed_by = ?, lease_until = ?, attempts = attempts + 1
            WHERE event_id = (
                SELECT i.event_id FROM inbox i
                WHERE {waiting}
                  AND NOT EXISTS (SELECT 1 FROM inbox o WHERE o.user_hash = i.user_hash AND o.event_id != i.event_id
                                  AND o.status = 'working' AND o.lease_until >= ?)
                  AND NOT EXISTS (SELECT 1 FROM inbox p WHERE p.user_hash = i.user_hash AND p.event_id != i.event_id
                                  AND p.status IN ('new', 'working') AND p.event_ts < i.event_ts)
                  AND NOT EXISTS (SELECT 1 FROM outbox q WHERE q.user_hash = i.user_hash
                                  AND (q.status = 'sending' OR (q.status = 'pending' AND q.next_at <= ?)))
                ORDER BY i.received_at LIMIT 1)
            RETURNING event_id, channel, kind, user_hash, event_ts, received_at, payload, attempts
            """, [worker, now + lease, now, now, now]).fetchone()
        if row is None:
            return None
        return Claimed(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6] or "{}"), row[7])

    def complete(self, claimed: Claimed, answers: list[Outgoing], *, session: tuple[str, dict | None] | None = None,
                 session_ttl: float = 0, result: str = "", now: float | None = None,
                 escalation: dict | None = None) -> None:
        """Record the answer, the session change and "done" in one transaction (idempotent)."""
        now = time.time() if now is None else now
        with self.transaction():
            if escalation is not None:
                self.db.execute(
                    "INSERT OR IGNORE INTO escalations (case_no, created_at, intent, title, urgency, area, excerpt,"
                    " status) VALUES (?, ?, ?, ?, ?, ?, ?, 'open')",
                    [escalation["case_no"], now, escalation["intent"], escalation["title"], escalation["urgency"],
                     escalation.get("area") or "", escalation.get("excerpt") or ""])
            self._add_answers(claimed, answers, now)
            if session is not None:
                user_hash, data = session
                if data is None:
                    self.db.execute("DELETE FROM sessions WHERE user_hash = ?", [user_hash])
                else:
                    self.db.execute(
                        "INSERT INTO sessions (user_hash, channel, data, updated_at, expires_at)"
                        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(user_hash) DO UPDATE SET data = excluded.data,"
                        " updated_at = excluded.updated_at, expires_at = excluded.expires_at",
                        [user_hash, claimed.channel, json.dumps(data, ensure_ascii=False), now, now + session_ttl])
            self.db.execute(
                "UPDATE inbox SET status = 'done', payload = NULL, done_at = ?, result = ?, lease_until = NULL"
                " WHERE event_id = ?", [now, result, claimed.event_id])

    def _add_answers(self, claimed: Claimed, answers: list[Outgoing], now: float) -> None:
        for seq, out in enumerate(answers):
            self.db.execute(
                "INSERT OR IGNORE INTO outbox (event_id, seq, channel, user_hash, to_id, reply_token, messages,"
                " retry_key, target, event_ts, status, attempts, next_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                [claimed.event_id, seq, out.channel, out.user_hash, out.to_id, out.reply_token,
                 json.dumps(out.messages, ensure_ascii=False), out.retry_key, out.target, out.event_ts,
                 now, now])

    def fail(self, claimed: Claimed, error: str, now: float | None = None) -> None:
        """Give up on an event that cannot be processed (kept for the operator, payload cleared)."""
        now = time.time() if now is None else now
        self.db.execute("UPDATE inbox SET status = 'failed', payload = NULL, done_at = ?, result = ?"
                        " WHERE event_id = ?", [now, error[:200], claimed.event_id])

    def release(self, claimed: Claimed) -> None:
        """Put a claimed event back (processing hit a temporary problem)."""
        self.db.execute("UPDATE inbox SET status = 'new', lease_until = NULL WHERE event_id = ?", [claimed.event_id])

    def dead_letter(self, claimed: Claimed, error: str, answers: list[Outgoing], now: float | None = None) -> None:
        """Set aside an event that keeps failing, with ``answers`` (the apology) in one transaction.

        The row leaves the inbox queue (status ``dead``), so the same family's later messages
        are answered; ``dead_letters`` keeps ids, channel, kind, the error class and the time
        for the operator — never the text, which is cleared here like any processed event.
        """
        now = time.time() if now is None else now
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO dead_letters (event_id, channel, kind, user_hash, error, attempts, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [claimed.event_id, claimed.channel, claimed.kind, claimed.user_hash, error[:200], claimed.attempts,
                 now])
            self._add_answers(claimed, answers, now)
            self.db.execute("UPDATE inbox SET status = 'dead', payload = NULL, done_at = ?, result = ?,"
                            " lease_until = NULL WHERE event_id = ?", [now, f"dead letter: {error[:180]}",
                                                                        claimed.event_id])

    def dead_letters(self) -> list[dict]:
        rows = self.db.execute("SELECT event_id, channel, kind, user_hash, error, attempts, at FROM dead_letters"
                               " ORDER BY at").fetchall()
        return [dict(zip(("event_id", "channel", "kind", "user_hash", "error", "attempts", "at"), r)) for r in rows]

    # -- sessions -------------------------------------------------------------------------
    def session(self, user_hash: str, now: float | None = None) -> dict | None:
        now = time.time() if now is None else now
        row = self.db.execute("SELECT data FROM sessions WHERE user_hash = ? AND expires_at > ?",
                              [user_hash, now]).fetchone()
        return json.loads(row[0]) if row else None

    def forget_user(self, user_hash: str) -> None:
        """Delete everything kept about one user (LINE unfollow)."""
        with self.transaction():
            self.db.execute("DELETE FROM sessions WHERE user_hash = ?", [user_hash])
            self.db.execute("UPDATE inbox SET payload = NULL WHERE user_hash = ? AND status IN ('done', 'failed')",
                            [user_hash])
            self.db.execute("UPDATE inbox SET user_hash = NULL WHERE user_hash = ? AND status != 'new'", [user_hash])
            self.db.execute("UPDATE outbox SET messages = NULL, to_id = NULL, reply_token = NULL, status = 'dropped'"
                            " WHERE user_hash = ? AND status IN ('pending', 'failed')", [user_hash])
            self.db.execute("UPDATE outbox SET user_hash = NULL WHERE user_hash = ? AND status != 'sending'",
                            [user_hash])
            self.db.execute("UPDATE dead_letters SET user_hash = NULL WHERE user_hash = ?", [user_hash])
        self.scrub()

    # -- outbox ---------------------------------------------------------------------------
    def due(self, worker: str, now: float | None = None, lease: float = LEASE_SECONDS,
            event_id: str | None = None) -> Delivery | None:
        """Claim one delivery that is due (or whose sender died mid-send)."""
        now = time.time() if now is None else now
        only = "AND event_id = ?" if event_id else ""
        args: list[Any] = [worker, now + lease, now, now] + ([event_id] if event_id else [])
        row = self.db.execute(
            f"""
            UPDATE outbox SET in_doubt = CASE WHEN status = 'sending' THEN 1 ELSE coalesce(in_doubt, 0) END,
                              status = 'sending', claimed_by = ?, lease_until = ?
            WHERE id = (SELECT id FROM outbox
                        WHERE ((status = 'pending' AND next_at <= ?) OR (status = 'sending' AND lease_until < ?))
                        {only} ORDER BY next_at, id LIMIT 1)
            RETURNING id, event_id, channel, user_hash, to_id, reply_token, messages, retry_key, event_ts,
                      attempts, attempt_kind, in_doubt, target, created_at
            """, args).fetchone()
        if row is None:
            return None
        return Delivery(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6] or "[]"), row[7],
                        row[8], row[9], row[10], bool(row[11]), row[12], row[13])

    def attempting(self, delivery: Delivery, kind: str) -> None:
        """Durably note which call is about to go out (used to settle a crash mid-send)."""
        self.db.execute("UPDATE outbox SET attempt_kind = ?, attempts = attempts + 1 WHERE id = ?",
                        [kind, delivery.id])

    def delivered(self, delivery: Delivery, kind: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.db.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, sent_kind = ?, to_id = NULL, reply_token = NULL,"
            " messages = NULL, lease_until = NULL WHERE id = ?", [now, kind, delivery.id])

    def retry_later(self, delivery: Delivery, at: float, error: str, *, drop_reply_token: bool = False,
                    in_doubt: bool = False) -> None:
        """Try again at ``at``; ``in_doubt``: the last call may have gone through (a timeout)."""
        token = ", reply_token = NULL" if drop_reply_token else ""
        self.db.execute(f"UPDATE outbox SET status = 'pending', next_at = ?, last_error = ?, lease_until = NULL,"
                        f" in_doubt = ?{token} WHERE id = ?", [at, error[:200], int(in_doubt), delivery.id])

    def give_up(self, delivery: Delivery, error: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.db.execute("UPDATE outbox SET status = 'failed', last_error = ?, sent_at = ?, lease_until = NULL,"
                        " messages = NULL, to_id = NULL, reply_token = NULL WHERE id = ?",
                        [error[:200], now, delivery.id])

    def once(self, key: str) -> bool:
        """True the first time ``key`` is seen by any process sharing this database."""
        cur = self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", [key, str(time.time())])
        return cur.rowcount == 1

    # -- escalations and the review queue --------------------------------------------------
    def escalation(self, case_no: str) -> dict | None:
        row = self.db.execute("SELECT case_no, intent, title, urgency, area, excerpt, status, taken_by, taken_name,"
                              " taken_at, created_at FROM escalations WHERE case_no = ?", [case_no]).fetchone()
        keys = ("case_no", "intent", "title", "urgency", "area", "excerpt", "status", "taken_by", "taken_name",
                "taken_at", "created_at")
        return dict(zip(keys, row)) if row else None

    def take_escalation(self, case_no: str, who: str, name: str, now: float | None = None) -> dict | None:
        """Record that a staff member took the case (the first one wins); return the case."""
        now = time.time() if now is None else now
        self.db.execute("UPDATE escalations SET status = 'taken', taken_by = ?, taken_name = ?, taken_at = ?"
                        " WHERE case_no = ? AND status = 'open'", [who, name, now, case_no])
        return self.escalation(case_no)

    def posted(self, case_no: str, channel: str, ts: str) -> None:
        self.db.execute("UPDATE escalations SET slack_channel = ?, slack_ts = ? WHERE case_no = ?",
                        [channel, ts, case_no])

    def add_review(self, text: str, predicted: str, correct: str, reviewer: str, now: float | None = None,
                   dedupe_key: str | None = None) -> int:
        """Store a staff flag once; a replay returns the first row's id instead of adding one.

        With ``dedupe_key`` (e.g. from the Slack action's ``action_ts``) the unique key decides.
        Without it, the same reviewer flagging the same text with the same correction within
        ``REVIEW_REPLAY_SECONDS`` is the same flag: a replayed request (Slack retries, a
        double click, a captured request sent again inside Slack's 5-minute signature window)
        repeats exactly that.  The check and the insert share one write transaction, so
        replays arriving at once on several threads or processes still store one row.
        """
        now = time.time() if now is None else now
        with self.transaction():
            if dedupe_key is None:
                same = review_key(text, predicted, correct, reviewer)
                row = self.db.execute("SELECT id FROM reviews WHERE dedupe_key >= ? AND dedupe_key < ?"
                                      " AND created_at >= ? ORDER BY id LIMIT 1",
                                      [same + ":", same + ";", now - REVIEW_REPLAY_SECONDS]).fetchone()
                if row is not None:
                    return row[0]
                dedupe_key = f"{same}:{now!r}"
            self.db.execute("INSERT INTO reviews (created_at, text, predicted, correct, reviewer, dedupe_key)"
                            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING",
                            [now, text, predicted, correct, reviewer, dedupe_key])
            return self.db.execute("SELECT id FROM reviews WHERE dedupe_key = ?", [dedupe_key]).fetchone()[0]

    def reviews(self, include_exported: bool = False) -> list[dict]:
        where = "" if include_exported else " WHERE exported_at IS NULL"
        rows = self.db.execute(f"SELECT id, created_at, text, predicted, correct, reviewer FROM reviews{where}"
                               " ORDER BY id").fetchall()
        return [dict(zip(("id", "created_at", "text", "predicted", "correct", "reviewer"), r)) for r in rows]

    def mark_exported(self, ids: Iterable[int], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.transaction():
            for i in ids:
                self.db.execute("UPDATE reviews SET exported_at = ? WHERE id = ?", [now, i])

    # -- housekeeping ---------------------------------------------------------------------
    def recover(self, host: str, alive: Callable[[int], bool]) -> int:
        """Free work claimed on this host by processes that no longer exist (after a crash).

        Claims are ``host:pid:thread``; a claim by a dead pid of this host is released at
        once instead of waiting for its lease to run out.  Other hosts rely on the lease.
        """
        freed = 0
        for table in ("inbox", "outbox"):
            rows = self.db.execute(f"SELECT DISTINCT claimed_by FROM {table} WHERE status IN ('working', 'sending')"
                                   " AND claimed_by LIKE ?", [host + ":%"]).fetchall()
            for (claim,) in rows:
                try:
                    pid = int(claim.split(":")[1])
                except (IndexError, ValueError):
                    continue
                if not alive(pid):
                    freed += self.db.execute(f"UPDATE {table} SET lease_until = 0 WHERE claimed_by = ?"
                                             " AND status IN ('working', 'sending')", [claim]).rowcount
        return freed

    def backup(self, path: str | os.PathLike) -> int:
        """SQLite online backup to ``path`` (consistent even while other processes write).

        Written to a temporary file next to ``path`` and renamed, so a failed backup never
        spoils the previous one.  Returns the number of pages copied.
        """
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # 0600 from the first byte: a copy made under umask 022 must not be readable while it grows
        tmp.unlink(missing_ok=True)   # left by a crashed run whose pid was this one's
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            target = sqlite3.connect(str(tmp))
            try:
                self.db.conn.backup(target)
                pages = target.execute("PRAGMA page_count").fetchone()[0]
                ok = target.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                target.close()
            if ok != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {ok}")
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return pages

    # -- disk hygiene and health --------------------------------------------------------------
    def scrub(self) -> bool:
        """Checkpoint the WAL into the database and truncate it to zero bytes.

        A cleared row's old text stays in earlier WAL frames until they are overwritten;
        with ``secure_delete`` on, the checkpoint writes pages whose freed space is zeroed,
        and the truncation drops the frames.  False when another connection was busy (the
        next scrub tries again); waits at most ``SCRUB_BUSY_MS`` so a worker never stalls.
        """
        conn = self.db.conn
        conn.execute(f"PRAGMA busy_timeout={SCRUB_BUSY_MS}")
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError:
            busy = 1
        finally:
            conn.execute("PRAGMA busy_timeout=30000")
        return busy == 0

    def heartbeat(self, timeout: float = HEARTBEAT_TIMEOUT, now: float | None = None) -> str | None:
        """Write one small row; None if the database takes writes, else why not (for /healthz).

        A fresh connection with a short lock wait: a database locked by another process or a
        full disk shows up here in seconds instead of as 500s from the webhooks.
        """
        now = time.time() if now is None else now
        try:
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            try:
                conn.execute("INSERT INTO meta (key, value) VALUES ('heartbeat', ?)"
                             " ON CONFLICT(key) DO UPDATE SET value = excluded.value", [repr(now)])
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def depth(self) -> dict[str, int]:
        inbox = self.db.execute("SELECT count(*) FROM inbox WHERE status IN ('new', 'working')").fetchone()[0]
        outbox = self.db.execute("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')").fetchone()[0]
        return {"inbox": inbox, "outbox": outbox}

    def purge(self, older_than: float, now: float | None = None, *,
              pending_max_age: float = 24 * 3600) -> dict[str, int]:
        """Delete what is past the retention period, then scrub the WAL (see ``purge_rows``)."""
        now = time.time() if now is None else now
        with self.transaction():
            removed = purge_rows(self.db.conn, older_than, now, pending_max_age)
        self.scrub()
        return removed


def default_key_file(db_path: Path) -> Path:
    """``<db path>.key``: next to the database, so it shares its directory's protection."""
    return db_path.with_name(db_path.name + ".key")


def _read_or_make_key(path: Path, initial: bytes | None) -> bytes:
    """Read the hex key in ``path``; if there is none, write ``initial`` (or a new key) with 0600.

    Written to a private temporary file and linked into place, so a reader never sees a
    half-written key and two processes never write two different keys.
    """
    try:
        return _parse_key(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write((initial or os.urandom(32)).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return _parse_key(path)


def _parse_key(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValueError(f"{path} does not hold a hashing key (expected 32+ hex digits)")
    return key


def review_key(text: str, predicted: str, correct: str, reviewer: str) -> str:
    """The identity of a staff flag's contents (a hash: no text in the key itself)."""
    return hashlib.sha256(json.dumps([text, predicted, correct, reviewer], ensure_ascii=False).encode()).hexdigest()


def purge_rows(conn: sqlite3.Connection, older_than: float, now: float,
               pending_max_age: float = 24 * 3600) -> dict[str, int]:
    """Delete or clear everything past ``older_than`` seconds (the caller holds a transaction).

    Finished events and answers, cases and dead letters older than the period are deleted;
    a session whose last message is older than the period goes even if it was written with a
    longer expiry (the period was lowered since); an event or answer stuck unprocessed for
    longer than the period loses its text and raw id.  Staff flags of wrong answers
    (``reviews``) are kept until exported, then for the same period; one never exported goes
    after ``REVIEW_KEEP_FACTOR`` times the period.  A consent question nobody answered (its
    masked excerpt) goes after ``pending_max_age``.  Tables missing from an older file (a
    backup) are skipped.
    """
    cutoff = now - older_than
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def run(table: str, sql: str, args: list) -> int:
        return conn.execute(sql, args).rowcount if table in tables else 0

    removed = {
        "inbox": run("inbox", "DELETE FROM inbox WHERE status IN ('done', 'failed', 'dead') AND done_at < ?",
                     [cutoff]),
        "outbox": run("outbox", "DELETE FROM outbox WHERE status IN ('sent', 'failed', 'dropped') AND sent_at < ?",
                      [cutoff]),
        "sessions": run("sessions", "DELETE FROM sessions WHERE expires_at < ? OR updated_at < ?", [now, cutoff]),
    }
    run("sessions", "UPDATE sessions SET data = json_remove(data, '$.pending_consent')"
                    " WHERE json_extract(data, '$.pending_consent.asked_at') < ?", [now - pending_max_age])
    removed["escalations"] = run("escalations", "DELETE FROM escalations WHERE created_at < ?", [cutoff])
    removed["reviews"] = run("reviews", "DELETE FROM reviews WHERE (exported_at IS NOT NULL AND exported_at < ?)"
                                        " OR created_at < ?", [cutoff, now - older_than * REVIEW_KEEP_FACTOR])
    stuck = run("inbox", "UPDATE inbox SET status = 'failed', payload = NULL, done_at = ?, lease_until = NULL,"
                         " result = 'not processed within the retention period'"
                         " WHERE status IN ('new', 'working') AND received_at < ?", [now, cutoff])
    stuck += run("outbox", "UPDATE outbox SET status = 'failed', messages = NULL, to_id = NULL, reply_token = NULL,"
                           " sent_at = ?, lease_until = NULL, last_error = 'not delivered within the retention period'"
                           " WHERE status IN ('pending', 'sending') AND created_at < ?", [now, cutoff])
    if stuck:
        removed["stuck"] = stuck
    dead = run("dead_letters", "DELETE FROM dead_letters WHERE at < ?", [cutoff])
    if dead:
        removed["dead_letters"] = dead
    return removed


def purge_backups(directory: Path, older_than: float, now: float | None = None) -> dict[str, int]:
    """Hold the backups in ``directory`` to the same retention period as the database.

    A backup holds rows up to ``older_than`` old when it is made; keeping it for days would
    keep them past the period.  So each backup (``*.db``) is purged in place like the
    database (and its journal truncated), and a file older than the period is deleted.
    """
    now = time.time() if now is None else now
    result = {"deleted": 0, "purged": 0}
    if not directory.is_dir():
        return result
    for path in sorted(directory.glob("*.db")):
        if path.name.startswith(".") or not path.is_file():
            continue   # a backup being written (its temporary name) is left alone
        try:
            if path.stat().st_mtime < now - older_than:
                path.unlink(missing_ok=True)
                result["deleted"] += 1
            elif _purge_file(path, older_than, now):
                result["purged"] += 1
        except (OSError, sqlite3.Error) as exc:   # one bad file must not stop the others
            log.warning("retention: backup %s not purged: %s", path.name, exc)
    return result


def _purge_file(path: Path, older_than: float, now: float) -> bool:
    """Apply ``purge_rows`` to one SQLite file; True if anything was removed.

    The file keeps its modification time: it says when the backup was made, which is what
    the "older than the period" rule above reads.
    """
    made = path.stat()
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute("BEGIN IMMEDIATE")
        try:
            removed = purge_rows(conn, older_than, now)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    os.utime(path, ns=(made.st_atime_ns, made.st_mtime_ns))
    return any(removed.values())


class _Immediate:
    """BEGIN IMMEDIATE so that writers queue on the lock instead of failing mid-transaction."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.depth_owner = False

    def __enter__(self):
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.depth_owner = True
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if not self.depth_owner:
            return False
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False
