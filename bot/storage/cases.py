"""Sessions, escalated cases and the review queue (staff flags of wrong answers)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Iterable

from .sql import SQLEngine, now_or

#: A staff flag repeated within this many seconds is a replay of the first (Slack signs for 5 minutes).
REVIEW_REPLAY_SECONDS = 600.0
#: Where a user's hash may be kept (``forget_user`` clears them all; ``rows_about`` counts them).
USER_TABLES = ("sessions", "inbox", "outbox", "dead_letters")
_CASE_COLUMNS = ("case_no, intent, title, urgency, area, excerpt, status, taken_by, taken_name, taken_at, created_at,"
                 " slack_channel, slack_ts")


class CasesSQL(SQLEngine):
    """``Cases`` on the shared SQL."""

    def session(self, user_hash: str, now: float | None = None) -> dict | None:
        row = self.one("SELECT data FROM sessions WHERE user_hash = ? AND expires_at > ?", [user_hash, now_or(now)])
        return json.loads(row["data"]) if row else None

    def forget_user(self, user_hash: str) -> None:
        """Delete everything kept about one user (LINE unfollow)."""
        with self.transaction():
            self.run("DELETE FROM sessions WHERE user_hash = ?", [user_hash])
            self.run("UPDATE inbox SET payload = NULL WHERE user_hash = ? AND status IN ('done', 'failed')",
                     [user_hash])
            self.run("UPDATE inbox SET user_hash = NULL WHERE user_hash = ? AND status != 'new'", [user_hash])
            self.run("UPDATE outbox SET messages = NULL, to_id = NULL, reply_token = NULL, status = 'dropped'"
                     " WHERE user_hash = ? AND status IN ('pending', 'failed')", [user_hash])
            self.run("UPDATE outbox SET user_hash = NULL WHERE user_hash = ? AND status != 'sending'", [user_hash])
            self.run("UPDATE dead_letters SET user_hash = NULL WHERE user_hash = ?", [user_hash])
        self.scrub()

    def rows_about(self, user_hash: str) -> dict[str, int]:
        """How many rows still carry ``user_hash``, per table (after ``forget_user``: none)."""
        return {t: self.one(f"SELECT count(*) AS n FROM {t} WHERE user_hash = ?", [user_hash])["n"]
                for t in USER_TABLES}

    # -- escalations ------------------------------------------------------------------------
    def escalation(self, case_no: str) -> dict | None:
        row = self.one(f"SELECT {_CASE_COLUMNS} FROM escalations WHERE case_no = ?", [case_no])
        return dict(row) if row else None

    def escalations(self) -> list[dict]:
        """Every case still kept, oldest first."""
        return [dict(r) for r in self.all(f"SELECT {_CASE_COLUMNS} FROM escalations ORDER BY created_at, case_no")]

    def take_escalation(self, case_no: str, who: str, name: str, now: float | None = None) -> dict | None:
        """Record that a staff member took the case (the first one wins); return the case."""
        self.run("UPDATE escalations SET status = 'taken', taken_by = ?, taken_name = ?, taken_at = ?"
                 " WHERE case_no = ? AND status = 'open'", [who, name, now_or(now), case_no])
        return self.escalation(case_no)

    def escalation_posted(self, case_no: str, channel: str, ts: str) -> None:
        """Remember where the case's Slack post is (to update it when someone takes the case)."""
        self.run("UPDATE escalations SET slack_channel = ?, slack_ts = ? WHERE case_no = ?", [channel, ts, case_no])

    # -- the review queue ---------------------------------------------------------------------
    def add_review(self, text: str, predicted: str, correct: str, reviewer: str, now: float | None = None,
                   dedupe_key: str | None = None) -> int:
        """Store a staff flag once; a replay returns the first row's id instead of adding one.

        With ``dedupe_key`` (e.g. from the Slack action's ``action_ts``) the unique key decides.
        Without it, the same reviewer flagging the same text with the same correction within
        ``REVIEW_REPLAY_SECONDS`` is the same flag: a replayed request (Slack retries, a
        double click, a captured request sent again inside Slack's 5-minute signature window)
        repeats exactly that.  The check and the insert share one write transaction, so
        replays arriving at once on several threads or processes still store one row.
        """
        now = now_or(now)
        with self.transaction():
            self.lock_reviews()
            if dedupe_key is None:
                same = review_key(text, predicted, correct, reviewer)
                row = self.one("SELECT id FROM reviews WHERE substr(dedupe_key, 1, 65) = ? AND created_at >= ?"
                               " ORDER BY id LIMIT 1", [same + ":", now - REVIEW_REPLAY_SECONDS])
                if row is not None:
                    return row["id"]
                dedupe_key = f"{same}:{now!r}"
            self.run("INSERT INTO reviews (created_at, text, predicted, correct, reviewer, dedupe_key)"
                     " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
                     [now, text, predicted, correct, reviewer, dedupe_key])
            return self.one("SELECT id FROM reviews WHERE dedupe_key = ?", [dedupe_key])["id"]

    def lock_reviews(self) -> None:
        """Serialize ``add_review``'s check-then-insert (SQLite's write lock already does)."""

    def reviews(self, include_exported: bool = False) -> list[dict]:
        where = "" if include_exported else " WHERE exported_at IS NULL"
        return [dict(r) for r in self.all("SELECT id, created_at, text, predicted, correct, reviewer FROM reviews"
                                          f"{where} ORDER BY id")]

    def mark_exported(self, ids: Iterable[int], now: float | None = None) -> None:
        now = now_or(now)
        with self.transaction():
            for i in ids:
                self.run("UPDATE reviews SET exported_at = ? WHERE id = ?", [now, i])

    def once(self, key: str) -> bool:
        """True the first time ``key`` is seen by any process sharing this store (a unique key)."""
        return self.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        [key, str(time.time())]).rowcount == 1


def review_key(text: str, predicted: str, correct: str, reviewer: str) -> str:
    """The identity of a staff flag's contents (a hash: no text in the key itself)."""
    return hashlib.sha256(json.dumps([text, predicted, correct, reviewer], ensure_ascii=False).encode()).hexdigest()
