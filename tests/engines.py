"""The storage engines tests run on: a SQLite file, or a database on a throwaway PostgreSQL cluster.

The cluster is real (Debian's server binaries, ``initdb`` into a temporary directory, its own port),
started once per test session; each test gets a fresh database.  Without the binaries the
PostgreSQL cases are skipped, unless ``TSUNAGU_REQUIRE_PG=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from bot.storage import Store, open_store

ENGINES = ("sqlite", "postgresql")
#: PostgreSQL has no key file next to the database: every host gets the key (TSUNAGU_HASH_KEY).
PG_HASH_KEY = "engine-test-hashing-key-0123456789"


@dataclass(frozen=True)
class Target:
    """One test's database: opened in-process (``open``) or handed to a server (``env``); picklable."""

    engine: str
    db: str
    hash_key: bytes | None = None

    def open(self) -> Store:
        return open_store(self.db, self.hash_key)

    def settings(self) -> dict:
        """The ``Settings`` fields that point an app at this database."""
        if self.engine == "sqlite":
            return {"db_path": Path(self.db)}
        return {"db_url": self.db, "hash_key": self.hash_key}

    def env(self) -> dict[str, str]:
        key = {"TSUNAGU_HASH_KEY": self.hash_key.decode()} if self.hash_key else {}
        return {"TSUNAGU_DB": self.db, **key}


def pg_bin() -> Path | None:
    """Debian's server binaries (newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A PostgreSQL server in a temporary directory, for one test session."""

    bin: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tsunagu-pg-")))
    port: int = field(default_factory=_free_port)
    _n: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _as_owner(self, *args: str) -> list[str]:
        """The server refuses to run as root: run its commands as ``postgres`` then."""
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)

    def start(self) -> "Cluster":
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        data = str(self.root / "data")
        subprocess.run(self._as_owner(str(self.bin / "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                                      "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
                       check=True, capture_output=True)
        # a throwaway cluster: durability off (the tests kill app processes, never this server)
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run(self._as_owner(str(self.bin / "pg_ctl"), "-D", data, "-l", str(self.root / "log"),
                                      "-o", options, "-w", "start"), check=True, capture_output=True)
        return self

    def stop(self) -> None:
        subprocess.run(self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate",
                                      "stop"), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        with self._lock:
            self._n += 1
            name = f"t{os.getpid()}_{self._n}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)
