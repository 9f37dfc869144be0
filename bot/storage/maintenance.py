"""Keeping the store healthy: retention, recovery after a crash, queue depth, health.

Engine-specific pieces (file backups, WAL scrubbing, the heartbeat connection) live in the
engine modules; what is written here runs on either.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .sql import SQLEngine, now_or

#: A flagged answer that nobody exported is deleted after this many retention periods.
REVIEW_KEEP_FACTOR = 3
#: /healthz waits at most this long for the write lock before reporting the database unwritable.
HEARTBEAT_TIMEOUT = 2.0
#: Every table, for ``table_counts``.
TABLES = ("inbox", "outbox", "sessions", "escalations", "reviews", "dead_letters", "meta")

Run = Callable[[str, Sequence[Any]], int]


class MaintenanceSQL(SQLEngine):
    """The engine-neutral part of ``Maintenance``."""

    #: Drops a consent question nobody answered from the session JSON; one ``?``: the cutoff.
    CLEAR_STALE_CONSENT = ""

    def recover(self, host: str, alive: Callable[[int], bool]) -> int:
        """Free work claimed on this host by processes that no longer exist (after a crash).

        Claims are ``host:pid:thread``; a claim by a dead pid of this host is released at
        once instead of waiting for its lease to run out.  Other hosts rely on the lease.
        """
        freed = 0
        for table in ("inbox", "outbox"):
            rows = self.all(f"SELECT DISTINCT claimed_by FROM {table} WHERE status IN ('working', 'sending')"
                            " AND claimed_by LIKE ?", [host + ":%"])
            for row in rows:
                claim = row["claimed_by"]
                try:
                    pid = int(claim.split(":")[1])
                except (IndexError, ValueError):
                    continue
                if not alive(pid):
                    freed += self.run(f"UPDATE {table} SET lease_until = 0 WHERE claimed_by = ?"
                                      " AND status IN ('working', 'sending')", [claim]).rowcount
        return freed

    def depth(self) -> dict[str, int]:
        """Work not finished yet (the /metrics gauges and /healthz)."""
        inbox = self.one("SELECT count(*) AS n FROM inbox WHERE status IN ('new', 'working')")["n"]
        outbox = self.one("SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')")["n"]
        return {"inbox": inbox, "outbox": outbox}

    def table_counts(self) -> dict[str, int]:
        """Rows per table (what retention left behind)."""
        return {t: self.one(f"SELECT count(*) AS n FROM {t}")["n"] for t in TABLES}

    def last_heartbeat(self) -> float | None:
        """When ``heartbeat`` last wrote (None: never)."""
        row = self.one("SELECT value FROM meta WHERE key = 'heartbeat'")
        return float(row["value"]) if row else None

    def purge(self, older_than: float, now: float | None = None, *,
              pending_max_age: float = 24 * 3600) -> dict[str, int]:
        """Delete what is past the retention period, then scrub (see ``purge_rows``)."""
        now = now_or(now)
        with self.transaction():
            removed = purge_rows(lambda sql, args: self.run(sql, args).rowcount, set(TABLES), older_than, now,
                                 pending_max_age, self.CLEAR_STALE_CONSENT)
        self.scrub()
        return removed


def purge_rows(run: Run, tables: set[str], older_than: float, now: float, pending_max_age: float,
               clear_stale_consent: str) -> dict[str, int]:
    """Delete or clear everything past ``older_than`` seconds (the caller holds a transaction).

    Finished events and answers, cases and dead letters older than the period are deleted;
    a session whose last message is older than the period goes even if it was written with a
    longer expiry (the period was lowered since); an event or answer stuck unprocessed for
    longer than the period loses its text and raw id.  Staff flags of wrong answers
    (``reviews``) are kept until exported, then for the same period; one never exported goes
    after ``REVIEW_KEEP_FACTOR`` times the period.  A consent question nobody answered (its
    masked excerpt) goes after ``pending_max_age``.  Tables not in ``tables`` (missing from
    an older backup file) are skipped.
    """
    cutoff = now - older_than

    def rows(table: str, sql: str, args: list) -> int:
        return run(sql, args) if table in tables else 0

    removed = {
        "inbox": rows("inbox", "DELETE FROM inbox WHERE status IN ('done', 'failed', 'dead') AND done_at < ?",
                      [cutoff]),
        "outbox": rows("outbox", "DELETE FROM outbox WHERE status IN ('sent', 'failed', 'dropped') AND sent_at < ?",
                       [cutoff]),
        "sessions": rows("sessions", "DELETE FROM sessions WHERE expires_at < ? OR updated_at < ?", [now, cutoff]),
    }
    rows("sessions", clear_stale_consent, [now - pending_max_age])
    removed["escalations"] = rows("escalations", "DELETE FROM escalations WHERE created_at < ?", [cutoff])
    removed["reviews"] = rows("reviews", "DELETE FROM reviews WHERE (exported_at IS NOT NULL AND exported_at < ?)"
                                         " OR created_at < ?", [cutoff, now - older_than * REVIEW_KEEP_FACTOR])
    stuck = rows("inbox", "UPDATE inbox SET status = 'failed', payload = NULL, done_at = ?, lease_until = NULL,"
                          " result = 'not processed within the retention period'"
                          " WHERE status IN ('new', 'working') AND received_at < ?", [now, cutoff])
    stuck += rows("outbox", "UPDATE outbox SET status = 'failed', messages = NULL, to_id = NULL, reply_token = NULL,"
                            " sent_at = ?, lease_until = NULL, last_error = 'not delivered within the retention period'"
                            " WHERE status IN ('pending', 'sending') AND created_at < ?", [now, cutoff])
    if stuck:
        removed["stuck"] = stuck
    dead = rows("dead_letters", "DELETE FROM dead_letters WHERE at < ?", [cutoff])
    if dead:
        removed["dead_letters"] = dead
    return removed
