"""Settings from the environment (DESIGN.md "Environment")."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .storage import is_url

log = logging.getLogger("tsunagu.config")

#: The repository (or install) root: intents/ and responses/ live next to bot/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_dir(name: str) -> Path:
    here = PROJECT_ROOT / name
    return here if here.is_dir() else Path.cwd() / name


def _default_cases_dir() -> Path | None:
    """The labelled cases the knowledge gate replays (bot/gate.py): the repository's tests/data, if present."""
    here = PROJECT_ROOT / "tests" / "data"
    return here if here.is_dir() else None


@dataclass(frozen=True)
class Settings:
    intents_dir: Path = field(default_factory=lambda: _default_dir("intents"))
    responses_dir: Path = field(default_factory=lambda: _default_dir("responses"))
    #: TSUNAGU_DB as a SQLite file (the embedded default); unused when ``db_url`` is set.
    db_path: Path = Path("tsunagu.db")
    #: TSUNAGU_DB as a ``postgresql://`` URL: the PostgreSQL server several hosts share (bot/storage).
    db_url: str | None = None
    cache_dir: Path = field(default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                            / "tsunagu")
    timezone: str = "Asia/Tokyo"
    line_channel_secret: str | None = None
    line_channel_access_token: str | None = None
    line_api_base_url: str = "https://api.line.me"
    slack_signing_secret: str | None = None
    slack_bot_token: str | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    slack_escalation_channel: str | None = None
    hash_key: bytes | None = None
    line_timeout: tuple[float, float] = (3.0, 10.0)
    try_page: bool = False  # /try for every client, not only localhost (bot/trypage.py)
    slack_admin_channel: str | None = None
    reload_interval: float = 2.0
    #: Labelled cases (``*.jsonl``) an edit must keep routing as before (bot/gate.py); None: none.
    cases_dir: Path | None = field(default_factory=_default_cases_dir)
    retention_days: float = 30.0
    #: Largest file ``tsunagu directory import`` reads, in MB (MiB); the official list is well under 1 MB.
    import_max_mb: float = 20.0
    #: Seconds after which a webhook event is refused as a replay (bot/channels/line/webhook.py); never longer
    #: than the retention, whose purge deletes the rows that deduplicate events.
    replay_window: float = 24 * 3600.0
    #: Host names (``Host`` header, any port) /try answers to: a DNS-rebinding page sends its own name.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    #: The hashing key's file when TSUNAGU_HASH_KEY is unset; None: ``<db path>.key`` (bot/storage/keys.py;
    #: PostgreSQL has no such default: one of the two must be set).
    hash_key_file: Path | None = None
    #: Processing attempts before an event is set aside as a dead letter (bot/worker.py).
    max_attempts: int = 3
    #: Where `tsunagu backup` files are kept; the retention period is applied to them too.
    backup_dir: Path | None = None

    @property
    def db(self) -> str | Path:
        """What TSUNAGU_DB names: the PostgreSQL URL if one is set, else the SQLite file."""
        return self.db_url or self.db_path

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_signing_secret and self.slack_bot_token)

    @property
    def import_max_bytes(self) -> int:
        return int(self.import_max_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        base = cls()

        def path(name: str, default: Path | None) -> Path | None:
            value = env.get(name)
            return Path(value).expanduser() if value else default

        retention = _number(env.get("TSUNAGU_RETENTION_DAYS"), base.retention_days, "TSUNAGU_RETENTION_DAYS")
        return cls(
            intents_dir=path("TSUNAGU_INTENTS_DIR", base.intents_dir),
            responses_dir=path("TSUNAGU_RESPONSES_DIR", base.responses_dir),
            db_path=base.db_path if is_url(env.get("TSUNAGU_DB") or "") else path("TSUNAGU_DB", base.db_path),
            db_url=env["TSUNAGU_DB"] if is_url(env.get("TSUNAGU_DB") or "") else None,
            cache_dir=path("TSUNAGU_CACHE_DIR", base.cache_dir),
            timezone=env.get("TSUNAGU_TIMEZONE") or base.timezone,
            line_channel_secret=env.get("LINE_CHANNEL_SECRET") or None,
            line_channel_access_token=env.get("LINE_CHANNEL_ACCESS_TOKEN") or None,
            line_api_base_url=(env.get("LINE_API_BASE_URL") or base.line_api_base_url).rstrip("/"),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
            slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
            slack_api_base_url=env.get("SLACK_API_BASE_URL") or base.slack_api_base_url,
            slack_escalation_channel=env.get("SLACK_ESCALATION_CHANNEL") or None,
            hash_key=env["TSUNAGU_HASH_KEY"].encode() if env.get("TSUNAGU_HASH_KEY") else None,
            line_timeout=_timeout(env.get("LINE_API_TIMEOUT"), base.line_timeout),
            try_page=env.get("TSUNAGU_TRY_PAGE") == "1",
            slack_admin_channel=env.get("SLACK_ADMIN_CHANNEL") or None,
            reload_interval=_number(env.get("TSUNAGU_RELOAD_INTERVAL"), base.reload_interval,
                                    "TSUNAGU_RELOAD_INTERVAL"),
            cases_dir=path("TSUNAGU_CASES_DIR", base.cases_dir),
            retention_days=retention,
            import_max_mb=_number(env.get("TSUNAGU_IMPORT_MAX_MB"), base.import_max_mb, "TSUNAGU_IMPORT_MAX_MB"),
            replay_window=_replay_window(env.get("TSUNAGU_REPLAY_WINDOW"), base.replay_window, retention),
            allowed_hosts=_hosts(env.get("TSUNAGU_ALLOWED_HOSTS"), base.allowed_hosts),
            hash_key_file=path("TSUNAGU_HASH_KEY_FILE", base.hash_key_file),
            max_attempts=max(1, int(_number(env.get("TSUNAGU_MAX_ATTEMPTS"), base.max_attempts,
                                            "TSUNAGU_MAX_ATTEMPTS"))),
            backup_dir=path("TSUNAGU_BACKUP_DIR", base.backup_dir),
        )


def _number(value: str | None, default: float, name: str = "") -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0 or number != number:
        log.warning("%s=%r is not a number of 0 or more; using %s", name, value, default)
        return default
    return number


def _replay_window(value: str | None, default: float, retention_days: float) -> float:
    """Seconds (``TSUNAGU_REPLAY_WINDOW``), cut to the retention when longer.

    An event older than the retention may have lost its dedupe row to the purge; the replay
    window must refuse it before that can happen.
    """
    window = _number(value, default, "TSUNAGU_REPLAY_WINDOW")
    retention = retention_days * 86400
    if 0 < retention < window:
        log.warning("TSUNAGU_REPLAY_WINDOW=%s is longer than the retention (%s s); using %s", window, retention,
                    retention)
        return retention
    return window


def _hosts(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """``TSUNAGU_ALLOWED_HOSTS``: a comma list of host names (no ports: every port is allowed)."""
    if not value or not value.strip():
        return default
    return tuple(h.strip().lower() for h in value.split(",") if h.strip())


def _timeout(value: str | None, default: tuple[float, float]) -> tuple[float, float]:
    """``"3,10"`` (connect, read seconds) or one number for both."""
    if not value:
        return default
    try:
        parts = [float(x) for x in value.split(",")]
    except ValueError:
        parts = []
    if not parts or len(parts) > 2 or not all(p > 0 for p in parts):
        log.warning("LINE_API_TIMEOUT=%r should be seconds, e.g. '3,10' (connect, read); using %s", value, default)
        return default
    return (parts[0], parts[-1])
