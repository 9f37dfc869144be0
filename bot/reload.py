"""Hot reload of the knowledge files, safe against broken edits.

A running server watches ``intents/`` and ``responses/``; when a file changes it
loads and validates everything in the background, passes it through the knowledge
gate (:mod:`bot.gate`: danger examples stay emergencies, nothing that routed right
on the live version routes differently) and swaps the new version in atomically
(requests in flight finish on the old one).  A broken or refused edit keeps the
last good version live: the errors are logged (file:line) and, when Slack is set
up, posted once to the admin channel; /healthz says ``rejected`` and why.

Every good version is also copied to ``<cache>/last-good/`` with the gate's results;
a server that starts (or restarts on SIGHUP) while the files are broken or refused
runs on that copy.
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

from . import gate
from .config import Settings
from .issues import Issue, errors
from .triage import KnowledgeError, load
from .live import Live, Version, build

log = logging.getLogger("tsunagu.reload")


@dataclass(frozen=True)
class ReloadResult:
    status: str                      # unchanged | reloaded | rejected
    version: str
    issues: tuple[Issue, ...] = ()

    def to_json(self) -> dict:
        """For /healthz: the first few reasons name file:line and where items now go, never a message text."""
        return {"status": self.status, "errors": len(self.issues), "reasons": gate.reasons(self.issues)}


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


def save_snapshot(settings: Settings, version: str, evaluation: gate.Evaluation | None = None) -> None:
    """Keep a copy of files that just went live (with the gate's results); never fails the reload that called it.

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
                if evaluation is not None:
                    gate.write_result(tmp / "gate.json", evaluation)
                os.rename(tmp, final)
            except OSError:
                if not final.exists():
                    raise
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        if evaluation is not None and gate.read_result(final / "gate.json", evaluation.key) is None:
            gate.write_result(final / "gate.json", evaluation)
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
    """The current files if they load and pass the gate; else the last good copy (and the errors are reported)."""
    return start(settings, notify, **kwargs)[0]


def start(settings: Settings, notify: Callable[[list[Issue]], None] | None = None,
          **kwargs) -> tuple[Version, ReloadResult]:
    """What a starting worker runs on, and what /healthz says of it until the next reload.

    The files are judged against the last good copy (:func:`bot.gate.last_good`).  When they fail
    and a last good copy exists, that copy runs (it passed the gate when it went live); with no copy,
    :class:`KnowledgeError` (or :class:`bot.gate.Refused`) stops the start with the errors."""
    try:
        version = build(settings, **kwargs)
        verdict = gate.admit(version.loaded, settings)
        if verdict.refused:
            raise gate.Refused(verdict)
    except (KnowledgeError, gate.Refused) as exc:
        snap = snapshot_dir(settings)
        _report(exc.issues, "knowledge not loaded")
        if not (snap / "intents").is_dir():
            log.error("no last good copy in %s: cannot start", snap)
            raise
        if notify:
            notify(exc.issues)
        log.warning("running on the last good version from %s", snap.resolve())
        version = build(replace(settings, intents_dir=snap / "intents", responses_dir=snap / "responses"), **kwargs)
        return version, ReloadResult("rejected", version.id, tuple(errors(exc.issues)))
    save_snapshot(settings, version.id, verdict.evaluation)
    return version, ReloadResult("unchanged", version.id)


def prepare(settings: Settings | None = None) -> None:
    """Train and judge the current files ahead of the workers that will load them (run in a child
    process by the gunicorn master on SIGHUP, while the old workers still answer): the new workers then
    find the model and the gate's results kept and start in about the time of a plain load.  Never fails."""
    settings = settings or Settings.from_env()
    try:
        loaded = load(settings)
        gate.evaluate(loaded, settings)
        gate.last_good(settings)
    except Exception as exc:   # the workers will say what is wrong, with file:line
        log.warning("preparing the knowledge files failed (%s); the new workers will load them", type(exc).__name__)


def _report(issues: list[Issue], what: str) -> None:
    """Short log lines: file:line and what now happens, the first few (never a message text)."""
    errs = errors(issues)
    for line in gate.reasons(errs):
        log.error("%s: %s", what, line)


class Reloader:
    """Polls the knowledge files and swaps in a new version when they change and validate."""

    def __init__(self, live: Live, settings: Settings, *, interval: float = 2.0,
                 notify: Callable[[list[Issue]], None] | None = None,
                 observe: Callable[[str], None] | None = None, seen: str | None = None,
                 last: ReloadResult | None = None, **build_kwargs):
        """``seen``: the files' fingerprint taken *before* the live version was loaded, so an
        edit made while it loaded is not mistaken for what is already live.  ``last``: what the
        start said (:func:`start`), shown on /healthz until the next change."""
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
        self.last = last or ReloadResult("unchanged", live.current.id)

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
                current = gate.evaluate(version.loaded, self.settings)
                verdict = gate.judge(current, gate.evaluate(self.live.current.loaded, self.settings))
                if verdict.refused:
                    raise gate.Refused(verdict)
            except (KnowledgeError, gate.Refused) as exc:
                self._seen = now
                _report(exc.issues, "reload rejected")
                log.warning("reload rejected (%d error(s)): keeping version %s live",
                            len(errors(exc.issues)), self.live.current.id)
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
            save_snapshot(self.settings, version.id, current)
            log.info("knowledge reloaded: version %s", version.id)
            self.last = ReloadResult("reloaded", version.id)
            self.observe("reloaded")
            return self.last
