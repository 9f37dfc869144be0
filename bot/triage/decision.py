"""The triage result: what the channels render and the CLI prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .consumer_law import LawPoint
from .consumer_groups import GroupLink
from .directory import Window
from .facts import Facts
from .matcher import Hit
from .tokenize import Token


@dataclass(frozen=True)
class Reason:
    """One piece of evidence, for ``tsunagu explain`` and Slack's "why"."""

    kind: str       # keyword | danger | urgency | contacts | area | law | fallback
    intent: str     # intent id or "" for message-wide reasons
    text: str       # the words in the message, or the rule applied
    detail: str = ""
    weight: float = 0.0


@dataclass(frozen=True)
class Trace:
    """What a decision read: the cleaned text, its tokens and the patterns found in it.

    Kept on the :class:`Decision` so that ``tsunagu explain`` and /try explain the decision
    they show without cleaning, tokenizing and matching the message a second time."""

    cleaned: str
    tokens: tuple[Token, ...]
    hits: tuple[Hit, ...]


@dataclass(frozen=True)
class Decision:
    intent: str
    urgency: str
    contacts: tuple[str, ...]
    facts: Facts
    reply: str = ""
    title: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    fired: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()
    law: tuple[LawPoint, ...] = ()
    windows: tuple[Window, ...] = ()   # the first window of each contact, for this area at this time
    needs_area: bool = False
    groups: tuple[GroupLink, ...] = ()   # 適格消費者団体 to offer after the windows (never in an emergency)
    explain_windows: bool = False   # a question about windows: say what each one does
    unsure: bool = False            # the reply asks which worry it is (quick replies: ``topics``)
    topics: tuple[tuple[str, str], ...] = ()   # (button label, intent answered when it is tapped)
    danger_cue: bool = False        # some sign of danger: a reply that asks still shows 110/119
    probabilities: dict[str, float] = field(default_factory=dict)  # the learned model, per intent
    evidence: dict[str, float] = field(default_factory=dict)       # model + keywords, per worry
    analysed: int = 0               # characters read (a longer message is read up to a limit)
    length: int = 0                 # characters in the cleaned message
    trace: Trace | None = field(default=None, compare=False, repr=False)  # None: not decided from a text

    def to_json(self) -> dict[str, Any]:
        """The public JSON of DESIGN.md, plus a few documented extras."""
        area = self.facts.area.public() if self.facts.area else None
        return {
            "intent": self.intent,
            "urgency": self.urgency,
            "contacts": list(self.contacts),
            "area": area,
            "reply": self.reply,
            "title": self.title,
            "also": [i for i in self.fired if i != self.intent],
            "needs_area": self.needs_area,
            "law": [{"id": p.id, "deadline": p.deadline.isoformat() if p.deadline else None,
                     "days_left": p.days_left, "running": p.running} for p in self.law],
            "amounts": [a.yen for a in self.facts.amounts],
            "dates": [d.date.isoformat() for d in self.facts.dates],
            "signer": self.facts.signer,
            "unsure": self.unsure,
            "topics": [label for label, _ in self.topics],
        }

    def explain(self) -> dict[str, Any]:
        data = self.to_json()
        data["scores"] = {k: round(v, 2) for k, v in sorted(self.scores.items(), key=lambda kv: -kv[1]) if v}
        data["model"] = {k: round(v, 3) for k, v in sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:5]}
        data["evidence"] = {k: round(v, 3) for k, v in sorted(self.evidence.items(), key=lambda kv: -kv[1])[:5]}
        data["analysed_chars"] = self.analysed
        data["chars"] = self.length
        data["reasons"] = [asdict(r) for r in self.reasons]
        data["windows"] = [w.name for w in self.windows]
        data["groups"] = [g.name for g in self.groups]
        return data
