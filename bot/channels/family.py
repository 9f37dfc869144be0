"""The processing a family's event gets on every family channel (LINE, the memory channel, …).

One stored event → a conversation turn → escalation (:mod:`bot.escalation`) → the channel's
render → one outbox row addressed by the channel.  Only the three platform parts differ, and a
channel supplies them as a :class:`FamilyEdge`; the event kinds are the inbox's, the same on
every platform: ``follow``, ``unfollow``, ``message:text``, ``message:location`` and
``message:<not text>`` (a sticker, a photo …).
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Protocol

from ..conversation import Conversation, ConversationTexts, Turn
from ..escalation import Escalation
from ..storage import Claimed, Outgoing, Store
from ..worker import Processed

#: Message kinds a family may send that have no words: answered with the "please write" turn.
NOT_TEXT = frozenset({"sticker", "image", "video", "audio", "file"})


class FamilyEdge(Protocol):
    """The platform parts of a family channel."""

    def content(self, claimed: Claimed) -> str:
        """The words of a stored message: its text, or a shared location's address."""

    def render(self, turn: Turn, texts: ConversationTexts) -> list[dict]:
        """The platform's messages for one turn (JSON: they are stored in the outbox)."""

    def address(self, claimed: Claimed, messages: list[dict]) -> Outgoing:
        """The outbox row that answers ``claimed`` with ``messages``."""


class FamilyProcessor:
    """Turns one stored family event into the answer to send (and the session change)."""

    def __init__(self, edge: FamilyEdge, conversation: Callable[[], Conversation], store: Store,
                 escalation: Escalation):
        self.edge = edge
        self._conversation = conversation   # looked up per event: the knowledge may have been reloaded
        self.store = store
        self.escalation = escalation

    def process(self, claimed: Claimed, now: datetime) -> Processed:
        kind, user_hash = claimed.kind, claimed.user_hash
        if kind == "unfollow":
            if user_hash:
                self.store.forget_user(user_hash)
            return Processed([], (user_hash, None) if user_hash else None, "forgotten")
        conv = self._conversation()
        turn = self._turn(conv, claimed, self.store.session(user_hash) if user_hash else None, now)
        if turn is None:
            return Processed([], None, f"ignored {kind}")
        escalated = self.escalation.escalate(turn, claimed.event_id, claimed.event_ts, now)
        turn = escalated.turn
        messages = self.edge.render(turn, conv.texts)
        answers = [self.edge.address(claimed, messages)] if messages else []
        new_session = (user_hash, turn.session) if user_hash and turn.kind != "greeting" else None
        d = turn.decision
        return Processed(answers + list(escalated.alerts), new_session, _result(turn), escalated.case,
                         d.intent if d else None, d.urgency if d else None)

    def fallback(self, claimed: Claimed) -> list[Outgoing]:
        texts = self._conversation().texts
        apology = Turn("error", texts.error_reply, None, None)
        return [self.edge.address(claimed, self.edge.render(apology, texts))]

    def _turn(self, conv: Conversation, claimed: Claimed, session: dict | None, now: datetime) -> Turn | None:
        """The conversation's turn for one event kind (None: a kind that is not answered)."""
        kind = claimed.kind
        if kind == "follow":
            return conv.greeting()
        if kind == "message:text":
            return conv.on_text(self.edge.content(claimed), session, now)
        if kind == "message:location":
            return conv.on_location(self.edge.content(claimed), session, now)
        if kind.removeprefix("message:") in NOT_TEXT:
            return conv.not_text(session)
        return None


def _result(turn: Turn) -> str:
    d = turn.decision
    if d is None:
        return turn.kind
    return f"{turn.kind} {d.intent} {d.urgency}"
