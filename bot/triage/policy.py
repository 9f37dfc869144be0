"""POLICY.md as code: which intent leads, which windows, how urgent.

Input: the intents that matched (with scores), the timing cues and the facts.
Output: the primary intent, the ordered contact ids, the urgency, and the
reasons.  The rules are generic; which words trigger them lives in the intent
files and ``intents/_signals.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Sequence

from .decision import Reason
from .facts import Facts
from .intents import URGENCY_ORDER, Intent
from .matcher import Hit
from .signals import Cues, Reading, TokenForms, act_timing, is_question, keyword_reading, message_timing
from .tokenize import Token

#: Most windows a reply lists (the first screen must say what to do now).
MAX_CONTACTS = 5
EMERGENCY_IDS = ("emergency_110", "emergency_119")
#: How much a keyword score at its intent's threshold adds to the model's probability
#: (keywords are strong evidence, examples the main teacher).
KEYWORD_WEIGHT = 0.5
#: Evidence (model probability + keyword share) from which a worry counts as present.
PRESENT = 0.5
#: A present worry takes part in "lowest rule leads" only with at least this share of the best evidence;
#: a passing mention in a long story does not decide the whole message.
LEAD_SHARE = 0.75
#: Worries of this rule or lower (a life at risk: despair) lead whenever their keywords say so,
#: however much else the message says (POLICY rule 2 comes before every worry about money or family).
LIFE_RULE = 2
#: Below this model probability the examples clearly disagree with the keywords (a counter-example
#: taught it): the keywords then count only DOUBTED of their weight.
DOUBT = 0.06
DOUBTED = 0.5
#: Evidence from which a worry takes part in "lowest rule leads" whatever the others score
#: (both the examples and the keywords say it: a real second worry, not a word in passing).
STRONG = 0.8
#: The leading worry is clear from this much evidence; below it a close second worry with other
#: windows makes tsunagu ask (quick replies) instead of guessing.
CONFIDENT = 0.9
#: How close (in evidence) that second worry must be.
CLOSE = 0.1
#: Most candidate worries kept for the question.
CANDIDATES = 4
#: With nothing present, the best worry still leads from this much evidence (else: not understood).
WEAK = 0.3


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


def evidence(intents: dict[str, Intent], scores: dict[str, float], probs: dict[str, float]) -> dict[str, float]:
    """How strongly each (non-danger) worry is in the message: the model's probability plus the
    keyword score as a share of the intent's threshold (capped at ±1, weighed by KEYWORD_WEIGHT)."""
    out = {iid: p for iid, p in probs.items() if iid in intents and intents[iid].spec.danger is None}
    for iid in intents.keys() - out.keys():
        if intents[iid].spec.danger is None:
            out[iid] = 0.0
    for iid, score in scores.items():   # only the few intents whose keywords matched
        intent = intents.get(iid)
        if intent is None or intent.spec.danger is not None:
            continue
        share = max(-1.0, min(1.0, score / intent.spec.threshold))
        if share > 0 and out[iid] < DOUBT:
            share *= DOUBTED   # the examples (and counter-examples) say clearly it is not this worry
        out[iid] += KEYWORD_WEIGHT * share
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


#: Most places one keyword or act is read at (a crafted message repeating one word a thousand
#: times costs no more than this many readings).
MAX_SPANS = 64
#: The model's probability of a danger from which it counts as an act, when the message is told as now.
DANGER_MODEL = 0.3


def danger_matches(intents: dict[str, Intent], hits: Sequence[Hit], reading: Reading,
                   probs: dict[str, float] | None = None) -> tuple[dict[str, int], list[Reason], bool]:
    """Rule-1 intents whose acts are happening now (or soon), with how many acts say so.

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
        if intent is None or intent.spec.danger is None or p < DANGER_MODEL:
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


def _weak_best(intents: dict[str, Intent], fallback: Intent, evidence: dict[str, float], mentions: Sequence[str],
               words: int, facts: Facts) -> Match | None:
    """The best worry below PRESENT, if it is close enough to lead a message nothing else claims."""
    candidates = [(e, i) for i, e in evidence.items()
                  if e >= WEAK and i != fallback.id and not intents[i].spec.modifier
                  and _eligible(intents[i], mentions, words, facts)]
    if not candidates:
        return None
    score, iid = max(candidates)
    return Match(intents[iid], score)


def _ordered_contacts(primary: Match, others: Sequence[Match], facts: Facts, mentions: Sequence[str]) -> tuple[str, ...]:
    """Primary's first window, then each other worry's first window, then the rest (at most MAX_CONTACTS)."""
    lists = [_contacts_of(m, facts, mentions) for m in (primary, *others)]
    ordered: list[str] = []
    if primary.emergency:
        ordered += [c for c in lists[0] if c in EMERGENCY_IDS]
    ordered += lists[0][:1]
    ordered += [lst[0] for lst in lists[1:] if lst]
    ordered += [c for lst in lists for c in lst]
    return tuple(dict.fromkeys(ordered))[:MAX_CONTACTS]


def route(intents: dict[str, Intent], fallback: Intent, evidence: dict[str, float], emergencies: dict[str, int],
          hits: Sequence[Hit], cues: Cues, facts: Facts, tokens: Sequence[Token], forms: TokenForms,
          mentions: Sequence[str], today: date, recent_days: int, law_running: bool,
          scores: dict[str, float] | None = None) -> Routing:
    words = sum(1 for t in tokens if t.key is not None)
    reasons: list[Reason] = []
    present = {iid: e for iid, e in evidence.items()
               if e >= PRESENT and iid != fallback.id and _eligible(intents[iid], mentions, words, facts)}
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
        """A worry too weak beside the best to take part in "lowest rule leads" (a word in passing);
        despair said in words that count (current, not negated) always takes part."""
        if m.intent.rule <= LIFE_RULE and m.intent.id in said:
            return False
        return m.score < min(STRONG, LEAD_SHARE * best)

    fired.sort(key=lambda m: (not m.emergency, m.intent.spec.modifier, minor(m),
                              bool(ids & set(m.intent.spec.yields_to)),
                              m.intent.rule, m.intent.spec.generic, -m.score))
    weak = False
    if not fired or fired[0].intent.spec.modifier:
        best = _weak_best(intents, fallback, evidence, mentions, words, facts)
        weak = True
        if best:
            fired.insert(0, best)
            reasons.append(Reason("fallback", best.intent.id, "weak match", f"score {best.score:.1f}"))
        elif not fired:
            fired = [Match(fallback, 0.0)]
            reasons.append(Reason("fallback", fallback.id, "no intent matched"))
    primary = fired[0]
    contacts = _ordered_contacts(primary, fired[1:], facts, mentions)
    reasons.append(Reason("contacts", primary.intent.id, " > ".join(contacts),
                          f"rule {primary.intent.rule}: lowest matching rule leads"))

    urgency = _urgency(primary, fired, hits, cues, facts, tokens, forms, today, recent_days, law_running, reasons)
    ranked = [iid for iid, e in sorted(evidence.items(), key=lambda kv: -kv[1])
              if e >= WEAK and iid != fallback.id and not intents[iid].spec.modifier
              and _eligible(intents[iid], mentions, words, facts)]
    unsure = False
    if not primary.emergency and urgency != "info":
        if weak:
            unsure, why = True, "nothing clearly matched"
        else:
            lead = evidence.get(primary.intent.id, primary.score)
            first = contacts[0] if contacts else None
            rivals = [i for i in ranked if i != primary.intent.id and evidence[i] >= lead - CLOSE
                      and (intents[i].spec.contacts or [None])[0] != first]
            unsure, why = lead < CONFIDENT and bool(rivals), f"{rivals[0]} is as likely" if rivals else ""
        if unsure:
            reasons.append(Reason("unsure", primary.intent.id, "ask which worry it is", why))
    candidates = [primary.intent.id] if primary.intent is not fallback and not primary.emergency else []
    candidates += [i for i in ranked if i not in candidates]
    return Routing(primary.intent, tuple(fired), tuple(contacts), urgency, tuple(reasons), unsure,
                   tuple(candidates[:CANDIDATES]))


def _urgency(primary: Match, fired: Sequence[Match], hits: Sequence[Hit], cues: Cues, facts: Facts,
             tokens: Sequence[Token], forms: TokenForms, today: date, recent_days: int, law_running: bool,
             reasons: list[Reason]) -> str:
    if primary.emergency:
        return "emergency"
    spec = primary.intent.spec
    level = URGENCY_ORDER[spec.urgency]
    why = f"default of {primary.intent.id}"
    if spec.rule == 0:
        reasons.append(Reason("urgency", primary.intent.id, spec.urgency, "a note about the message itself"))
        return spec.urgency
    for m in fired[1:]:
        if not m.emergency and URGENCY_ORDER[m.intent.spec.urgency] > level and m.intent.spec.urgency != "info":
            level, why = URGENCY_ORDER[m.intent.spec.urgency], f"default of {m.intent.id}"
    if level < URGENCY_ORDER["urgent"] and level > URGENCY_ORDER["info"]:
        bump = _urgent_reason(primary, fired, hits, cues, facts, today, recent_days, law_running)
        if bump:
            level, why = URGENCY_ORDER["urgent"], bump
    if level == URGENCY_ORDER["normal"] and _only_asking(cues, facts, tokens, forms):
        level, why = URGENCY_ORDER["info"], "a question without a situation"
    if cues.any("status_update") and not cues.any("question") and level < URGENCY_ORDER["urgent"]:
        level, why = URGENCY_ORDER["info"], "a status update"
    urgency = next(k for k, v in URGENCY_ORDER.items() if v == level)
    reasons.append(Reason("urgency", primary.intent.id, urgency, why))
    return urgency


def _urgent_reason(primary: Match, fired: Sequence[Match], hits: Sequence[Hit], cues: Cues, facts: Facts,
                   today: date, recent_days: int, law_running: bool) -> str | None:
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
        if spec.rule in (3, 4, 5, 6) and cues.any("loss"):
            # not a date told apart from the signing (「今日は相談です。母が契約しました」)
            recent = [d for d in facts.dates if 0 <= (today - d.date).days <= recent_days and d.contract is not False]
            if recent:
                return f"money or a contract {recent[0].text}"
    if cues.any("harassment") and spec.rule in (3, 4, 5, 6, 7):
        return "ongoing harassment"
    return None


def _only_asking(cues: Cues, facts: Facts, tokens: Sequence[Token], forms: TokenForms) -> bool:
    """A question about a service with no situation behind it (-> info)."""
    if not is_question(tokens, cues, forms):
        return False
    return not (cues.any("situation") or facts.amounts or facts.dates or cues.any("loss"))
