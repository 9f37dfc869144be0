"""The routing policy: which intent leads, which windows, how urgent.

Input: the intents that matched (with scores), the timing cues, the facts and the rules of
``intents/_policy.yml`` (:class:`Policy`).  Output: the primary intent, the ordered contact ids,
the urgency, and the reasons.  The rules are generic; their order, the windows they route to and
the thresholds live in ``intents/_policy.yml``, and which words trigger them in the intent files
and ``intents/_signals.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from .decision import Reason
from .facts import Facts
from .intents import URGENCY_ORDER, Intent
from .matcher import Hit
from .signals import Cues, Reading, TokenForms, act_timing, is_question, keyword_reading, message_timing
from .tokenize import Token

#: The emergency numbers (DESIGN.md contact ids): put first in an emergency, scored as one by `evaluate`.
EMERGENCY_IDS = ("emergency_110", "emergency_119")
#: Most places one keyword or act is read at (a crafted message repeating one word a thousand
#: times costs no more than this many readings).
MAX_SPANS = 64

UrgentSign = Literal["recent_loss", "harassment"]


class RuleSpec(BaseModel):
    """One routing rule of ``intents/_policy.yml``; the list order is the priority (first wins)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="what intent files write as `rule:`")
    when: str = Field(min_length=1, description="when the rule applies (one line, for people)")
    routes_to: list[str] = Field(default_factory=list,
                                 description="contact ids a worry of this rule leads with; an intent's first "
                                             "contact should be one of them (`tsunagu check` warns)")
    urgent_signs: list[UrgentSign] = Field(
        default_factory=list,
        description="what makes a worry of this rule urgent beyond its intent's urgent_when: recent_loss "
                    "(money paid or a contract made in the last recent_days days), harassment (it goes on)")


class Thresholds(BaseModel):
    """The numbers that decide between worries (``thresholds:`` of ``intents/_policy.yml``)."""

    model_config = ConfigDict(extra="forbid")
    keyword_weight: float = Field(ge=0, le=2, description="what a keyword score at its intent's threshold "
                                                          "adds to the model's probability")
    present: float = Field(gt=0, le=2, description="evidence from which a worry counts as present")
    lead_share: float = Field(ge=0, le=1, description="share of the best evidence a present worry needs to "
                                                      "take part in 'the earliest rule leads'")
    strong: float = Field(gt=0, le=2, description="evidence from which a worry takes part whatever the others score")
    life_rule: str = Field(description="this rule and the ones above it take part whenever their keywords "
                                       "say so (a life at risk)")
    doubt: float = Field(ge=0, le=1, description="below this model probability the examples disagree with "
                                                 "the keywords")
    doubted: float = Field(ge=0, le=1, description="the share of their weight keywords keep then")
    confident: float = Field(gt=0, le=2, description="evidence from which the leading worry is clear "
                                                     "(below it a close rival makes tsunagu ask)")
    close: float = Field(ge=0, le=1, description="how close a rival's evidence must be for tsunagu to ask")
    weak: float = Field(ge=0, le=2, description="with nothing present, the best worry still leads from this "
                                                "much evidence")
    candidates: int = Field(ge=1, le=13, description="most candidate worries kept for the question")
    danger_model: float = Field(gt=0, le=1, description="the model's probability of a danger from which it "
                                                        "counts as an act when the message is told as now")
    max_contacts: int = Field(ge=1, le=10, description="most windows a reply lists")


class PolicySpec(BaseModel):
    """``intents/_policy.yml``: the routing rules in priority order and the thresholds."""

    model_config = ConfigDict(extra="forbid")
    rules: list[RuleSpec] = Field(min_length=1)
    thresholds: Thresholds


class Policy:
    """A loaded :class:`PolicySpec`, ready for the router (names checked by the loader)."""

    def __init__(self, spec: PolicySpec):
        self.spec = spec
        self.t = spec.thresholds
        self.rules = {r.name: r for r in spec.rules}
        self.order = {r.name: n for n, r in enumerate(spec.rules)}

    def rank(self, intent: Intent) -> int:
        """Where the intent's rule stands (0: the first rule, which wins over all others)."""
        return self.order[intent.rule]

    def life(self, intent: Intent) -> bool:
        """A rule about a life at risk: it takes part whenever its keywords say so."""
        return self.order[intent.rule] <= self.order[self.t.life_rule]

    def urgent_sign(self, intent: Intent, sign: str) -> bool:
        return sign in self.rules[intent.rule].urgent_signs


@dataclass(frozen=True)
class Match:
    intent: Intent
    score: float
    emergency: bool = False


@dataclass(frozen=True)
class Routing:
    primary: Intent
    fired: tuple[Match, ...]
    contacts: tuple[str, ...]
    urgency: str
    reasons: tuple[Reason, ...]
    unsure: bool = False               # ask which worry it is instead of guessing
    candidates: tuple[str, ...] = ()   # worries it might be, best first


def evidence(policy: Policy, intents: dict[str, Intent], scores: dict[str, float],
             probs: dict[str, float]) -> dict[str, float]:
    """How strongly each (non-danger) worry is in the message: the model's probability plus the
    keyword score as a share of the intent's threshold (capped at ±1, weighed by keyword_weight)."""
    t = policy.t
    out = {iid: p for iid, p in probs.items() if iid in intents and intents[iid].spec.danger is None}
    for iid in intents.keys() - out.keys():
        if intents[iid].spec.danger is None:
            out[iid] = 0.0
    for iid, score in scores.items():   # only the few intents whose keywords matched
        intent = intents.get(iid)
        if intent is None or intent.spec.danger is not None:
            continue
        share = max(-1.0, min(1.0, score / intent.spec.threshold))
        if share > 0 and out[iid] < t.doubt:
            share *= t.doubted   # the examples (and counter-examples) say clearly it is not this worry
        out[iid] += t.keyword_weight * share
    return out


def score_intents(intents: dict[str, Intent], hits: Sequence[Hit],
                  reading: Reading | None = None) -> tuple[dict[str, float], list[Reason]]:
    """Keyword scores per intent.  A keyword counts where the message says it (not 課金はしていない,
    not もし暴れたら; for ``current_only`` intents not 昔は死にたかった)."""
    scores: dict[str, float] = {}
    reasons: list[Reason] = []
    for hit in hits:
        if hit.pattern.role != "keyword" or hit.pattern.owner not in intents:
            continue
        if reading is not None and hit.pattern.weight > 0:
            current = intents[hit.pattern.owner].spec.current_only
            why = [keyword_reading(span, reading, current) for span in hit.last[:MAX_SPANS]]
            if all(why):
                reasons.append(Reason("keyword", hit.pattern.owner, hit.pattern.text, f"not counted: {why[0]}", 0.0))
                continue
        scores[hit.pattern.owner] = scores.get(hit.pattern.owner, 0.0) + hit.pattern.weight
        reasons.append(Reason("keyword", hit.pattern.owner, hit.pattern.text,
                              "kana reading" if hit.via_reading else "", hit.pattern.weight))
    return scores, reasons


def danger_matches(policy: Policy, intents: dict[str, Intent], hits: Sequence[Hit], reading: Reading,
                   probs: dict[str, float] | None = None) -> tuple[dict[str, int], list[Reason], bool]:
    """Danger intents (``danger:``) whose acts are happening now (or soon), with how many acts say so.

    Two ways in: an act pattern of the intent file whose own sentence says now, or the learned
    model sure of the danger while the message as a whole is told as happening now.  The last
    value says whether the message holds any sign of danger at all (an act not ruled out by how
    it is said, or the model seeing one), for the 110/119 line of a reply that asks.
    """
    fired: dict[str, int] = {}
    reasons: list[Reason] = []
    cue = False
    for iid, p in (probs or {}).items():
        intent = intents.get(iid)
        if intent is None or intent.spec.danger is None or p < policy.t.danger_model:
            continue
        timing = message_timing(reading, intent.spec.danger.when)
        cue = cue or timing.meaning
        reasons.append(Reason("danger", iid, f"model {p:.2f}", timing.reason, 1.0 if timing.now else 0.0))
        if timing.now:
            fired[iid] = 1
    for hit in hits:
        if hit.pattern.role not in ("act", "inherent") or hit.pattern.owner not in intents:
            continue
        intent = intents[hit.pattern.owner]
        danger = intent.spec.danger
        when = danger.when if danger else "now"
        figurative = frozenset(danger.figurative) if danger else frozenset()
        other_sense = tuple(danger.other_sense) if danger else ()
        progressive = danger.progressive if danger else True
        inherent = hit.pattern.role == "inherent"
        for span in hit.last[:MAX_SPANS]:
            timings = [act_timing(s, reading, when, inherent, figurative, progressive=progressive,
                                  other_sense=other_sense, parts=hit.spans) for s in _predicates(hit, span, reading)]
            timing = next((t for t in timings if t.hard), None) or next((t for t in timings if t.now), timings[0])
            cue = cue or timing.meaning   # even a feared or past danger earns the 110/119 line of a question
            reasons.append(Reason("danger", intent.id, hit.pattern.text, timing.reason,
                                  1.0 if timing.now else 0.0))
            if timing.now:
                fired[intent.id] = fired.get(intent.id, 0) + 1
                break
    return fired, reasons, cue


_PREDICATE_POS = frozenset({"動詞", "形容詞"})


def _predicates(hit: Hit, last: tuple[int, int], reading: Reading) -> list[tuple[int, int]]:
    """The parts of a matched act that carry its time: those ending in a verb or adjective
    (倒れて + 反応: 倒れておる says when), else the last part."""
    spans = [*hit.spans[:-1], last] if len(hit.spans) > 1 else [last]
    tokens = reading.tokens
    verbs = [s for s in spans if tokens[s[1] - 1].pos in _PREDICATE_POS]
    return verbs or [last]


def _ages_now(facts: Facts) -> list:
    """Ages said of the person the message is about, as they are now: not the writer's, not a
    parent's, not the date of something past (中2から, 20代の頃)."""
    return [a for a in facts.ages if not (a.writer or a.parent or a.history)]


def _subject_age(facts: Facts) -> int | None:
    """How old the person the message is about is now: a school stage said as now (中２の次女) wins,
    else the oldest age said as now."""
    now = _ages_now(facts)
    stages = [a.low for a in now if a.stage]
    if stages:
        return min(stages)
    ages = [a.low for a in now]
    return max(ages) if ages else None


def _contacts_of(match: Match, facts: Facts, mentions: Sequence[str]) -> list[str]:
    spec = match.intent.spec
    contacts = list(spec.contacts)
    if spec.contacts_from_mentions:
        contacts = list(dict.fromkeys([*mentions, *contacts]))
    age = _subject_age(facts)
    if spec.older and age is not None and age > spec.older.over:
        contacts = list(spec.older.contacts)
    return contacts


def _eligible(intent: Intent, mentions: Sequence[str], words: int, facts: Facts | None = None) -> bool:
    spec = intent.spec
    return not (spec.contacts_from_mentions and not mentions) \
        and not (spec.short_only is not None and words > spec.short_only) \
        and (facts is None or _age_fits(spec.ages, facts))


def _age_fits(ages: tuple[int, int] | None, facts: Facts) -> bool:
    """The person the message is about can be of this age: a school stage said as now (中２の次女)
    fits; otherwise a number of years said as now (２３歳になる娘) decides; dates of the past
    (中2から, 20代の頃) and the writer's or a parent's age say nothing."""
    if ages is None:
        return True
    lo, hi = ages
    now = _ages_now(facts)
    if any(a.stage and a.low <= hi and a.high >= lo for a in now):
        return True
    years = [a for a in now if not a.stage]
    return not years or any(a.low <= hi and a.high >= lo for a in years)


def _weak_best(policy: Policy, intents: dict[str, Intent], fallback: Intent, evidence: dict[str, float],
               mentions: Sequence[str], words: int, facts: Facts) -> Match | None:
    """The best worry below ``present``, if it is close enough to lead a message nothing else claims."""
    candidates = [(e, i) for i, e in evidence.items()
                  if e >= policy.t.weak and i != fallback.id and not intents[i].spec.modifier
                  and _eligible(intents[i], mentions, words, facts)]
    if not candidates:
        return None
    score, iid = max(candidates)
    return Match(intents[iid], score)


def _ordered_contacts(primary: Match, others: Sequence[Match], facts: Facts, mentions: Sequence[str],
                      most: int) -> tuple[str, ...]:
    """Primary's first window, then each other worry's first window, then the rest (at most ``most``)."""
    lists = [_contacts_of(m, facts, mentions) for m in (primary, *others)]
    ordered: list[str] = []
    if primary.emergency:
        ordered += [c for c in lists[0] if c in EMERGENCY_IDS]
    ordered += lists[0][:1]
    ordered += [lst[0] for lst in lists[1:] if lst]
    ordered += [c for lst in lists for c in lst]
    return tuple(dict.fromkeys(ordered))[:most]


def route(policy: Policy, intents: dict[str, Intent], fallback: Intent, evidence: dict[str, float],
          emergencies: dict[str, int], hits: Sequence[Hit], cues: Cues, facts: Facts, tokens: Sequence[Token],
          forms: TokenForms, mentions: Sequence[str], today: date, recent_days: int, law_running: bool,
          scores: dict[str, float] | None = None) -> Routing:
    t = policy.t
    words = sum(1 for tok in tokens if tok.key is not None)
    reasons: list[Reason] = []
    present = {iid: e for iid, e in evidence.items()
               if e >= t.present and iid != fallback.id and _eligible(intents[iid], mentions, words, facts)}
    worry = [iid for iid in present if not intents[iid].spec.modifier]
    emergencies = dict(emergencies)
    for iid in [i for i in emergencies if intents[i].spec.generic and worry]:
        # a cry for help that names its worry (助けてください、業者に…) is that worry
        del emergencies[iid]
        reasons.append(Reason("danger", iid, "yields", f"the message names its worry: {worry[0]}"))
    fired = [Match(intents[i], float(strength), True) for i, strength in emergencies.items()]
    best = max((e for iid, e in present.items() if not intents[iid].spec.modifier), default=0.0)
    for iid, e in present.items():
        if iid not in emergencies:
            fired.append(Match(intents[iid], e))
    ids = {m.intent.id for m in fired}
    said = {iid for iid, s in (scores or {}).items() if s >= intents[iid].spec.threshold}

    def minor(m: Match) -> bool:
        """A worry too weak beside the best to take part in "the earliest rule leads" (a word in passing);
        despair said in words that count (current, not negated) always takes part."""
        if policy.life(m.intent) and m.intent.id in said:
            return False
        return m.score < min(t.strong, t.lead_share * best)

    fired.sort(key=lambda m: (not m.emergency, m.intent.spec.modifier, minor(m),
                              bool(ids & set(m.intent.spec.yields_to)),
                              policy.rank(m.intent), m.intent.spec.generic, -m.score))
    weak = False
    if not fired or fired[0].intent.spec.modifier:
        best = _weak_best(policy, intents, fallback, evidence, mentions, words, facts)
        weak = True
        if best:
            fired.insert(0, best)
            reasons.append(Reason("fallback", best.intent.id, "weak match", f"score {best.score:.1f}"))
        elif not fired:
            fired = [Match(fallback, 0.0)]
            reasons.append(Reason("fallback", fallback.id, "no intent matched"))
    primary = fired[0]
    contacts = _ordered_contacts(primary, fired[1:], facts, mentions, t.max_contacts)
    reasons.append(Reason("contacts", primary.intent.id, " > ".join(contacts),
                          f"rule {primary.intent.rule}: the earliest rule of intents/_policy.yml leads"))

    urgency = _urgency(policy, primary, fired, hits, cues, facts, tokens, forms, today, recent_days, law_running,
                       reasons)
    ranked = [iid for iid, e in sorted(evidence.items(), key=lambda kv: -kv[1])
              if e >= t.weak and iid != fallback.id and not intents[iid].spec.modifier
              and _eligible(intents[iid], mentions, words, facts)]
    unsure = False
    if not primary.emergency and urgency != "info":
        if weak:
            unsure, why = True, "nothing clearly matched"
        else:
            lead = evidence.get(primary.intent.id, primary.score)
            first = contacts[0] if contacts else None
            rivals = [i for i in ranked if i != primary.intent.id and evidence[i] >= lead - t.close
                      and (intents[i].spec.contacts or [None])[0] != first]
            unsure, why = lead < t.confident and bool(rivals), f"{rivals[0]} is as likely" if rivals else ""
        if unsure:
            reasons.append(Reason("unsure", primary.intent.id, "ask which worry it is", why))
    candidates = [primary.intent.id] if primary.intent is not fallback and not primary.emergency else []
    candidates += [i for i in ranked if i not in candidates]
    return Routing(primary.intent, tuple(fired), tuple(contacts), urgency, tuple(reasons), unsure,
                   tuple(candidates[:t.candidates]))


def _urgency(policy: Policy, primary: Match, fired: Sequence[Match], hits: Sequence[Hit], cues: Cues, facts: Facts,
             tokens: Sequence[Token], forms: TokenForms, today: date, recent_days: int, law_running: bool,
             reasons: list[Reason]) -> str:
    if primary.emergency:
        return "emergency"
    spec = primary.intent.spec
    level = URGENCY_ORDER[spec.urgency]
    why = f"default of {primary.intent.id}"
    for m in fired[1:]:
        if not m.emergency and URGENCY_ORDER[m.intent.spec.urgency] > level and m.intent.spec.urgency != "info":
            level, why = URGENCY_ORDER[m.intent.spec.urgency], f"default of {m.intent.id}"
    if level < URGENCY_ORDER["urgent"] and level > URGENCY_ORDER["info"]:
        bump = _urgent_reason(policy, primary, fired, hits, cues, facts, today, recent_days, law_running)
        if bump:
            level, why = URGENCY_ORDER["urgent"], bump
    if level == URGENCY_ORDER["normal"] and _only_asking(cues, facts, tokens, forms):
        level, why = URGENCY_ORDER["info"], "a question without a situation"
    if cues.any("status_update") and not cues.any("question") and level < URGENCY_ORDER["urgent"]:
        level, why = URGENCY_ORDER["info"], "a status update"
    urgency = next(k for k, v in URGENCY_ORDER.items() if v == level)
    reasons.append(Reason("urgency", primary.intent.id, urgency, why))
    return urgency


def _urgent_reason(policy: Policy, primary: Match, fired: Sequence[Match], hits: Sequence[Hit], cues: Cues,
                   facts: Facts, today: date, recent_days: int, law_running: bool) -> str | None:
    spec = primary.intent.spec
    fired_ids = {m.intent.id for m in fired}
    for hit in hits:
        if hit.pattern.role == "urgent" and hit.pattern.owner in fired_ids:
            return f"urgent sign for {hit.pattern.owner}: {hit.pattern.text}"
    if law_running:
        return "a cooling-off period is running"
    if spec.real_deadlines:
        if cues.any("deadline"):
            return "a deadline is mentioned"
        soon = [d for d in facts.dates if today < d.date <= today + timedelta(days=3)]
        if soon:
            return f"something happens soon ({soon[0].text})"
        if policy.urgent_sign(primary.intent, "recent_loss") and cues.any("loss"):
            # not a date told apart from the signing (「今日は相談です。母が契約しました」)
            recent = [d for d in facts.dates if 0 <= (today - d.date).days <= recent_days and d.contract is not False]
            if recent:
                return f"money or a contract {recent[0].text}"
    if cues.any("harassment") and policy.urgent_sign(primary.intent, "harassment"):
        return "ongoing harassment"
    return None


def _only_asking(cues: Cues, facts: Facts, tokens: Sequence[Token], forms: TokenForms) -> bool:
    """A question about a service with no situation behind it (-> info)."""
    if not is_question(tokens, cues, forms):
        return False
    return not (cues.any("situation") or facts.amounts or facts.dates or cues.any("loss"))
