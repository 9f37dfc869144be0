"""Timing and tone of a message: is the danger happening now, is it a question?

Danger words alone do not make an emergency: 「死ぬほど疲れた」 is a figure of
speech, 「暴れたのは昨日で今は寝ている」 is over, 「殴っている」 is happening.
This module reads the tokens around a matched act and the cue words listed in
``intents/_signals.yml`` and says whether the act is *now*, *soon* or neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from .matcher import Hit, Phrase
from .tokenize import Token


class SignalSpec(BaseModel):
    """``intents/_signals.yml``: the cue words (keyword syntax) and token forms."""

    model_config = ConfigDict(extra="forbid")
    # keyword lists (matched like intent keywords)
    now: list[str]
    soon: list[str]
    habitual: list[str]
    distant_past: list[str]
    calm: list[str]
    reported: list[str]
    question: list[str]
    situation: list[str]
    harassment: list[str] = Field(default_factory=list)
    deadline: list[str] = Field(default_factory=list)
    loss: list[str] = Field(default_factory=list)
    status_update: list[str] = Field(default_factory=list)
    # single-token forms looked for right after an act
    progressive_aux: list[str]
    progressive_verbs: list[str]
    past_aux: list[str]
    figurative: list[str]
    hypothetical: list[str]
    skip_aux: list[str]
    question_marks: list[str]
    recent_days: int = Field(8, ge=0, le=60)


KEYWORD_LISTS = ("now", "soon", "habitual", "distant_past", "calm", "reported", "question",
                 "situation", "harassment", "deadline", "loss", "status_update")


@dataclass(frozen=True)
class TokenForms:
    """Token-level cue sets, as Sudachi normalized forms."""

    progressive_aux: frozenset[str]
    progressive_verbs: frozenset[str]
    past_aux: frozenset[str]
    figurative: frozenset[str]
    hypothetical: frozenset[str]
    skip_aux: frozenset[str]
    question_marks: frozenset[str]


@dataclass(frozen=True)
class Cues:
    """Which cue lists matched where: name -> sentence indexes (and token ranges)."""

    spans: dict[str, list[tuple[int, int, int, int]]]  # name -> [(sentence, clause, start, end)]

    def sentences(self, name: str) -> set[int]:
        return {s for s, _, _, _ in self.spans.get(name, ())}

    def clauses(self, name: str) -> set[int]:
        return {c for _, c, _, _ in self.spans.get(name, ())}

    def any(self, name: str) -> bool:
        return bool(self.spans.get(name))

    def texts(self, name: str, tokens: Sequence[Token]) -> list[str]:
        return ["".join(t.surface for t in tokens[a:b]) for _, _, a, b in self.spans.get(name, ())]

    def live_now(self) -> set[int]:
        """Sentences with a "now" cue that is not about calm (「今は寝ている」)."""
        calm = self.clauses("calm")
        return {s for s, c, _, _ in self.spans.get("now", ()) if c not in calm}


def collect_cues(hits: Sequence[Hit], tokens: Sequence[Token]) -> Cues:
    spans: dict[str, list[tuple[int, int, int, int]]] = {}
    for hit in hits:
        if hit.pattern.role != "signal":
            continue
        for a, b in hit.last:
            spans.setdefault(hit.pattern.owner, []).append((tokens[a].sentence, tokens[a].clause, a, b))
    return Cues(spans)


@dataclass(frozen=True)
class Timing:
    now: bool
    reason: str


def _after(tokens: Sequence[Token], end: int, forms: TokenForms, limit: int = 6) -> list[Token]:
    """Tokens right after an act, skipping voice auxiliaries (られる, させる)."""
    out = []
    for t in tokens[end:end + limit]:
        if t.pos in ("補助記号",) and t.surface in "。！？!?\n":
            break
        if t.norm in forms.skip_aux and t.pos == "助動詞":
            continue
        out.append(t)
    return out


def _progressive(after: list[Token], forms: TokenForms) -> bool:
    """暴れている / 蹴ってる / 殴りよる — but not 暴れていた / 暴れとった (past)."""
    norms = [t.norm for t in after]

    def not_past(j: int) -> bool:
        return j >= len(norms) or norms[j] not in forms.past_aux

    for i, n in enumerate(norms[:4]):
        if n in forms.progressive_aux:
            return not_past(i + 1)
        if n in ("て", "で") and i + 1 < len(norms) and norms[i + 1] in forms.progressive_verbs:
            return not_past(i + 2)
        if n in forms.past_aux:
            return False
    return False


def _starts_with(after: list[Token], prefixes: frozenset[str]) -> bool:
    text = "".join(t.surface for t in after)
    return any(text.startswith(p) for p in prefixes)


def act_timing(span: tuple[int, int], tokens: Sequence[Token], cues: Cues, forms: TokenForms,
               when: str, inherent: bool) -> Timing:
    """Decide whether the act at ``span`` is an emergency now."""
    start, end = span
    sentence = tokens[start].sentence
    after = _after(tokens, end, forms)
    if _starts_with(after, forms.figurative):
        return Timing(False, "figure of speech")
    if _starts_with(after, forms.hypothetical):
        return Timing(False, "hypothetical")
    if sentence in cues.sentences("reported"):
        return Timing(False, "reported (news, someone else's story)")
    past_here = sentence in cues.sentences("distant_past")
    live = cues.live_now()
    now_here = sentence in live or (sentence + 1) in live
    soon_here = when == "soon" and (sentence in cues.sentences("soon") or (sentence + 1) in cues.sentences("soon"))
    if inherent:
        if past_here and not now_here:
            return Timing(False, "long ago")
        return Timing(True, "an emergency in itself")
    if cues.any("calm") and not now_here:
        return Timing(False, "calm now")
    if past_here and not now_here:
        return Timing(False, "in the past")
    if now_here or soon_here:
        return Timing(True, "now" if now_here else "soon")
    if _progressive(after, forms) and sentence not in cues.sentences("habitual"):
        return Timing(True, "happening (progressive)")
    return Timing(False, "not now")


def is_question(tokens: Sequence[Token], cues: Cues, forms: TokenForms) -> bool:
    if cues.any("question"):
        return True
    tail = [t for t in tokens if t.pos not in ("補助記号", "空白")][-2:]
    return any(t.norm in forms.question_marks or t.surface in forms.question_marks for t in tail) \
        or any(t.surface in ("?", "？") for t in tokens[-2:])


def phrase_forms(words: Sequence[str], first_norm) -> frozenset[str]:
    return frozenset(first_norm(w) for w in words)


__all__ = ["SignalSpec", "TokenForms", "Cues", "Timing", "collect_cues", "act_timing", "is_question",
           "KEYWORD_LISTS", "Phrase"]
