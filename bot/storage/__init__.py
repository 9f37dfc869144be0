"""Durable state behind one interface: the queue, sessions and cases, maintenance.

``open_store`` picks the engine from ``TSUNAGU_DB``: a ``postgresql://`` (or ``postgres://``)
URL selects PostgreSQL, for several hosts; anything else is the path of a SQLite file, the
embedded default.  Callers use the ``Store`` protocol and the records, never SQL.

Privacy: user ids are stored as keyed hashes whose key lives outside the database.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .interface import Cases, Maintenance, Queue, Store
from .maintenance import HEARTBEAT_TIMEOUT, REVIEW_KEEP_FACTOR
from .records import Claimed, Delivery, InboxEvent, Outgoing
from .sql import LEASE_SECONDS, StoreError
from .cases import REVIEW_REPLAY_SECONDS

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["Cases", "Claimed", "Delivery", "HEARTBEAT_TIMEOUT", "InboxEvent", "LEASE_SECONDS", "Maintenance",
           "Outgoing", "Queue", "REVIEW_KEEP_FACTOR", "REVIEW_REPLAY_SECONDS", "Store", "StoreError", "is_url", "open_store"]

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str | os.PathLike) -> bool:
    """True when ``target`` names a PostgreSQL server rather than a SQLite file."""
    return str(target).startswith(URL_SCHEMES)


def open_store(target: "Settings | str | os.PathLike", hash_key: bytes | None = None,
               key_file: str | os.PathLike | None = None) -> Store:
    """The store for ``target``: Settings (its ``db``, hashing key and key file), a URL or a path."""
    if not isinstance(target, (str, os.PathLike)):
        target, hash_key, key_file = target.db, target.hash_key, target.hash_key_file
    if is_url(target):
        from .postgresql import PostgresStore

        return PostgresStore(str(target), hash_key, key_file)
    from .sqlite import SQLiteStore

    return SQLiteStore(Path(target), hash_key, key_file)
