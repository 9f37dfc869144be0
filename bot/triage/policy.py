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
from .signals import Cues, TokenForms, act_timing, is_question
from .tokenize import Token

#: Most windows a reply lists (the first screen must say what to do now).
MAX_CONTACTS = 5
EMERGENCY_IDS = ("emergency_110", "emergency_119")
#: With no intent over its threshold, the best one still leads if it reaches this share of it.
WEAK_SHARE = 0.66


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


def score_intents(intents: dict[str, Intent], hits: Sequence[Hit]) -> tuple[dict[str, float], list[Reason]]:
    scores: dict[str, float] = {}
    reasons: list[Reason] = []
    for hit in hits:
        if hit.pattern.role != "keyword" or hit.pattern.owner not in intents:
            continue
        scores[hit.pattern.owner] = scores.get(hit.pattern.owner, 0.0) + hit.pattern.weight
        reasons.append(Reason("keyword", hit.pattern.owner, hit.pattern.text,
                              "kana reading" if hit.via_reading else "", hit.pattern.weight))
    return scores, reasons


def danger_matches(intents: dict[str, Intent], hits: Sequence[Hit], tokens: Sequence[Token], cues: Cues,
                   forms: TokenForms) -> tuple[dict[str, int], list[Reason]]:
    """Rule-1 intents whose acts are happening now (or soon), with how many acts say so."""
    fired: dict[str, int] = {}
    reasons: list[Reason] = []
    for hit in hits:
        if hit.pattern.role not in ("act", "inherent") or hit.pattern.owner not in intents:
            continue
        intent = intents[hit.pattern.owner]
        when = intent.spec.danger.when if intent.spec.danger else "now"
        figurative = frozenset(intent.spec.danger.figurative) if intent.spec.danger else frozenset()
        for span in hit.last:
            timing = act_timing(span, tokens, cues, forms, when, hit.pattern.role == "inherent", figurative,
                                progressive=intent.spec.danger.progressive if intent.spec.danger else True)
            reasons.append(Reason("danger", intent.id, hit.pattern.text, timing.reason,
                                  1.0 if timing.now else 0.0))
            if timing.now:
                fired[intent.id] = fired.get(intent.id, 0) + 1
                break
    return fired, reasons


def _subject_age(facts: Facts) -> int | None:
    ages = [a.low for a in facts.ages if not a.writer and not a.parent]
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


def _weak_best(intents: dict[str, Intent], scores: dict[str, float], mentions: Sequence[str],
               words: int) -> Match | None:
    """The best intent below its threshold, if it is close enough to lead a message nothing else claims."""
    candidates = [(s, i) for i, s in scores.items()
                  if s > 0 and intents[i].spec.danger is None and not intents[i].spec.modifier
                  and not (intents[i].spec.contacts_from_mentions and not mentions)
                  and not (intents[i].spec.short_only is not None and words > intents[i].spec.short_only)
                  and s >= intents[i].spec.threshold * WEAK_SHARE]
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


def route(intents: dict[str, Intent], fallback: Intent, scores: dict[str, float], emergencies: dict[str, int],
          hits: Sequence[Hit], cues: Cues, facts: Facts, tokens: Sequence[Token], forms: TokenForms,
          mentions: Sequence[str], today: date, recent_days: int, law_running: bool) -> Routing:
    words = sum(1 for t in tokens if t.key is not None)
    reasons: list[Reason] = []
    fired = [Match(intents[i], float(strength), True) for i, strength in emergencies.items()]
    for iid, score in scores.items():
        intent = intents[iid]
        if iid in emergencies or intent.spec.danger is not None:
            continue
        if intent.spec.contacts_from_mentions and not mentions:
            continue
        if intent.spec.short_only is not None and words > intent.spec.short_only:
            continue
        if score >= intent.spec.threshold:
            fired.append(Match(intent, score))
    ids = {m.intent.id for m in fired}
    fired.sort(key=lambda m: (not m.emergency, m.intent.spec.modifier, bool(ids & set(m.intent.spec.yields_to)),
                              m.intent.rule, m.intent.spec.generic, -m.score))
    if not fired or fired[0].intent.spec.modifier:
        best = _weak_best(intents, scores, mentions, words)
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
    return Routing(primary.intent, tuple(fired), tuple(contacts), urgency, tuple(reasons))


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
            recent = [d for d in facts.dates if 0 <= (today - d.date).days <= recent_days]
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
