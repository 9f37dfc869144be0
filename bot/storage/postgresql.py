"""The PostgreSQL engine: one server shared by several hosts behind a load balancer.

Claims take the row with ``FOR UPDATE SKIP LOCKED``, so hosts claim at once without waiting for,
or double-taking, each other's rows; the per-user order is the same ``NOT EXISTS`` rule as on
SQLite.  Sessions, event ids, review keys and ``once()`` are unique keys written with
``ON CONFLICT``.  Each thread has its own connection (psycopg 3, autocommit; explicit
transactions where several statements must be one).

There is no file next to a database here: the hashing key must be given (``TSUNAGU_HASH_KEY``
or an existing ``TSUNAGU_HASH_KEY_FILE``), the same on every host.  File backups and WAL
scrubbing are SQLite's; on PostgreSQL, pg_dump backs up, and purged rows are reclaimed by
(auto)vacuum — see deploy/README.md "More than one host".
"""

from __future__ import annotations

import functools
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from .cases import CasesSQL
from .keys import parse_key
from .maintenance import HEARTBEAT_TIMEOUT, MaintenanceSQL
from .queue import QueueSQL
from .sql import Cursor, StoreError, now_or

#: Advisory lock ids: one process at a time creates the schema / checks a review for a replay.
_SCHEMA_LOCK = 0x7473_0001
_REVIEW_LOCK = 0x7473_0002
#: How long a new connection may take before the server counts as unavailable.
CONNECT_TIMEOUT = 10


def schema() -> str:
    """``schema/postgresql.sql`` (each statement idempotent)."""
    return resources.files("bot.storage").joinpath("schema/postgresql.sql").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """The shared statements' ``?`` placeholders as psycopg's ``%s`` (they hold no other ``?``/``%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresStore(QueueSQL, CasesSQL, MaintenanceSQL):
    """``Store`` on a PostgreSQL database; thread-safe (one connection per thread)."""

    SKIP_LOCKED = "FOR UPDATE SKIP LOCKED"
    CLEAR_STALE_CONSENT = ("UPDATE sessions SET data = (data::jsonb - 'pending_consent')::text"
                           " WHERE (data::jsonb #>> '{pending_consent,asked_at}')::double precision < ?")
    UNAVAILABLE = (psycopg.OperationalError,)

    def __init__(self, url: str, hash_key: bytes | None = None, key_file: str | os.PathLike | None = None):
        self.url = url
        info = conninfo_to_dict(url)
        self.description = f"PostgreSQL database {info.get('dbname', '?')} on {info.get('host', 'localhost')}"
        self._local = threading.local()
        self._hash_key = _shared_key(hash_key, key_file)
        try:
            self.migrate()
        except psycopg.Error as exc:
            raise StoreError(f"{self.description}: {exc}".strip()) from None

    # -- connection ---------------------------------------------------------------------
    @property
    def conn(self) -> psycopg.Connection:
        """This thread's connection; a broken one (server restarted) is replaced between transactions.

        Inside a transaction the broken one is kept, so the statement fails and the transaction
        with it, instead of its remaining statements running on their own on a new connection.
        """
        conn = getattr(self._local, "conn", None)
        if conn is None or ((conn.closed or conn.broken) and getattr(self._local, "depth", 0) == 0):
            conn = self._local.conn = psycopg.connect(self.url, autocommit=True, row_factory=dict_row,
                                                      connect_timeout=CONNECT_TIMEOUT)
            self._local.depth = 0
        return conn

    def run(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(_pyformat(sql), list(args))

    def transaction(self) -> "_Transaction":
        return _Transaction(self)

    def migrate(self) -> None:
        """Create what is missing (one host at a time)."""
        with self.transaction():
            self.run(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            self.conn.execute(schema())

    def lock_reviews(self) -> None:
        """Replays of one flag arriving at once on two hosts: one checks and inserts, then the other."""
        self.run(f"SELECT pg_advisory_xact_lock({_REVIEW_LOCK})")

    # -- what SQLite does with files ------------------------------------------------------
    def backup(self, path: str | os.PathLike) -> int:
        raise StoreError("tsunagu backup copies a SQLite file; on PostgreSQL use pg_dump"
                         " (deploy/README.md, \"More than one host\")")

    def purge_backups(self, directory: os.PathLike, older_than: float, now: float | None = None) -> dict[str, int]:
        """Nothing: pg_dump files are the operator's, kept by their own rotation (deploy/README.md)."""
        return {"deleted": 0, "purged": 0}

    def scrub(self) -> bool:
        """Nothing to do here: deleted and cleared row versions are reclaimed by autovacuum."""
        return True

    def heartbeat(self, timeout: float = HEARTBEAT_TIMEOUT, now: float | None = None) -> str | None:
        """Write one small row on a fresh connection with short timeouts; None if that worked."""
        now = now_or(now)
        ms = int(timeout * 1000)
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, round(timeout)),
                                 options=f"-c statement_timeout={ms} -c lock_timeout={ms}") as conn:
                conn.execute("INSERT INTO meta (key, value) VALUES ('heartbeat', %s)"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value", [repr(now)])
        except psycopg.Error as exc:
            return f"{type(exc).__name__}: {str(exc).strip()}"
        return None


def _shared_key(given: bytes | None, key_file: str | os.PathLike | None) -> bytes:
    """The hashing key every host shares; a clear error when none is configured."""
    if given:
        return given
    if key_file is None:
        raise StoreError("TSUNAGU_DB is a PostgreSQL URL: set TSUNAGU_HASH_KEY or TSUNAGU_HASH_KEY_FILE to the"
                         " user-id hashing key, the same on every host (there is no <db>.key file to make one)")
    try:
        return parse_key(Path(key_file))
    except (OSError, ValueError) as exc:
        raise StoreError(f"TSUNAGU_HASH_KEY_FILE: {exc} (with PostgreSQL the key file is not made:"
                         " copy the same key to every host)") from None


class _Transaction:
    """One transaction per thread; a nested ``with`` joins the outer one (as on SQLite)."""

    def __init__(self, store: PostgresStore):
        self.store = store
        self.owner: Any = None

    def __enter__(self) -> psycopg.Connection:
        conn = self.store.conn
        if getattr(self.store._local, "depth", 0) == 0:
            self.owner = conn.transaction()
            self.owner.__enter__()
        self.store._local.depth = getattr(self.store._local, "depth", 0) + 1
        return conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.store._local.depth -= 1
        if self.owner is not None:
            self.owner.__exit__(exc_type, exc, tb)
        return False
