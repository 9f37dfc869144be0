"""The inbox and the outbox: accepting, claiming, answering and delivering, exactly once.

Every accepted platform event is written to ``inbox`` before the webhook answers; a worker
claims it under a lease, triages it and writes the answer to ``outbox`` in the same transaction
that marks the event done, so a crash at any moment loses nothing and answers nothing twice.
Text and raw ids live only as long as a feature needs them: the event payload until it is
processed, the raw id of a pending answer until it is delivered; then they are cleared.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from .records import Claimed, Delivery, InboxEvent, Outgoing
from .sql import LEASE_SECONDS, SQLEngine, now_or

_INBOX_COLUMNS = ("event_id, channel, kind, user_hash, event_ts, received_at, done_at, status, attempts, result,"
                  " payload")
_OUTBOX_COLUMNS = ("id, event_id, seq, channel, user_hash, to_id, reply_token, messages, status, attempts,"
                   " attempt_kind, in_doubt, last_error, sent_kind, next_at, created_at, sent_at")


class QueueSQL(SQLEngine):
    """``Queue`` on the shared SQL; engines set ``SKIP_LOCKED`` for their claims."""

    #: Appended to the claim sub-selects: PostgreSQL's ``FOR UPDATE SKIP LOCKED`` lets two hosts
    #: claim at once without waiting for, or double-taking, each other's row.  SQLite serializes
    #: writers, so it needs nothing.
    SKIP_LOCKED = ""

    def accept(self, events: Iterable[InboxEvent], now: float | None = None) -> list[bool]:
        """Write events durably; True for each event that is new (False: already seen)."""
        now = now_or(now)
        fresh: list[bool] = []
        with self.transaction():
            for e in events:
                cur = self.run(
                    "INSERT INTO inbox (event_id, channel, kind, user_hash, event_ts, received_at, payload, status,"
                    " redelivery, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, 'new', ?, 0) ON CONFLICT DO NOTHING",
                    [e.event_id, e.channel, e.kind, e.user_hash, e.event_ts, now,
                     json.dumps(e.payload, ensure_ascii=False), int(e.redelivery)])
                fresh.append(cur.rowcount == 1)
        return fresh

    def claim_event(self, worker: str, now: float | None = None, lease: float = LEASE_SECONDS) -> Claimed | None:
        """Take the oldest waiting event whose user has nothing else in progress.

        "In progress" includes an earlier answer being sent or due now, so that one family's
        answers reach them in the order they wrote, across processes.  An answer waiting to
        retry (the platform is failing) does not hold the next message back: a new message may
        be an emergency, and its answer should not wait out another's back-off.
        """
        now = now_or(now)
        # An expired lease (a worker died) is rare: look for one with a plain read (no write lock)
        # and only then use the OR form.  With 'new' alone SQLite walks (status, received_at) in
        # order and stops at the first eligible row, instead of testing and sorting the whole
        # backlog while holding the write lock (248 ms -> 0.03 ms with 3,000 waiting; bench/load.py).
        expired = self.one("SELECT 1 FROM inbox WHERE status = 'working' AND lease_until < ? LIMIT 1",
                           [now]) is not None
        waiting = "(i.status = 'new' OR (i.status = 'working' AND i.lease_until < ?))" if expired else "i.status = 'new'"
        row = self.one(
            f"""
            UPDATE inbox SET status = 'working', claimed_by = ?, lease_until = ?, attempts = attempts + 1
            WHERE event_id = (
                SELECT i.event_id FROM inbox i
                WHERE {waiting}
                  AND NOT EXISTS (SELECT 1 FROM inbox o WHERE o.user_hash = i.user_hash AND o.event_id != i.event_id
                                  AND o.status = 'working' AND o.lease_until >= ?)
                  AND NOT EXISTS (SELECT 1 FROM inbox p WHERE p.user_hash = i.user_hash AND p.event_id != i.event_id
                                  AND p.status IN ('new', 'working') AND p.event_ts < i.event_ts)
                  AND NOT EXISTS (SELECT 1 FROM outbox q WHERE q.user_hash = i.user_hash
                                  AND (q.status = 'sending' OR (q.status = 'pending' AND q.next_at <= ?)))
                ORDER BY i.received_at LIMIT 1 {self.SKIP_LOCKED})
            RETURNING event_id, channel, kind, user_hash, event_ts, received_at, payload, attempts
            """, [worker, now + lease] + ([now] if expired else []) + [now, now])
        if row is None:
            return None
        return Claimed(row["event_id"], row["channel"], row["kind"], row["user_hash"], row["event_ts"],
                       row["received_at"], json.loads(row["payload"] or "{}"), row["attempts"])

    def complete(self, claimed: Claimed, answers: list[Outgoing], *, session: tuple[str, dict | None] | None = None,
                 session_ttl: float = 0, result: str = "", now: float | None = None,
                 escalation: dict | None = None) -> None:
        """Record the answer, the session change and "done" in one transaction (idempotent)."""
        now = now_or(now)
        with self.transaction():
            if escalation is not None:
                self.run(
                    "INSERT INTO escalations (case_no, created_at, intent, title, urgency, area, excerpt, status)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'open') ON CONFLICT DO NOTHING",
                    [escalation["case_no"], now, escalation["intent"], escalation["title"], escalation["urgency"],
                     escalation.get("area") or "", escalation.get("excerpt") or ""])
            self._add_answers(claimed, answers, now)
            if session is not None:
                self._save_session(claimed.channel, *session, now=now, ttl=session_ttl)
            self.run("UPDATE inbox SET status = 'done', payload = NULL, done_at = ?, result = ?, lease_until = NULL"
                     " WHERE event_id = ?", [now, result, claimed.event_id])

    def _save_session(self, channel: str, user_hash: str, data: dict | None, *, now: float, ttl: float) -> None:
        """Replace one user's session (None: delete it); unique ``user_hash`` makes it an upsert."""
        if data is None:
            self.run("DELETE FROM sessions WHERE user_hash = ?", [user_hash])
            return
        self.run("INSERT INTO sessions (user_hash, channel, data, updated_at, expires_at) VALUES (?, ?, ?, ?, ?)"
                 " ON CONFLICT (user_hash) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at,"
                 " expires_at = excluded.expires_at",
                 [user_hash, channel, json.dumps(data, ensure_ascii=False), now, now + ttl])

    def _add_answers(self, claimed: Claimed, answers: list[Outgoing], now: float) -> None:
        for seq, out in enumerate(answers):
            self.run(
                "INSERT INTO outbox (event_id, seq, channel, user_hash, to_id, reply_token, messages, retry_key,"
                " target, event_ts, status, attempts, next_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT DO NOTHING",
                [claimed.event_id, seq, out.channel, out.user_hash, out.to_id, out.reply_token,
                 json.dumps(out.messages, ensure_ascii=False), out.retry_key, out.target, out.event_ts, now, now])

    def fail(self, claimed: Claimed, error: str, now: float | None = None) -> None:
        """Give up on an event that cannot be processed (kept for the operator, payload cleared)."""
        self.run("UPDATE inbox SET status = 'failed', payload = NULL, done_at = ?, result = ? WHERE event_id = ?",
                 [now_or(now), error[:200], claimed.event_id])

    def release(self, claimed: Claimed) -> None:
        """Put a claimed event back (processing hit a temporary problem)."""
        self.run("UPDATE inbox SET status = 'new', lease_until = NULL WHERE event_id = ?", [claimed.event_id])

    def dead_letter(self, claimed: Claimed, error: str, answers: list[Outgoing], now: float | None = None) -> None:
        """Set aside an event that keeps failing, with ``answers`` (the apology) in one transaction.

        The row leaves the inbox queue (status ``dead``), so the same family's later messages
        are answered; ``dead_letters`` keeps ids, channel, kind, the error class and the time
        for the operator — never the text, which is cleared here like any processed event.
        """
        now = now_or(now)
        with self.transaction():
            self.run("INSERT INTO dead_letters (event_id, channel, kind, user_hash, error, attempts, at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                     [claimed.event_id, claimed.channel, claimed.kind, claimed.user_hash, error[:200],
                      claimed.attempts, now])
            self._add_answers(claimed, answers, now)
            self.run("UPDATE inbox SET status = 'dead', payload = NULL, done_at = ?, result = ?, lease_until = NULL"
                     " WHERE event_id = ?", [now, f"dead letter: {error[:180]}", claimed.event_id])

    def dead_letters(self) -> list[dict]:
        return [dict(r) for r in self.all("SELECT event_id, channel, kind, user_hash, error, attempts, at"
                                          " FROM dead_letters ORDER BY at")]

    # -- outbox ---------------------------------------------------------------------------
    def claim_delivery(self, worker: str, now: float | None = None, lease: float = LEASE_SECONDS,
                       event_id: str | None = None) -> Delivery | None:
        """Claim one answer that is due (or whose sender died mid-send: it is then in doubt)."""
        now = now_or(now)
        only = "AND event_id = ?" if event_id else ""
        args: list[Any] = [worker, now + lease, now, now] + ([event_id] if event_id else [])
        row = self.one(
            f"""
            UPDATE outbox SET in_doubt = CASE WHEN status = 'sending' THEN 1 ELSE coalesce(in_doubt, 0) END,
                              status = 'sending', claimed_by = ?, lease_until = ?
            WHERE id = (SELECT id FROM outbox
                        WHERE ((status = 'pending' AND next_at <= ?) OR (status = 'sending' AND lease_until < ?))
                        {only} ORDER BY next_at, id LIMIT 1 {self.SKIP_LOCKED})
            RETURNING id, event_id, channel, user_hash, to_id, reply_token, messages, retry_key, event_ts,
                      attempts, attempt_kind, in_doubt, target, created_at
            """, args)
        if row is None:
            return None
        return Delivery(row["id"], row["event_id"], row["channel"], row["user_hash"], row["to_id"],
                        row["reply_token"], json.loads(row["messages"] or "[]"), row["retry_key"], row["event_ts"],
                        row["attempts"], row["attempt_kind"], bool(row["in_doubt"]), row["target"],
                        row["created_at"])

    def attempting(self, delivery: Delivery, kind: str) -> None:
        """Durably note which call is about to go out (used to settle a crash mid-send)."""
        self.run("UPDATE outbox SET attempt_kind = ?, attempts = attempts + 1 WHERE id = ?", [kind, delivery.id])

    def delivered(self, delivery: Delivery, kind: str, now: float | None = None) -> None:
        self.run("UPDATE outbox SET status = 'sent', sent_at = ?, sent_kind = ?, to_id = NULL, reply_token = NULL,"
                 " messages = NULL, lease_until = NULL WHERE id = ?", [now_or(now), kind, delivery.id])

    def retry_later(self, delivery: Delivery, at: float, error: str, *, drop_reply_token: bool = False,
                    in_doubt: bool = False) -> None:
        """Try again at ``at``; ``in_doubt``: the last call may have gone through (a timeout)."""
        token = ", reply_token = NULL" if drop_reply_token else ""
        self.run(f"UPDATE outbox SET status = 'pending', next_at = ?, last_error = ?, lease_until = NULL,"
                 f" in_doubt = ?{token} WHERE id = ?", [at, error[:200], int(in_doubt), delivery.id])

    def give_up(self, delivery: Delivery, error: str, now: float | None = None) -> None:
        self.run("UPDATE outbox SET status = 'failed', last_error = ?, sent_at = ?, lease_until = NULL,"
                 " messages = NULL, to_id = NULL, reply_token = NULL WHERE id = ?",
                 [error[:200], now_or(now), delivery.id])

    # -- reading the queue (operators, tests, the bench) -----------------------------------
    def inbox(self, event_id: str | None = None) -> list[dict]:
        """Inbox rows (one event, or all in arrival order), with the payload still held if any."""
        where, args = ("WHERE event_id = ?", [event_id]) if event_id else ("", [])
        return [dict(r) for r in self.all(f"SELECT {_INBOX_COLUMNS} FROM inbox {where} ORDER BY received_at,"
                                          " event_id", args)]

    def outbox(self, event_id: str | None = None) -> list[dict]:
        """Outbox rows (one event's answers, or all) in the order they were written."""
        where, args = ("WHERE event_id = ?", [event_id]) if event_id else ("", [])
        return [dict(r) for r in self.all(f"SELECT {_OUTBOX_COLUMNS} FROM outbox {where} ORDER BY id", args)]

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per status: ``{"inbox": {"done": 12, ...}, "outbox": {"sent": 12, ...}}``."""
        return {table: {r["status"]: r["n"] for r in self.all(
                    f"SELECT status, count(*) AS n FROM {table} GROUP BY status")}
                for table in ("inbox", "outbox")}
