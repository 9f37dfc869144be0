"""Timing and tone of a message: is the danger happening now, is it a question?

Danger words alone do not make an emergency: 「死ぬほど疲れた」 is a figure of
speech, 「暴れたのは昨日で今は寝ている」 is over, 「殴っている」 is happening.
This module reads the tokens around a matched act and the cue words listed in
``intents/_signals.yml`` and says whether the act is *now*, *soon* or neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from pydantic import BaseModel, ConfigDict, Field

from .matcher import Hit, Phrase
from .tokenize import NEGATION_KEY, Token


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
    long_ago: list[str] = Field(default_factory=list)
    calm: list[str]
    reported: list[str]
    report_frame: list[str] = Field(default_factory=list)
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
    instruction: list[str] = Field(default_factory=list)
    skip_aux: list[str]
    question_marks: list[str]
    recent_days: int = Field(8, ge=0, le=60)


KEYWORD_LISTS = ("now", "still", "alarm", "conditional", "chronic", "soon", "habitual", "distant_past", "long_ago", "calm",
                 "reported", "report_frame", "question", "situation", "harassment", "deadline", "loss",
                 "status_update")


@dataclass(frozen=True)
class TokenForms:
    """Token-level cue sets: Sudachi normalized forms (sets), and text prefixes (tuples, for
    ``str.startswith``) looked for right after an act."""

    progressive_aux: frozenset[str]
    progressive_verbs: frozenset[str]
    past_aux: frozenset[str]
    figurative: tuple[str, ...]
    hypothetical: tuple[str, ...]
    skip_aux: frozenset[str]
    question_marks: frozenset[str]
    instruction: tuple[str, ...] = ()
    #: hypothetical forms without the wish (…たい is what a keyword like 死にたい names)
    conditions: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditions", tuple(h for h in self.hypothetical if h not in _NOT_NEGATIONS))


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



#: Most tokens after an act read for its tense.
TAIL_TOKENS = 40
_OPEN = "「『“（(【"
_CLOSE = {"」": "「", "』": "『", "”": "“", "）": "（", ")": "(", "】": "【"}
#: Brackets that hold someone's words (parentheses hold asides: ages, names, notes).
_SPEECH = frozenset("「『“")


def quotations(tokens: Sequence[Token]) -> list[int]:
    """For each token, the id of the quotation it stands in (its opening bracket's index), or -1.

    Only brackets that close count (real text often leaves one open); nested quotes take the
    innermost.  Linear in the number of tokens.
    """
    quote = [-1] * len(tokens)
    stack: list[tuple[str, int]] = []
    for i, t in enumerate(tokens):
        ch = t.surface
        if ch and ch[0] in _OPEN and len(ch) == 1:
            stack.append((ch, i))
        elif ch in _CLOSE and stack:
            opener = _CLOSE[ch]
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == opener:
                    start = stack[depth][1]
                    del stack[depth:]
                    if opener in _SPEECH:
                        for j in range(start + 1, i):
                            if quote[j] < start:
                                quote[j] = start
                    break
    return quote


@dataclass
class Reading:
    """One message read for timing, built once per message: its tokens and cues, where each sentence
    ends, which words are quoted, and whether it is a report of someone else's case."""

    tokens: Sequence[Token]
    cues: Cues
    forms: TokenForms
    sentence_end: list[int]
    quote: list[int]
    report: bool
    outer_end: list[int] = field(default_factory=list)   # token -> end of its sentence, quotations included
    _scoped: dict = field(default_factory=dict, repr=False)

    def sentences(self, name: str, quoted: bool = False, calm_free: bool = False) -> set[int]:
        """Sentences with a ``name`` cue in the writer's own words (and, for a quoted act, in quotations);
        ``calm_free``: not in a clause about calm."""
        key = (name, quoted, calm_free)
        found = self._scoped.get(key)
        if found is None:
            calm = self.cues.clauses("calm") if calm_free else ()
            found = self._scoped[key] = {s for s, c, a, _ in self.cues.spans.get(name, ())
                                         if c not in calm and (quoted or self.quote[a] < 0)}
        return found

    def still(self, quoted: bool = False) -> set[int]:
        """Sentences with a "still going on" cue that is not about calm (「今も静かに部屋にいます」)."""
        return self.sentences("still", quoted, calm_free=True)

    def live_now(self, quoted: bool = False) -> set[int]:
        """Sentences with a "now" cue that is not about calm (「今は寝ている」)."""
        return self.sentences("now", quoted, calm_free=True)

    def tail(self, end: int) -> Sequence[Token]:
        """The tokens after ``end`` up to the end of its sentence (at most TAIL_TOKENS: the tense of an
        act is told within a few words, and a sentence without end must not cost its square)."""
        if end <= 0 or end >= len(self.tokens):
            return ()
        return self.tokens[end:min(self.sentence_end[self.tokens[end - 1].sentence], end + TAIL_TOKENS)]


def read(tokens: Sequence[Token], cues: Cues, forms: TokenForms) -> Reading:
    ends: list[int] = []
    for i, t in enumerate(tokens):
        while len(ends) <= t.sentence:
            ends.append(i)
        ends[t.sentence] = i + 1
    quote = quotations(tokens)
    alarm = cues.any("alarm")
    report = not alarm and any(quote[a] == -1 for _, _, a, _ in cues.spans.get("report_frame", ()))
    # a sentence in the writer's words runs on through the quotations inside it (『…。…』と言われた。)
    outer_end = [0] * len(tokens)
    start = 0
    for i, t in enumerate(tokens):
        last = i + 1 == len(tokens)
        if last or (quote[i] < 0 and t.sentence != tokens[i + 1].sentence and quote[i + 1] < 0):
            for j in range(start, i + 1):
                outer_end[j] = i + 1
            start = i + 1
    return Reading(tokens, cues, forms, ends, quote, report, outer_end)


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
    hard: bool = False   # a reading that rules the act out whatever its other words say (negated, a figure…)
    meaning: bool = True  # False: the words do not mean the danger at all (a figure of speech, another sense)


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


def _starts_with(after: list[Token], prefixes: tuple[str, ...], unless: tuple[str, ...] = ()) -> bool:
    text = "".join(t.surface for t in after)
    return text.startswith(prefixes) and not text.startswith(unless)


def _imperative(last: Token, after: Sequence[Token]) -> bool:
    """An order (殴れ, 行け, 死ね): Sudachi reads a 五段 imperative as 仮定形 when no ば follows."""
    if after and after[0].pos == "助動詞":
        return after[0].conj == "命令形"
    if last.pos != "動詞":
        return False
    return last.conj == "命令形" or (last.conj.startswith("仮定形") and not (after and after[0].norm in ("ば", "ども")))


def _before(tokens: Sequence[Token], start: int, limit: int = 4) -> str:
    """The few words right before an act, as written (for senses told apart by what comes first)."""
    out = []
    for t in reversed(tokens[max(0, start - limit):start]):
        if t.pos == "補助記号" and t.surface in "。！？!?\n":
            break
        out.append(t.surface)
    return "".join(reversed(out))


def _instruction(after: Sequence[Token], forms: TokenForms) -> bool:
    """The act is what someone was told to do (行ってください, 買うように言われ, 「ATMに行って」), not done."""
    text = "".join(t.surface for t in after)
    for lead in ("する", "し", "て", "で"):
        if text.startswith(lead) and not text.startswith(("しよう", "しようと")):
            text = text[len(lead):]
            if lead in ("て", "で") and text[:1] in ("」", "』"):
                return True   # a te-form request closing someone's words: 「…ATMに行って」
            break
    return text.startswith(forms.instruction)


_NEGATIONS = frozenset({"ない", "無い", "ず", "ぬ", "へん", "ねえ"})
#: Words that may stand between an act and the negation of its clause (切ったりとかはしてない).
_CHAIN_TO_NEGATION = frozenset({"助詞", "助動詞", "接尾辞"})
_LIGHT_VERBS = frozenset({"為る", "居る", "有る", "出来る", "遣る", "致す", "おる", "来る", "行く", "仕舞う",
                          "思う", "考える", "言う", "口", "訳", "わけ", "事", "こと", "積もり", "つもり", "様", "よう", "気"})


def _negated(after: Sequence[Token]) -> bool:
    """The act's own clause is negated further on (切ったりとかはしてない, 行かずに)."""
    for t in after:
        if t.norm == "しか":
            return False   # 死ぬしかない, 払うしかない: "nothing but", not a negation
        if (t.key == NEGATION_KEY or t.norm in _NEGATIONS) and t.pos in ("助動詞", "形容詞"):
            return True
        if t.surface in "、,。!?！？" or (t.pos not in _CHAIN_TO_NEGATION and t.norm not in _LIGHT_VERBS):
            return False
    return False


def act_timing(span: tuple[int, int], reading: Reading, when: str, inherent: bool,
               figurative: frozenset[str] = frozenset(), progressive: bool = True,
               other_sense: tuple[str, ...] = (), parts: Sequence[tuple[int, int]] = ()) -> Timing:
    """Decide whether the act at ``span`` is an emergency now.

    - inherent acts (an overdose, a farewell note) are emergencies unless told as long ago;
    - other acts need "now": a now-cue in their sentence, a still-cue there or in the next
      sentence, progressive aspect on the act's own predicate (not habitual), or — for
      ``when: soon`` — a soon-cue (today, from now on) while the act is not told as done.
    Figures of speech, other senses, hypotheticals, negations, instructions, quotes of news,
    reports of someone else's case and calm-now block.  Cues inside quotations count only for
    quoted acts (a scammer's 「今日中に」 is not the writer's today).
    """
    tokens, cues, forms = reading.tokens, reading.cues, reading.forms
    start, end = span
    sentence = tokens[start].sentence
    q = reading.quote[start] >= 0
    after = _after(tokens, end, forms)
    if _imperative(tokens[end - 1], after):
        return Timing(False, "an order or an insult (死ね, 殴れ), not an act", hard=True, meaning=False)
    if _starts_with(after, forms.figurative) or (figurative and _starts_with(after, tuple(figurative))):
        return Timing(False, "figure of speech", hard=True, meaning=False)
    if other_sense and any(_before(tokens, a).endswith(other_sense) for a, _ in (span, *parts)):
        return Timing(False, "another sense of the word", hard=True, meaning=False)
    if _starts_with(after, forms.hypothetical, unless=_HEARSAY) or _negated(after):
        return Timing(False, "hypothetical or negated", hard=True)
    if _instruction(after, forms):
        return Timing(False, "what someone was told to do", hard=True)
    if sentence in reading.sentences("reported", q):
        return Timing(False, "reported (news, someone else's story)", hard=True)
    if reading.report:
        return Timing(False, "a report of someone else's case", hard=True)
    if sentence in reading.sentences("conditional", q):
        return Timing(False, "a condition (もし…)", hard=True)
    past_here = sentence in reading.sentences("distant_past", q)
    live = reading.live_now(q)
    told = aspect(reading.tail(end), forms)
    alarm = cues.any("alarm")
    now_here = (bool(live & {sentence - 1, sentence}) or bool(reading.still(q) & {sentence, sentence + 1})
                or alarm)
    habitual = reading.sentences("habitual", q) & {sentence, sentence + 1} or sentence in reading.sentences("chronic", q)
    if inherent:
        distant = reading.sentences("distant_past", q)
        if (past_here or any(tokens[a].sentence in distant for a, _ in parts)) and not now_here:
            return Timing(False, "long ago")
        if tokens[start].clause in cues.clauses("habitual") and not now_here:
            return Timing(False, "something that happens at times")
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
    if when == "soon" and told != "past" and reading.sentences("soon", q) & {sentence, sentence + 1}:
        return Timing(True, "soon")
    if progressive and told == "progressive" and not habitual:
        return Timing(True, "happening (progressive)")
    return Timing(False, "not now" if told != "past" else "told in the past")


#: After たら/だら: hearsay, not a condition (飲んだらしい).
_HEARSAY = ("たらしい", "だらしい")


def keyword_reading(span: tuple[int, int], reading: Reading, current_only: bool) -> str:
    """Why a matched keyword does not count as what the message is about, or "" when it does.

    Any keyword: negated or hypothetical (課金はしていない, もし暴れたら).  For ``current_only`` intents
    also: a condition (もし…), long ago (昔は暴れた, 死にたいと思っていた頃), or someone else's story.
    Recent past still counts (昨日殴られた is what family violence usually sounds like).
    """
    tokens, forms = reading.tokens, reading.forms
    start, end = span
    after = _after(tokens, end, forms)
    if _negated(after) or _starts_with(after, forms.conditions, unless=_HEARSAY):
        return "negated or hypothetical"
    if not current_only:
        return ""
    sentence = tokens[start].sentence
    q = reading.quote[start] >= 0
    if sentence in reading.sentences("conditional", q):
        return "a condition (もし…)"
    long_ago = reading.sentences("long_ago", q)
    if sentence in long_ago or sentence in reading.sentences("reported", q):
        return "long ago or someone else's story"
    if sentence - 1 in long_ago and _told_as_past(reading, start):
        return "long ago (the story of that time goes on)"
    return ""


#: Hypothetical forms that are not negations of the keyword itself (…たい is the wish the keyword names).
_NOT_NEGATIONS = frozenset({"たい", "たく", "たかっ", "てえ"})


def message_timing(reading: Reading, when: str) -> Timing:
    """Whether the message as a whole is told as happening now (or, with ``when: soon``, about to).

    Used when the learned model sees a danger that no act pattern names: the words say *what*,
    this says *when*, and only from explicit words (今, さっきから, 至急, and for plans 今夜, これから):
    a verb form alone cannot be tied to a danger no pattern located.  Sentences about the past,
    conditions or someone else's story do not count; nor does anything inside a quotation.
    """
    cues = reading.cues
    if reading.report:
        return Timing(False, "a report of someone else's case")
    if cues.any("alarm"):
        return Timing(True, "an alarm word")
    blocked = reading.sentences("reported") | reading.sentences("conditional") | reading.sentences("distant_past")
    if reading.still() - blocked:
        return Timing(True, "still going on")
    if reading.live_now() - blocked:
        return Timing(True, "now")
    if when == "soon":
        skip = blocked | cues.sentences("calm") | cues.sentences("question")
        if any(s not in skip and reading.quote[a] < 0 and not _told_as_past(reading, a)
               for s, _, a, _ in cues.spans.get("soon", ())):
            return Timing(True, "soon")
    return Timing(False, "no word that says it is happening now")


#: Sentence endings skipped when looking for the tense of a sentence (…行きましたよね。…来たらしい).
_ENDINGS = frozenset({"ます", "です", "だ", "らしい", "そう", "よう", "みたい", "ね", "よ", "な", "か", "の", "ん",
                      "けど", "けれど", "が", "し", "わ", "ぞ", "って", "と"})


def _told_as_past(reading: Reading, at: int) -> bool:
    """The sentence around token ``at`` ends in the past tense (今日…と電話があった。『…。』と言われました)."""
    tokens = reading.tokens
    i = reading.outer_end[at] - 1
    while i >= at:
        t = tokens[i]
        if t.pos in ("補助記号", "空白") or t.norm in _ENDINGS:
            i -= 1
            continue
        return t.norm in reading.forms.past_aux and t.pos == "助動詞"
    return False


def is_question(tokens: Sequence[Token], cues: Cues, forms: TokenForms) -> bool:
    if cues.any("question"):
        return True
    tail = [t for t in tokens if t.pos not in ("補助記号", "空白")][-2:]
    return any(t.norm in forms.question_marks or t.surface in forms.question_marks for t in tail) \
        or any(t.surface in ("?", "？") for t in tokens[-2:])


__all__ = ["SignalSpec", "TokenForms", "Cues", "Reading", "Timing", "collect_cues", "read", "act_timing", "message_timing",
           "is_question", "keyword_reading", "quotations", "KEYWORD_LISTS", "Phrase"]
