"""The conversation around the triage, the same on every channel.

A worry without a known area gets the national line at once and a request for
the area; the next message that names an area gets the local windows for that
worry.  The area is remembered per user (in the session, with an expiry);
「最初から」 forgets it.  When the triage is not sure which worry a message is, the reply
asks with topic buttons and the session keeps the buttons offered (labels and intent ids)
until one is tapped.  Sessions hold only the area, the last worry's id, urgency and
contacts, and those buttons — never the message text.

Consent to tell staff (only with escalation on, only for urgent and emergency worries) is asked
in its own message, after the answer and its card, never above or instead of a call button:

- an urgent worry: the question is the last message of the answer (its はい/いいえ quick
  replies sit under it, below the windows card);
- an emergency: nothing is asked at once.  The question comes with the answer to the family's
  next message (within :data:`CONSENT_SECONDS`).  This is the safer of the two ways: in an
  emergency the only thing to tap must be 110/119.  Quick replies are the biggest buttons on a
  LINE screen, right under the thumb, and a frightened parent may take 「はい」 for "yes, call
  for help"; a question sent last would also scroll the call button up and away.  Nothing is lost
  by waiting: staff cannot act within minutes (the thanks says so), 110/119 can; a family able to
  write again is past the first minutes.  Only a masked excerpt waits in the session, and it is
  purged a day after the emergency was written, asked or not (docs/privacy.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .triage import Area, Decision, Triage, clean, fill
from .yamlio import load_with_lines

#: How long the area and the last worry are remembered (seconds).
SESSION_TTL = 30 * 24 * 3600
#: Longest excerpt of a family's (masked) words passed to staff with consent.
EXCERPT_CHARS = 300
#: A "はい" counts as consent only this soon after the question (seconds).
CONSENT_SECONDS = 24 * 3600
#: A tapped topic answers the question "which worry is it?" only this soon after it (seconds).
ASK_SECONDS = 24 * 3600


class CardTexts(BaseModel):
    """``card:`` in ``responses/conversation.yml``: the words of the windows card."""

    model_config = ConfigDict(extra="forbid")
    title: str
    call_label: str
    emergency_call: str = Field(description="label of the big 110/119 button; {number}")
    dial_by_hand: str = Field(description="for a number a tap cannot dial on every phone (#9110); {number}")
    open_now: str
    closed_now: str
    more_label: str = Field(description="button to a window's page (a window without a phone number)")
    alt_text_prefix: str


class GroupTexts(BaseModel):
    """``groups:`` in ``responses/conversation.yml``: the optional line about a 適格消費者団体."""

    model_config = ConfigDict(extra="forbid")
    lead: str = Field(description="why a family might tell the group (first line of the message)")
    button: str = Field(description="button to the group's information page")
    guide_button: str = Field(description="button to the 消費者庁 page (no group known for the area)")
    no_link: str = Field(description="under a group whose page is not known (no button)")


class ConversationTexts(BaseModel):
    """``responses/conversation.yml``."""

    model_config = ConfigDict(extra="forbid")
    reset_words: list[str] = Field(min_length=1)
    reset_reply: str
    error_reply: str
    greeting: str
    not_text: str
    area_followup_header: str
    area_only: str
    location_unknown: str
    quick_replies: dict[str, str]
    card: CardTexts
    groups: GroupTexts
    consent_question: str
    consent_question_later: str
    consent_yes_words: list[str]
    consent_no_words: list[str]
    consent_thanks: str
    consent_declined: str
    chat_greeting: str
    chat_quit_words: list[str] = Field(min_length=1)


def load_texts(responses_dir: Path) -> ConversationTexts:
    data, _ = load_with_lines(responses_dir / "conversation.yml")
    return ConversationTexts.model_validate(data)


@dataclass(frozen=True)
class Turn:
    """What to answer and what to remember after one message."""

    kind: str                     # answer | area_followup | area_only | reset | greeting | not_text | consent_ask …
    text: str                     # the reply text
    decision: Decision | None
    session: dict | None          # the new session (None: forget it)
    ask_area: bool = False
    ask_consent: bool = False
    topics: tuple[str, ...] = ()  # quick replies: which worry it is (the reply asked)
    question: str = ""            # a question sent as its own last message (consent to tell staff)
    escalation: dict | None = None  # the family said yes: what staff may be told (masked)


def _area_dict(area: Area) -> dict:
    return asdict(area)


def area_from(data: dict | None) -> Area | None:
    if not data or not data.get("area"):
        return None
    try:
        return Area(**{**data["area"], "source": "session"})
    except TypeError:
        return None


class Conversation:
    def __init__(self, triage: Triage, texts: ConversationTexts, *, escalation: bool = False):
        self.triage = triage
        self.texts = texts
        self.escalation = escalation
        self._reset = {clean(w) for w in texts.reset_words}
        self._yes = {clean(w) for w in texts.consent_yes_words}
        self._no = {clean(w) for w in texts.consent_no_words}

    def greeting(self) -> Turn:
        return Turn("greeting", self.texts.greeting, None, None)

    def not_text(self, session: dict | None) -> Turn:
        return Turn("not_text", self.texts.not_text, None, session)

    def on_text(self, text: str, session: dict | None, now: datetime) -> Turn:
        pending = (session or {}).get("pending_consent")
        if not (pending and pending.get("deferred")):
            return self._on_text(text, session, now)
        # an emergency waits for its consent question: this message is answered first
        if now.timestamp() - pending.get("asked_at", 0) > CONSENT_SECONDS:
            pending = None
        rest = {k: v for k, v in (session or {}).items() if k != "pending_consent"}
        turn = self._on_text(text, rest, now)
        if turn.session is None or "pending_consent" in turn.session or pending is None:
            return turn          # started over, a new question (a new emergency), or asked too long ago
        data = dict(turn.session)
        if turn.kind not in ("answer", "area_followup", "area_only"):
            data["pending_consent"] = pending          # nothing to add a question to: keep waiting
            return replace(turn, session=data)
        # asked_at stays the emergency's time: the excerpt is gone a day after it was written, as promised
        data["pending_consent"] = {k: v for k, v in pending.items() if k != "deferred"}
        if turn.topics:
            # not a clear new worry (「はい」「警察が来ました」): the question about the emergency, not topic buttons
            data.pop("asked", None)
            return Turn("consent_ask", self.texts.consent_question_later, None, data, ask_consent=True)
        return replace(turn, session=data, question=self.texts.consent_question_later, ask_consent=True)

    def _on_text(self, text: str, session: dict | None, now: datetime) -> Turn:
        said = clean(text).rstrip("。!！")
        if said in self._reset:
            return Turn("reset", self.texts.reset_reply, None, None)
        pending = (session or {}).get("pending_consent")
        if pending and now.timestamp() - pending.get("asked_at", 0) > CONSENT_SECONDS:
            pending = None  # asked too long ago: a "はい" now answers something else
        if pending and said in self._yes:
            data = {k: v for k, v in (session or {}).items() if k != "pending_consent"}
            return Turn("consented", self.texts.consent_thanks, None, data, escalation=dict(pending))
        if pending and said in self._no:
            data = {k: v for k, v in (session or {}).items() if k != "pending_consent"}
            return Turn("declined", self.texts.consent_declined, None, data)
        known_area = area_from(session)
        picked = self._picked_topic(said, session, now)
        if picked is not None:
            data = {k: v for k, v in (session or {}).items() if k != "asked"}
            return self._answer(self.triage.answer_topic(picked, known_area, now=now), data, text, now)
        decision = self.triage.decide(text, now=now, area=known_area)
        new_area = decision.facts.area if decision.facts.area and decision.facts.area.source != "session" else None
        guessed = any(r.kind == "fallback" for r in decision.reasons)   # nothing clearly matched
        only_area = new_area is not None and (guessed or decision.intent in (self.triage.fallback.id,
                                                                             self.triage.empty.id))
        if only_area:
            return self._area_given(new_area, session, now)
        return self._answer(decision, session, text, now)

    def on_location(self, address: str, session: dict | None, now: datetime) -> Turn:
        area = self.triage.find_area(address or "")
        if area is None:
            return Turn("area_only", self.texts.location_unknown, None, session, ask_area=True)
        return self._area_given(area, session, now)

    # -- helpers ------------------------------------------------------------------------
    def _picked_topic(self, said: str, session: dict | None, now: datetime) -> str | None:
        """The worry a tapped topic button stands for: the one the last question offered for it,
        else the topic's own (a family may also type the label later)."""
        asked = (session or {}).get("asked") or {}
        if asked and now.timestamp() - asked.get("asked_at", 0) <= ASK_SECONDS and said in asked.get("topics", {}):
            return asked["topics"][said]
        topic = self.triage.topic(said)
        return topic.intent if topic else None

    def _area_given(self, area: Area, session: dict | None, now: datetime) -> Turn:
        place = area.municipality or area.pref
        data: dict[str, Any] = dict(session or {})
        data["area"] = _area_dict(area)
        last = data.pop("awaiting_area", None) and data.get("last")
        if last:
            decision = self.triage.revisit(last["intent"], last["contacts"], last["urgency"], area, now=now)
            header = fill(self.texts.area_followup_header, {"area": place}) or ""
            return Turn("area_followup", f"{header}\n\n{decision.reply}".strip(), decision, data)
        return Turn("area_only", fill(self.texts.area_only, {"area": place}) or "", None, data)

    def _answer(self, decision: Decision, session: dict | None, text: str, now: datetime) -> Turn:
        data: dict[str, Any] = {k: v for k, v in (session or {}).items() if k not in ("pending_consent", "asked")}
        if decision.facts.area is not None:
            data["area"] = _area_dict(decision.facts.area)
        if decision.intent not in (self.triage.fallback.id, self.triage.empty.id) and decision.contacts:
            data["last"] = {"intent": decision.intent, "contacts": list(decision.contacts),
                            "urgency": decision.urgency}
        data["awaiting_area"] = bool(decision.needs_area)
        reply, ask = decision.reply, False
        if decision.unsure and decision.topics:
            # only ids and button words are kept: what was written is not
            data["asked"] = {"topics": dict(decision.topics), "asked_at": now.timestamp()}
            return Turn("answer", reply, decision, data, topics=tuple(label for label, _ in decision.topics))
        question = ""
        if self.escalation and decision.urgency in ("emergency", "urgent") and decision.contacts:
            area = decision.facts.area
            emergency = decision.urgency == "emergency"
            data["pending_consent"] = {
                "intent": decision.intent, "title": decision.title, "urgency": decision.urgency,
                "area": (area.municipality or area.pref) if area else "",
                "excerpt": self.triage.mask(text)[:EXCERPT_CHARS],
                "asked_at": now.timestamp(),     # an emergency's is asked later, but counts from now
                **({"deferred": True} if emergency else {}),
            }
            if not emergency:
                question, ask = self.texts.consent_question, True
        return Turn("answer", reply, decision, data, ask_area=decision.needs_area, ask_consent=ask, question=question)

    def reply_to(self, decision: Decision, text: str, now: datetime) -> Turn:
        """The answer to a first message already triaged (``tsunagu triage``: the same as LINE)."""
        return self._answer(decision, None, text, now)
