"""Intent files: schema (what an admin may write) and the compiled form.

One YAML file per worry in ``intents/``.  The schema is strict (unknown keys are
errors) so that a typo such as ``exmaples:`` is caught by ``tsunagu check``
instead of silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Urgency = Literal["emergency", "urgent", "normal", "info"]
URGENCY_ORDER: dict[str, int] = {"info": 0, "normal": 1, "urgent": 2, "emergency": 3}

#: Fewer examples than this and ``tsunagu check`` warns: an intent needs variety to generalise.
FEW_EXAMPLES = 8


class DangerSpec(BaseModel):
    """Rule-1 intents: what makes a message an emergency."""

    model_config = ConfigDict(extra="forbid")
    when: Literal["now", "soon"] = Field(
        "now", description="now: only while it is happening; soon: also today / from now on")
    acts: list[str] = Field(default_factory=list,
                            description="acts that are an emergency only when happening now (or soon)")
    inherent: list[str] = Field(default_factory=list,
                                description="emergencies even when told in the past tense (unless long ago)")
    progressive: bool = Field(True, description="false: a verb in progressive form alone is not 'now' "
                                                "(plans need a time: 今日, 今夜, これから)")
    figurative: list[str] = Field(default_factory=list,
                                  description="text right after an act that makes it a figure of speech here "
                                              "(e.g. そう: 死にそう)")
    other_sense: list[str] = Field(default_factory=list,
                                   description="text right before an act that gives its word another sense "
                                               "(e.g. に対する: 教育に対する意識がない)")


class AgeRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    over: int = Field(description="applies when the person concerned is older than this")
    contacts: list[str]


class IntentSpec(BaseModel):
    """What an intent file may contain."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    rule: str = Field(pattern=r"^[a-z][a-z0-9_]*$",
                      description="name of a rule in intents/_policy.yml; among worries that are clearly there, "
                                  "the one whose rule comes first in that file leads")
    contacts: list[str] = Field(default_factory=list, description="contact ids, primary first")
    urgency: Urgency = "normal"
    threshold: float = Field(3.0, gt=0, description="score needed for this intent to count")
    keywords: dict[str, float] = Field(default_factory=dict)
    urgent_when: list[str] = Field(default_factory=list,
                                   description="phrases that make a message of this intent urgent")
    real_deadlines: bool = Field(True, description="false: dates/deadlines in the message are the scammer's, not real")
    law: list[str] = Field(default_factory=list, description="consumer-law point ids (responses/consumer_law.yml)")
    danger: DangerSpec | None = None
    older: AgeRule | None = None
    generic: bool = Field(False, description="a safety net: yields to any other intent of the same rule")
    yields_to: list[str] = Field(default_factory=list,
                                 description="intents that lead instead of this one when both match "
                                             "(more specific worries of a later rule)")
    ages: tuple[int, int] | None = Field(
        None, description="the worry is about someone of this age (e.g. [6, 19] for school): a message whose "
                          "person is clearly older or younger does not count for it")
    current_only: bool = Field(False, description="only what is going on now counts: keywords told as past, "
                                                  "hypothetical or negated do not (昔は死にたかった, もし暴れたら)")
    short_only: int | None = Field(None, ge=1, description="counts only in messages of at most this many words "
                                                          "(greetings: a long story that says こんにちは is not one)")
    modifier: bool = Field(False, description="never leads: only adds its contacts to the worry that does "
                                              "(e.g. threats add the police line)")
    contacts_from_mentions: bool = Field(
        False, description="contacts are the windows the message names (staff questions)")
    examples: list[str] = Field(min_length=1)
    counter_examples: list[str] = Field(default_factory=list)

    @field_validator("rule", mode="before")
    @classmethod
    def _rule_name(cls, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ValueError(f"rule is written as a name now, not a number ({v}): "
                             "one of the names under rules: in intents/_policy.yml, e.g. consumer")
        return v

    @field_validator("keywords")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if not -10 <= w <= 10:
                raise ValueError(f"weight of {k!r} must be between -10 and 10")
        return v

    @field_validator("examples", "counter_examples")
    @classmethod
    def _nonempty(cls, v: list[str]) -> list[str]:
        for s in v:
            if not isinstance(s, str) or not s.strip():
                raise ValueError("every example must be a non-empty sentence")
        return v


@dataclass(frozen=True)
class Intent:
    """A loaded intent (spec + where it came from)."""

    spec: IntentSpec
    file: str
    lines: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def rule(self) -> str:
        return self.spec.rule
