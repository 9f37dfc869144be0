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
    still: list[str] = Field(default_factory=list)
    alarm: list[str] = Field(default_factory=list)
    conditional: list[str] = Field(default_factory=list)
    chronic: list[str] = Field(default_factory=list)
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


KEYWORD_LISTS = ("now", "still", "alarm", "conditional", "chronic", "soon", "habitual", "distant_past", "calm", "reported", "question",
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


def _after(tokens: Sequence[Token], end: int, forms: TokenForms, limit: int = 8) -> list[Token]:
    """Tokens right after an act, skipping voice auxiliaries (られる, させる)."""
    out = []
    for t in tokens[end:end + limit]:
        if t.pos == "補助記号" and t.surface in "。！？!?\n":
            break
        if t.norm in forms.skip_aux and t.pos == "助動詞":
            continue
        out.append(t)
    return out


def _sentence_tail(tokens: Sequence[Token], end: int) -> list[Token]:
    if end >= len(tokens):
        return []
    sentence = tokens[end - 1].sentence if end else 0
    return [t for t in tokens[end:] if t.sentence == sentence]


def aspect(tail: Sequence[Token], forms: TokenForms) -> str:
    """The first tense/aspect marker after an act: "progressive", "past" or "" (none).

    暴れている / 蹴ってる / 殴りよる / 乗せようとしている -> progressive; 暴れていた /
    暴れていました / 殴られた -> past.  Politeness (ます, です) between the marker and
    た is skipped.
    """
    norms = [t.norm for t in tail]
    n = len(norms)

    def past_after(j: int) -> bool:
        while j < n and norms[j] in _POLITE:
            j += 1
        return j < n and norms[j] in forms.past_aux

    depth = 0
    after_quote = False
    pending = ""
    for i, norm in enumerate(norms):
        surface = tail[i].surface
        if surface in "「『":
            depth += 1
            continue
        if surface in "」』":
            if depth == 0:
                return "quoted"  # the act was inside a quotation: someone's words, not what is happening
            depth -= 1
            after_quote = depth == 0
            continue
        if depth:
            continue      # a quotation after the act (『来ないで』と言っています) says nothing of its time
        if not after_quote and (surface == "って" or (
                norm in _QUOTATIVE and i + 1 < n and norms[i + 1] in _SAYING)):
            return pending or "reported"  # 取りに行くと言われた / 行ってくるって: the tense belongs to the saying
        after_quote = False
        if tail[i].pos == "助詞" and (tail[i].pos2 == "準体助詞" or (
                tail[i].pos2 == "接続助詞" and norm not in _CHAIN)):
            return pending  # 出られんのは… / 暴れたけど… / 殴るから…: another clause carries the tense
        if norm in forms.progressive_aux:
            j = i + 1
        elif norm in ("て", "で") and i + 1 < n and norms[i + 1] in forms.progressive_verbs:
            j = i + 2
        elif norm in forms.past_aux and tail[i].pos == "助動詞":
            if _modifies_noun(tail, i + 1):
                continue  # 言われた口座: a relative clause, not the tense of the act
            return "past"
        else:
            continue
        if _modifies_noun(tail, j):
            continue      # 暴れている息子: a relative clause
        if past_after(j):
            return "past"
        if j < n and (norms[j] in ("て", "で") or tail[j].surface in "、,"):
            pending = "progressive"  # 操作してて、…でした: the chain's last verb tells the tense
            continue
        return "progressive"
    return pending


_POLITE = frozenset({"ます", "です", "ござる"})


def _modifies_noun(tail: Sequence[Token], j: int) -> bool:
    """A verb form directly before a noun is a relative clause (言われた口座), except before the
    formal nouns that make a time clause of it (操作したところ, 帰った後, 殴った時)."""
    return j < len(tail) and tail[j].pos in ("名詞", "代名詞") and tail[j].norm not in _FORMAL_NOUNS


_FORMAL_NOUNS = frozenset({"所", "ところ", "後", "あと", "時", "とき", "際", "途端", "瞬間", "直後"})
_QUOTATIVE = frozenset({"と", "って", "て"})
#: Conjunctive particles that chain clauses sharing one tense (持って…叫んでいる, 殴ったり蹴ったりしている).
_CHAIN = frozenset({"て", "で", "ながら", "たり", "だり", "つつ"})
_SAYING = frozenset({"言う", "話す", "聞く", "申す", "思う", "連絡", "電話", "書く", "伝える", "脅す", "叫ぶ"})


def _starts_with(after: list[Token], prefixes: frozenset[str], unless: tuple[str, ...] = ()) -> bool:
    text = "".join(t.surface for t in after)
    return any(text.startswith(p) for p in prefixes) and not text.startswith(unless)


def act_timing(span: tuple[int, int], tokens: Sequence[Token], cues: Cues, forms: TokenForms,
               when: str, inherent: bool, figurative: frozenset[str] = frozenset(),
               progressive: bool = True) -> Timing:
    """Decide whether the act at ``span`` is an emergency now.

    - inherent acts (an overdose, a farewell note) are emergencies unless told as long ago;
    - other acts need "now": a now-cue in their sentence, a still-cue there or in the next
      sentence, progressive aspect on the act's own predicate (not habitual), or — for
      ``when: soon`` — a soon-cue (today, from now on) while the act is not told as done.
    Figures of speech, hypotheticals, negations, quotes of news and calm-now block.
    """
    start, end = span
    sentence = tokens[start].sentence
    after = _after(tokens, end, forms)
    if _starts_with(after, forms.figurative | figurative):
        return Timing(False, "figure of speech")
    if _starts_with(after, forms.hypothetical, unless=_HEARSAY):
        return Timing(False, "hypothetical or negated")
    if sentence in cues.sentences("reported"):
        return Timing(False, "reported (news, someone else's story)")
    if sentence in cues.sentences("conditional"):
        return Timing(False, "a condition (もし…)")
    past_here = sentence in cues.sentences("distant_past")
    live = cues.live_now()
    told = aspect(_sentence_tail(tokens, end), forms)
    alarm = cues.any("alarm")
    now_here = (bool(live & {sentence - 1, sentence}) or bool(cues.sentences("still") & {sentence, sentence + 1})
                or alarm)
    if inherent:
        if past_here and not now_here:
            return Timing(False, "long ago")
        return Timing(True, "an emergency in itself")
    if told == "quoted" and when == "now" and not alarm:
        return Timing(False, "inside a quotation")   # (a plan quoted, 『今日で終わりにする』って, still counts)
    if told == "past" and not (sentence in live or alarm):
        return Timing(False, "told in the past")
    if when == "now" and cues.any("calm") and not now_here:
        return Timing(False, "calm now")
    if past_here and not now_here:
        return Timing(False, "in the past")
    if now_here:
        return Timing(True, "now")
    if when == "soon" and told != "past" and cues.sentences("soon") & {sentence, sentence + 1}:
        return Timing(True, "soon")
    habitual = cues.sentences("habitual") & {sentence, sentence + 1} or sentence in cues.sentences("chronic")
    if progressive and told == "progressive" and not habitual:
        return Timing(True, "happening (progressive)")
    return Timing(False, "not now" if told != "past" else "told in the past")


#: After たら/だら: hearsay, not a condition (飲んだらしい).
_HEARSAY = ("たらしい", "だらしい")


def is_question(tokens: Sequence[Token], cues: Cues, forms: TokenForms) -> bool:
    if cues.any("question"):
        return True
    tail = [t for t in tokens if t.pos not in ("補助記号", "空白")][-2:]
    return any(t.norm in forms.question_marks or t.surface in forms.question_marks for t in tail) \
        or any(t.surface in ("?", "？") for t in tokens[-2:])


__all__ = ["SignalSpec", "TokenForms", "Cues", "Timing", "collect_cues", "act_timing", "is_question",
           "KEYWORD_LISTS", "Phrase"]
