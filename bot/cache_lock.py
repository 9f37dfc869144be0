"""A lock file in the cache directory: processes starting together make a thing once, not each.

Used by the knowledge loader (training the model) and the reload gate (replaying the cases).
"""

from __future__ import annotations

import fcntl
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: Longest wait for another process making the same thing (seconds).
WAIT = 30.0


@contextmanager
def cache_lock(cache_dir: Path, name: str, wait: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``<cache_dir>/<name>.lock`` while making something other processes
    would otherwise make too (they wait, then read the kept copy).  Gives up waiting after ``wait``
    seconds (default :data:`WAIT`) and goes ahead anyway; never fails the caller."""
    handle = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle = open(cache_dir / f"{name}.lock", "a")
        deadline = time.monotonic() + (WAIT if wait is None else wait)
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
    except OSError:
        pass
    try:
        yield
    finally:
        if handle is not None:
            handle.close()   # releases the lock
