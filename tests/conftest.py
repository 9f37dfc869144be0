"""Shared fixtures: the real knowledge files, loaded once per test session."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import Settings
from bot.triage import load

DATA = Path(__file__).parent / "data"
#: A fixed "now" for reproducible tests: Friday 2026-11-27, 10:00 in Japan.
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    base = Settings.from_env({})
    return Settings(intents_dir=base.intents_dir, responses_dir=base.responses_dir,
                    db_path=tmp_path_factory.mktemp("db") / "tsunagu.db", cache_dir=base.cache_dir)


@pytest.fixture(scope="session")
def loaded(settings):
    return load(settings)


@pytest.fixture(scope="session")
def triage(loaded):
    return loaded.triage


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def live_version(settings):
    """The knowledge + conversation a server would run on (built once)."""
    from bot.live import build

    return build(settings)


@pytest.fixture(scope="session")
def conversation(loaded, settings):
    """The conversation around the triage (area follow-up, topics), without staff escalation."""
    from bot.conversation import Conversation, load_texts

    return Conversation(loaded.triage, load_texts(settings.responses_dir))


@pytest.fixture(scope="session", autouse=True)
def shared_cache(loaded, settings):
    """The shipped files' trained model and knowledge-gate results in the shared cache directory, which
    tests copy into their own (``servers.seed_cache``): made once, then kept across sessions."""
    from bot import gate

    gate.evaluate(loaded, settings)
    return settings.cache_dir


# -- storage engines (tests/engines.py) -----------------------------------------------------------
@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL server for the session; skipped without the binaries (unless required)."""
    import os

    from engines import Cluster, pg_bin

    binaries = pg_bin()
    if binaries is None:
        reason = "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (Debian package postgresql)"
        if os.environ.get("TSUNAGU_REQUIRE_PG") == "1":
            pytest.fail(f"TSUNAGU_REQUIRE_PG=1 but {reason}")
        pytest.skip(reason)
    cluster = Cluster(binaries).start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request, tmp_path):
    """The same test on each engine: a SQLite file, or a fresh database on the session's PostgreSQL."""
    from engines import PG_HASH_KEY, Target

    if request.param == "sqlite":
        return Target("sqlite", str(tmp_path / "t.db"))
    cluster = request.getfixturevalue("pg_cluster")
    return Target("postgresql", cluster.new_database(), PG_HASH_KEY.encode())
