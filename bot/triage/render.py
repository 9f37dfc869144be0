"""Reply text from the templates in ``responses/replies.yml``.

The text is sized for a phone: a family reads it in one LINE bubble, often in their 70s or 80s.
It says what to do now: the emergency number first, then the advice for the worry (two to four
short sentences), the consumer-law point in one or two sentences (with its deadline when the
contract date is known) and — only when it matters — a request for the area.  The windows are
not listed here: on LINE they are the tap-to-call card right below the text
(:mod:`bot.channels.line_messages`), for staff they are Slack blocks.  A question about the
windows themselves (``explain_windows``) is answered in the text, since it is what was asked.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field

from .decision import Decision
from .directory import Directory
from .policy import EMERGENCY_IDS


class FrameSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    emergency: dict[str, str] = Field(description="first line per emergency contact id")
    area_ask: str
    window_explain: str = Field("・{label}：{explain}", description="a window described (staff questions)")
    ask_topic: str = Field(description="the question when tsunagu is not sure which worry it is (quick replies follow)")
    danger_line: str = Field(description="first line of a reply that asks, when the message holds a sign of danger")
    closing: dict[str, str] = Field(default_factory=dict,
                                    description="last line per urgency, when the windows card follows the text")
    law_points: int = Field(1, ge=0, le=3, description="consumer-law points in the family's text (most relevant first)")


class RepliesSpec(BaseModel):
    """``responses/replies.yml``: the frame around every reply."""

    model_config = ConfigDict(extra="forbid")
    frame: FrameSpec
    area_sensitive: list[str] = Field(description="contact ids whose window depends on the area")
    advice_max_chars: int = Field(160, ge=40, description="`tsunagu check` warns when one worry's advice is longer")


class AdviceSpec(BaseModel):
    """``responses/replies/<intent id>.yml``: the advice lines for one worry."""

    model_config = ConfigDict(extra="forbid")
    advice: list[str] = Field(min_length=1, max_length=4)


class _Blank(dict):
    """format_map helper: remembers which fields were missing."""

    def __init__(self, values: Mapping[str, Any]):
        super().__init__(values)
        self.missing = False

    def __missing__(self, key: str) -> str:
        self.missing = True
        return ""


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def fill(template: str, values: Mapping[str, Any]) -> str | None:
    """Fill a template; None when a field it needs is unknown (the line is then left out)."""
    blank = _Blank(values)
    text = template.format_map(blank)
    return None if blank.missing else text


def yen(amount: int) -> str:
    if amount >= 10_000 and amount % 10_000 == 0:
        return f"{amount // 10_000:,}万円"
    if amount >= 10_000:
        man, rest = divmod(amount, 10_000)
        return f"{man:,}万{rest:,}円"
    return f"{amount:,}円"


#: Template fields an intent's advice lines may use.
ADVICE_FIELDS = frozenset({"amount", "area", "pref"})


@dataclass
class Replies:
    spec: RepliesSpec
    intents: dict[str, list[str]]
    area_sensitive: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.area_sensitive = frozenset(self.spec.area_sensitive)

    def advice(self, intent_id: str, values: Mapping[str, Any]) -> list[str]:
        lines = self.intents.get(intent_id, [])
        return [t for t in (fill(line, values) for line in lines) if t]

    def render(self, decision: Decision, directory: Directory, *, advice: bool = True) -> str:
        """The family's text (see the module docstring); the windows go in the card, not here."""
        frame = self.spec.frame
        facts = decision.facts
        values: dict[str, Any] = {}
        if facts.amounts:
            values["amount"] = yen(max(a.yen for a in facts.amounts))
        if facts.area:
            values["area"] = facts.area.municipality or facts.area.pref
            values["pref"] = facts.area.pref
        out: list[str] = []
        if decision.urgency == "emergency":
            for c in decision.contacts:
                if c in EMERGENCY_IDS and c in frame.emergency:
                    out.append(frame.emergency[c])
                    break
        elif decision.unsure:
            if decision.danger_cue:
                out.append(frame.danger_line)
            out.append(frame.ask_topic)
            advice = False
        if advice:
            out.extend(self.advice(decision.intent, values))
        if decision.explain_windows:
            for c in decision.contacts:
                spec = directory.contact(c)
                line = fill(frame.window_explain, {"label": spec.label, "explain": spec.explain})
                if line:
                    out.append(line)
        if decision.law and not decision.unsure:
            for p in decision.law[:frame.law_points]:
                out.append("")
                out.append(p.text)
                if p.deadline_text:
                    out.append(p.deadline_text)
        if decision.needs_area:
            out.append("")
            out.append(frame.area_ask)
        closing = None if decision.unsure or not decision.windows else frame.closing.get(decision.urgency)
        if closing:
            out.append("")
            out.append(closing)
        text = "\n".join(out).strip()
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        return text
