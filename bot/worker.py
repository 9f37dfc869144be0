"""Background workers: claim stored events, answer them, deliver the answers.

Runs as threads inside each server process.  Work is claimed atomically in
SQLite, so any number of threads and processes can run side by side; a worker
that dies leaves a lease that runs out, and another one takes over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

from .conversation import CONSENT_SECONDS, SESSION_TTL
from .storage import Claimed, Delivery, Outgoing, Store

log = logging.getLogger("tsunagu.worker")

#: A failing event is tried this many times, then set aside as a dead letter with an apology
#: (TSUNAGU_MAX_ATTEMPTS).
MAX_PROCESS_ATTEMPTS = 3
#: The WAL is scrubbed at most this often, busy or idle (see SQLiteStore.scrub and Worker.scrub).
SCRUB_SECONDS = 1.0
POLL_SECONDS = 0.2
#: How often an idle worker looks for work left by dead processes of this host.
RECOVER_SECONDS = 5.0


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _where(exc: BaseException) -> str:
    """``file:line`` where ``exc`` was raised: enough to find the bug, without its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"


@dataclass
class Processed:
    """What handling one event produced (written in one transaction)."""

    answers: list[Outgoing]
    session: tuple[str, dict | None] | None = None
    result: str = ""
    escalation: dict | None = None
    intent: str | None = None      # for metrics (no text)
    urgency: str | None = None


class Processor(Protocol):
    def process(self, claimed: Claimed, now: datetime) -> Processed: ...

    def fallback(self, claimed: Claimed) -> list[Outgoing]: ...


class Sender(Protocol):
    def send(self, delivery: Delivery): ...


class Worker:
    def __init__(self, store: Store, processors: dict[str, Processor], senders: dict[str, Sender], *,
                 timezone: str = "Asia/Tokyo", threads: int = 2, observe: Callable[[str, dict], None] | None = None,
                 retention_seconds: float = 30 * 24 * 3600, housekeeping_every: float = 3600.0,
                 max_attempts: int = MAX_PROCESS_ATTEMPTS, backup_dir: Path | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.store = store
        self.processors = processors
        self.senders = senders
        self.tz = ZoneInfo(timezone)
        #: "now" for the conversation (a fixed time in the memory channel's tests)
        self.clock = clock or (lambda: datetime.now(self.tz))
        self.threads = threads
        self.observe = observe or (lambda name, info: None)
        self.retention_seconds = retention_seconds
        self.housekeeping_every = housekeeping_every
        self.max_attempts = max(1, max_attempts)
        self.backup_dir = backup_dir
        self._dirty = False          # text was cleared since the last scrub
        self._next_scrub = 0.0
        self._next_housekeeping = 0.0
        self._next_recover = 0.0
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._pending_wakes = 0
        self._threads: list[threading.Thread] = []
        self.host = socket.gethostname()
        self.name = f"{self.host}:{os.getpid()}"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.recover_dead(force=True)
        for i in range(self.threads):
            t = threading.Thread(target=self._run, name=f"tsunagu-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def wake(self) -> None:
        with self._wake:
            self._pending_wakes += 1
            self._wake.notify_all()

    def _sleep(self) -> None:
        with self._wake:
            if self._pending_wakes == 0 and not self._stop.is_set():
                self._wake.wait(POLL_SECONDS)
            self._pending_wakes = max(0, self._pending_wakes - 1)

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        me = f"{self.name}:{threading.current_thread().name.rsplit('-', 1)[-1]}"
        while not self._stop.is_set():
            try:
                if not self.step(me):
                    self._sleep()
            except Exception:  # never let one bad row stop the worker
                log.exception("worker step failed")
                time.sleep(POLL_SECONDS)

    def step(self, me: str | None = None) -> bool:
        """Do one piece of work; False when there was nothing to do."""
        me = me or f"{self.name}:main"
        # answers that are due go first: a due answer holds its family's next message back (claim)
        d = self.store.claim_delivery(me)
        if d is not None:
            self.deliver(d)
            return True
        claimed = self.store.claim_event(me)
        if claimed is not None:
            self.handle(claimed)
            while (d := self.store.claim_delivery(me, event_id=claimed.event_id)) is not None:
                self.deliver(d)
            self.scrub()
            return True
        self.recover_dead()
        self.housekeeping()
        self.scrub()
        return False

    def scrub(self) -> None:
        """Truncate the WAL once text was cleared, at most every SCRUB_SECONDS.

        Not after every message: a checkpoint takes the write lock and waits for readers;
        one per message took the delivery p50 from 8 ms to 1.9 s at 100 webhooks/s
        (bench/load.py, busy machine), once a second costs nothing measurable.  An idle
        worker polls every POLL_SECONDS, so the text leaves the disk within about a second.
        """
        now = time.monotonic()
        if not self._dirty or now < self._next_scrub:
            return
        if self.store.scrub():
            self._dirty = False
        self._next_scrub = now + SCRUB_SECONDS

    def recover_dead(self, force: bool = False) -> int:
        """Take back work claimed by processes of this host that died (another instance, a
        killed worker); claims from other hosts wait for their lease (storage.LEASE_SECONDS)."""
        now = time.time()
        if not force and now < self._next_recover:
            return 0
        self._next_recover = now + RECOVER_SECONDS
        freed = self.store.recover(self.host, _alive)
        if freed:
            log.warning("took back %d item(s) left half-done by a process that stopped", freed)
        return freed

    def housekeeping(self, force: bool = False) -> dict[str, int] | None:
        """Delete what is past the retention period (at most once per housekeeping_every)."""
        now = time.time()
        if not force and now < self._next_housekeeping:
            return None
        self._next_housekeeping = now + self.housekeeping_every
        removed = self.store.purge(self.retention_seconds, now, pending_max_age=CONSENT_SECONDS)
        if self.backup_dir is not None:
            removed.update({f"backups_{k}": v for k, v in
                            self.store.purge_backups(self.backup_dir, self.retention_seconds, now).items()})
        if any(removed.values()):
            log.info("retention: deleted %s", removed)
        return removed

    def handle(self, claimed: Claimed) -> None:
        self._dirty = True   # the payload (text, raw id) is cleared below, one way or another
        processor = self.processors.get(claimed.channel)
        if processor is None:
            self.store.fail(claimed, f"no processor for channel {claimed.channel}")
            return
        if claimed.attempts > self.max_attempts:
            # earlier attempts never came back (the process died on this event): do not try again
            self.dead_letter(claimed, processor, "ProcessDied")
            return
        started = time.perf_counter()
        try:
            done = processor.process(claimed, self.clock())
            self.store.complete(claimed, done.answers, session=done.session,
                                session_ttl=min(SESSION_TTL, self.retention_seconds),
                                result=done.result, escalation=done.escalation)
        except Exception as exc:
            # the event id only: the exception's message may quote the family's text
            log.error("processing %s failed (attempt %d of %d): %s at %s", claimed.event_id, claimed.attempts,
                      self.max_attempts, type(exc).__name__, _where(exc))
            if claimed.attempts < self.max_attempts:
                self.store.release(claimed)
            else:
                self.dead_letter(claimed, processor, type(exc).__name__)
            return
        self.observe("processed", {"channel": claimed.channel, "kind": claimed.kind, "result": done.result,
                                   "seconds": time.perf_counter() - started, "intent": done.intent,
                                   "urgency": done.urgency, "escalated": done.escalation is not None})
        log.info("processed %s (%s): %s", claimed.event_id, claimed.kind, done.result)

    def dead_letter(self, claimed: Claimed, processor: Processor, error: str) -> None:
        """Set a poison event aside with the processor's generic apology, so the family's
        later messages (an emergency among them) are no longer held back by it."""
        try:
            apology = processor.fallback(claimed)
        except Exception as exc:
            log.error("no apology for %s: %s", claimed.event_id, type(exc).__name__)
            apology = []
        try:
            self.store.dead_letter(claimed, error, apology)
        except Exception as exc:   # the apology itself cannot be stored: set the event aside without it
            log.error("apology for %s not stored: %s", claimed.event_id, type(exc).__name__)
            self.store.dead_letter(claimed, error, [])
        self.observe("dead_letter", {"channel": claimed.channel, "kind": claimed.kind, "error": error})
        log.warning("dead letter %s (%s) after %d attempt(s): %s", claimed.event_id, claimed.kind,
                    claimed.attempts, error)

    def deliver(self, d: Delivery) -> None:
        self._dirty = True   # a delivered or abandoned answer's text and raw id are cleared
        sender = self.senders.get(d.channel)
        if sender is None:
            self.store.give_up(d, f"no sender for channel {d.channel}")
            return
        outcome = sender.send(d)
        self.observe("delivery", {"channel": d.channel, "status": outcome.status, "kind": outcome.kind,
                                  "attempts": d.attempts + 1, "age": time.time() - d.event_ts})
