"""The little an engine must provide so that the shared SQL in queue/cases/maintenance runs on it.

Statements are written once with ``?`` placeholders in the SQL both SQLite and PostgreSQL
understand (``ON CONFLICT``, ``RETURNING``); an engine runs them on its connection and answers
rows that are read by column name.  What differs (claiming under concurrency, JSON, files on
disk) is a hook the engine overrides.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, Protocol, Sequence

#: After this long a claimed row whose worker died is claimed again.
LEASE_SECONDS = 30.0


class StoreError(Exception):
    """The store cannot do what was asked (not a tsunagu database, a failed backup, no key…).

    Raised with a message meant for the operator; callers show it instead of a traceback.
    """


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class SQLEngine(ABC):
    """Connection, transactions and the user-id hashing key of one engine."""

    _hash_key: bytes
    #: Each thread's own connection (``_local.conn``), opened on first use by the engine.
    _local: threading.local
    #: The engine's errors that mean "unavailable right now" (locked, server gone): a webhook
    #: answers 500 and the platform delivers again.
    UNAVAILABLE: tuple[type[Exception], ...] = ()

    @abstractmethod
    def run(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        """Execute one statement with ``?`` placeholders; rows come back readable by name."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager:
        """One write transaction; nested uses join the outer one."""

    @abstractmethod
    def scrub(self) -> bool:
        """Make text cleared from rows unrecoverable from the engine's files; False: try later."""

    def close(self) -> None:
        """Close this thread's connection; the next statement opens a new one."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.run(sql, args).fetchone()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self.run(sql, args).fetchall()

    def user_hash(self, channel: str, user_id: str) -> str:
        """Keyed hash of a platform user id (never store or log the raw id)."""
        mac = hmac.new(self._hash_key, f"{channel}:{user_id}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]


def now_or(now: float | None) -> float:
    """The caller's clock (tests) or the wall clock."""
    return time.time() if now is None else now
