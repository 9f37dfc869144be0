"""Hot reload of the knowledge files, safe against broken edits.

A running server watches ``intents/`` and ``responses/``; when a file changes it
loads and validates everything in the background and swaps the new version in
atomically (requests in flight finish on the old one).  A broken edit keeps the
last good version live: the errors are logged (file:line) and, when Slack is set
up, posted once to the admin channel.

Every good version is also copied to ``<cache>/last-good/``; a server that
starts (or restarts on SIGHUP) while the files are broken runs on that copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .config import Settings
from .issues import Issue, errors
from .knowledge import KnowledgeError
from .live import Live, Version, build

log = logging.getLogger("tsunagu.reload")


@dataclass(frozen=True)
class ReloadResult:
    status: str                      # unchanged | reloaded | rejected
    version: str
    issues: tuple[Issue, ...] = ()


def fingerprint(*dirs: Path) -> str:
    """Changes whenever a file under ``dirs`` is added, removed, renamed or rewritten."""
    h = hashlib.sha256()
    for root in dirs:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                st = path.stat()
                h.update(f"{path}:{st.st_mtime_ns}:{st.st_size}\n".encode())
    return h.hexdigest()


def snapshot_dir(settings: Settings) -> Path:
    return settings.cache_dir / "last-good"


def save_snapshot(settings: Settings) -> None:
    """Copy the files that just loaded cleanly (temp dir, then rename: never half a copy)."""
    target = snapshot_dir(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".last-good-"))
    try:
        shutil.copytree(settings.intents_dir, tmp / "intents")
        shutil.copytree(settings.responses_dir, tmp / "responses")
        old = target.with_name(target.name + ".old")
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_or_last_good(settings: Settings, notify: Callable[[list[Issue]], None] | None = None,
                       **kwargs) -> Version:
    """The current files if they load; else the last good copy (and the errors are reported)."""
    try:
        version = build(settings, **kwargs)
    except KnowledgeError as exc:
        snap = snapshot_dir(settings)
        if not (snap / "intents").is_dir():
            raise
        for issue in errors(exc.issues):
            log.error("knowledge not loaded: %s", issue)
        if notify:
            notify(exc.issues)
        log.warning("running on the last good version from %s", snap)
        return build(replace(settings, intents_dir=snap / "intents", responses_dir=snap / "responses"), **kwargs)
    save_snapshot(settings)
    return version


class Reloader:
    """Polls the knowledge files and swaps in a new version when they change and validate."""

    def __init__(self, live: Live, settings: Settings, *, interval: float = 2.0,
                 notify: Callable[[list[Issue]], None] | None = None,
                 observe: Callable[[str], None] | None = None, **build_kwargs):
        self.live = live
        self.settings = settings
        self.interval = interval
        self.notify = notify
        self.observe = observe or (lambda status: None)
        self.build_kwargs = build_kwargs
        self._seen = fingerprint(settings.intents_dir, settings.responses_dir)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last = ReloadResult("unchanged", live.current.id)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tsunagu-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise
                log.exception("reload check failed")

    def check(self, force: bool = False) -> ReloadResult:
        """Reload if the files changed since the last look (or ``force``)."""
        with self._lock:
            now = fingerprint(self.settings.intents_dir, self.settings.responses_dir)
            if now == self._seen and not force:
                return self.last
            self._seen = now
            try:
                version = build(self.settings, **self.build_kwargs)
            except KnowledgeError as exc:
                for issue in errors(exc.issues):
                    log.error("reload rejected: %s", issue)
                log.warning("reload rejected: keeping version %s live", self.live.current.id)
                if self.notify:
                    self.notify(exc.issues)
                self.last = ReloadResult("rejected", self.live.current.id, tuple(errors(exc.issues)))
                self.observe("rejected")
                return self.last
            self.live.swap(version)
            save_snapshot(self.settings)
            log.info("knowledge reloaded: version %s", version.id)
            self.last = ReloadResult("reloaded", version.id)
            self.observe("reloaded")
            return self.last
