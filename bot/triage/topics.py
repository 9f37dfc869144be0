"""Topics a family can pick when tsunagu is not sure what a message is about.

``intents/_topics.yml`` lists them (a button label, the worry answered by default, the worries
the topic covers).  Pure: the loader hands in the parsed file.
"""

from __future__ import annotations

from typing import Iterable

from pydantic import BaseModel, ConfigDict, Field

#: Most topics offered at once (LINE shows up to 13 quick replies; a short list is easier to read).
MAX_TOPICS = 4


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=20, description="the quick-reply button (at most 20 characters)")
    intent: str = Field(description="the worry answered when nothing points to a more specific one")
    intents: list[str] = Field(default_factory=list, description="the worries this topic covers")


class TopicsSpec(BaseModel):
    """``intents/_topics.yml``."""

    model_config = ConfigDict(extra="forbid")
    topics: list[Topic] = Field(min_length=1)

    def offer(self, candidates: Iterable[str]) -> tuple[tuple[str, str], ...]:
        """(label, intent) pairs for the candidate worries, best first; every topic when none fits.

        A topic is answered with the best candidate it covers, else with its own default worry.
        """
        chosen: dict[str, str] = {}
        for iid in candidates:
            for topic in self.topics:
                if (iid in topic.intents or iid == topic.intent) and topic.label not in chosen:
                    chosen[topic.label] = iid
                    break
            if len(chosen) >= MAX_TOPICS:
                break
        if len(chosen) < 2:
            for topic in self.topics:
                if len(chosen) >= MAX_TOPICS:
                    break
                chosen.setdefault(topic.label, topic.intent)
        return tuple(chosen.items())

    def by_label(self, label: str) -> Topic | None:
        return next((t for t in self.topics if t.label == label), None)
