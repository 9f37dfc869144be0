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
    """The last good copy: a symlink to ``last-good-<version>`` (switched atomically)."""
    return settings.cache_dir / "last-good"


def save_snapshot(settings: Settings, version: str) -> None:
    """Keep a copy of files that just loaded cleanly; never fails the reload that called it.

    Several server processes may do this at once: each copies into its own temp dir, the first
    to rename it to ``last-good-<version>`` wins, and the ``last-good`` link is replaced atomically.
    """
    root = settings.cache_dir
    final = root / f"last-good-{version}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not final.exists():
            tmp = Path(tempfile.mkdtemp(dir=root, prefix=".copy-"))
            try:
                shutil.copytree(settings.intents_dir, tmp / "intents")
                shutil.copytree(settings.responses_dir, tmp / "responses")
                os.rename(tmp, final)
            except OSError:
                if not final.exists():
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        link = root / f".last-good-{os.getpid()}-{threading.get_ident()}"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(final.name)
        os.replace(link, snapshot_dir(settings))
        for old in sorted(root.glob("last-good-*"), key=lambda p: p.stat().st_mtime)[:-3]:
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        log.warning("could not save the last good copy of the knowledge files", exc_info=True)


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
        log.warning("running on the last good version from %s", snap.resolve())
        return build(replace(settings, intents_dir=snap / "intents", responses_dir=snap / "responses"), **kwargs)
    save_snapshot(settings, version.id)
    return version


class Reloader:
    """Polls the knowledge files and swaps in a new version when they change and validate."""

    def __init__(self, live: Live, settings: Settings, *, interval: float = 2.0,
                 notify: Callable[[list[Issue]], None] | None = None,
                 observe: Callable[[str], None] | None = None, seen: str | None = None, **build_kwargs):
        """``seen``: the files' fingerprint taken *before* the live version was loaded, so an
        edit made while it loaded is not mistaken for what is already live."""
        self.live = live
        self.settings = settings
        self.interval = interval
        self.notify = notify
        self.observe = observe or (lambda status: None)
        self.build_kwargs = build_kwargs
        self._seen = seen or fingerprint(settings.intents_dir, settings.responses_dir)
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
            try:
                version = build(self.settings, **self.build_kwargs)
            except KnowledgeError as exc:
                self._seen = now
                for issue in errors(exc.issues):
                    log.error("reload rejected: %s", issue)
                log.warning("reload rejected: keeping version %s live", self.live.current.id)
                if self.notify:
                    self.notify(exc.issues)
                self.last = ReloadResult("rejected", self.live.current.id, tuple(errors(exc.issues)))
                self.observe("rejected")
                return self.last
            except Exception:
                # not the files' fault (e.g. a file still being written): look again next time
                log.exception("reload failed; will retry")
                return self.last
            self._seen = now
            self.live.swap(version)
            save_snapshot(self.settings, version.id)
            log.info("knowledge reloaded: version %s", version.id)
            self.last = ReloadResult("reloaded", version.id)
            self.observe("reloaded")
            return self.last
