"""The user-id hashing key, kept apart from the hashes it protects.

A copy of the database alone must not let anyone test guesses of user ids against the hashes,
so the key lives in ``TSUNAGU_HASH_KEY`` or in a 0600 key file (SQLite: ``<db>.key`` by default).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def default_key_file(db_path: Path) -> Path:
    """``<db path>.key``: next to the database, so it shares its directory's protection."""
    return db_path.with_name(db_path.name + ".key")


def read_or_make_key(path: Path, initial: bytes | None) -> bytes:
    """Read the hex key in ``path``; if there is none, write ``initial`` (or a new key) with 0600.

    Written to a private temporary file and linked into place, so a reader never sees a
    half-written key and two processes never write two different keys.
    """
    try:
        return parse_key(path)
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
    return parse_key(path)


def parse_key(path: Path) -> bytes:
    """The key in ``path``, or a clear error if the file holds something else."""
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValueError(f"{path} does not hold a hashing key (expected 32+ hex digits)")
    return key
