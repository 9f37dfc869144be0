"""The SQLite engine: the embedded default, one file shared by the processes of one host.

Several processes share the file in WAL mode; claims are single ``UPDATE … RETURNING``
statements and writes take the lock up front (``BEGIN IMMEDIATE``).  Cleared text must not
survive on disk either: every connection runs with ``secure_delete`` (freed content is zeroed)
and ``scrub()`` checkpoints and truncates the WAL, whose old frames still hold the text after
the row was cleared.  Backups are files too: written 0600 and held to the retention period.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from .cases import REVIEW_REPLAY_SECONDS, CasesSQL, review_key
from .keys import default_key_file, read_or_make_key
from .maintenance import HEARTBEAT_TIMEOUT, MaintenanceSQL, purge_rows
from .queue import QueueSQL
from .sql import Cursor, StoreError, now_or

log = logging.getLogger("tsunagu.store")
#: How long scrub() waits for other connections before leaving the WAL for the next scrub.
SCRUB_BUSY_MS = 1000
CLEAR_STALE_CONSENT = ("UPDATE sessions SET data = json_remove(data, '$.pending_consent')"
                       " WHERE json_extract(data, '$.pending_consent.asked_at') < ?")


def schema() -> list[str]:
    """The statements of ``schema/sqlite.sql`` (each idempotent)."""
    text = resources.files("bot.storage").joinpath("schema/sqlite.sql").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


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


class SQLiteStore(QueueSQL, CasesSQL, MaintenanceSQL):
    """``Store`` on one SQLite file; thread-safe (one connection per thread)."""

    CLEAR_STALE_CONSENT = CLEAR_STALE_CONSENT
    UNAVAILABLE = (sqlite3.OperationalError,)

    def __init__(self, path: str | os.PathLike, hash_key: bytes | None = None,
                 key_file: str | os.PathLike | None = None):
        self.path = Path(path)
        self.description = str(self.path)
        self.key_file = Path(key_file) if key_file else default_key_file(self.path)
        self._local = threading.local()
        try:
            self.migrate()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "not a database" not in str(exc):
                raise   # locked, disk full: a retry may work, the caller decides
            raise StoreError(f"{self.path} is not a tsunagu database: {exc}") from None
        self._hash_key = self._key(hash_key)

    # -- connection ---------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (made on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _connect(self) -> sqlite3.Connection:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # conversation data: readable by the bot's user only
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        _wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")   # freed rows are zeroed, not left in free space
        return conn

    def run(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(sql, args)

    def transaction(self) -> "_Immediate":
        """``with store.transaction():`` — BEGIN IMMEDIATE … COMMIT (ROLLBACK on error)."""
        return _Immediate(self.conn)

    # -- schema and migrations ------------------------------------------------------------
    def migrate(self) -> None:
        """Create what is missing; bring a database of an older version up to date."""
        with self.transaction():
            columns = {r["name"] for r in self.all("PRAGMA table_info(reviews)")}
            if columns and "dedupe_key" not in columns:
                self._add_review_keys()
            for statement in schema():
                self.run(statement)

    def _add_review_keys(self) -> None:
        """Migration: reviews get ``dedupe_key``; replays stored before it are merged into one."""
        self.run("ALTER TABLE reviews ADD COLUMN dedupe_key TEXT")
        self.run("DELETE FROM reviews WHERE EXISTS (SELECT 1 FROM reviews o WHERE o.id < reviews.id"
                 " AND o.text IS reviews.text AND o.predicted IS reviews.predicted"
                 " AND o.correct IS reviews.correct AND o.reviewer IS reviews.reviewer"
                 " AND reviews.created_at - o.created_at < ?)", [REVIEW_REPLAY_SECONDS])
        for r in self.all("SELECT id, created_at, text, predicted, correct, reviewer FROM reviews"):
            key = f"{review_key(r['text'], r['predicted'], r['correct'], r['reviewer'])}:{r['created_at']!r}:{r['id']}"
            self.run("UPDATE reviews SET dedupe_key = ? WHERE id = ?", [key, r["id"]])

    def _key(self, given: bytes | None) -> bytes:
        """The user-id hashing key: ``given`` (TSUNAGU_HASH_KEY) wins; otherwise the key file.

        Older versions kept the key in ``meta``: it moves to the key file (hashes stay the same)
        and is deleted from the database and its WAL.
        """
        with self.transaction():   # one process at a time makes or migrates the file
            row = self.one("SELECT value FROM meta WHERE key = 'hash_key'")
            key = None
            if given is None or row is not None:
                key = read_or_make_key(self.key_file, bytes.fromhex(row["value"]) if row else None)
            if row is not None:
                self.run("DELETE FROM meta WHERE key = 'hash_key'")
        if row is not None:
            self.scrub()
        return given or key  # type: ignore[return-value]

    # -- files: backup, scrub, heartbeat --------------------------------------------------
    def backup(self, path: str | os.PathLike) -> int:
        """SQLite online backup to ``path`` (consistent even while other processes write).

        Written to a temporary file next to ``path`` and renamed, so a failed backup never
        spoils the previous one.  Returns the number of pages copied.
        """
        try:
            return self._backup(Path(path))
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from None

    def _backup(self, path: Path) -> int:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # 0600 from the first byte: a copy made under umask 022 must not be readable while it grows
        tmp.unlink(missing_ok=True)   # left by a crashed run whose pid was this one's
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            target = sqlite3.connect(str(tmp))
            try:
                self.conn.backup(target)
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

    def scrub(self) -> bool:
        """Checkpoint the WAL into the database and truncate it to zero bytes.

        A cleared row's old text stays in earlier WAL frames until they are overwritten;
        with ``secure_delete`` on, the checkpoint writes pages whose freed space is zeroed,
        and the truncation drops the frames.  False when another connection was busy (the
        next scrub tries again); waits at most ``SCRUB_BUSY_MS`` so a worker never stalls.
        """
        conn = self.conn
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
        now = now_or(now)
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

    def purge_backups(self, directory: os.PathLike, older_than: float, now: float | None = None) -> dict[str, int]:
        """Hold the backups in ``directory`` to the same retention period as the database.

        A backup holds rows up to ``older_than`` old when it is made; keeping it for days would
        keep them past the period.  So each backup (``*.db``) is purged in place like the
        database (and its journal truncated), and a file older than the period is deleted.
        """
        now = now_or(now)
        directory = Path(directory)
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
    """Apply ``purge_rows`` to one backup file; True if anything was removed.

    The file keeps its modification time: it says when the backup was made, which is what
    the "older than the period" rule above reads.
    """
    made = path.stat()
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete=ON")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        with _Immediate(conn):
            removed = purge_rows(lambda sql, args: conn.execute(sql, args).rowcount, tables, older_than, now,
                                 24 * 3600, CLEAR_STALE_CONSENT)
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

    def __enter__(self) -> sqlite3.Connection:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.depth_owner = True
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.depth_owner:
            return False
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False
