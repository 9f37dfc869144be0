"""The triage core: text (+ what the session remembers) in, a decision out.

Pure: no files, no network, no clock.  Everything it knows comes in a
:class:`Knowledge` built by :mod:`bot.triage.loader`; the time comes as an argument.
"""

from __future__ import annotations

import copy
import re
from functools import cached_property
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Sequence

from ..issues import Issue
from .consumer_law import LawBook, LawPoint, contract_date
from .decision import Decision, Reason, Trace
from .directory import ContactSpec, Directory, Window
from .extract import extract
from .extract.area import Gazetteer, find_area
from .extract.people import DEFAULT_LEXICON, PeopleLexicon
from .facts import Area, Facts
from .features import MODEL_CHARS, featurize
from .intents import Intent
from .mask import Masker
from .matcher import LITERAL, Hit, Pattern, Phrase, PhraseIndex, split_parts
from .model import IntentModel, Sample, train
from .referral import ReferralBook, ReferralSheet
from .render import Replies
from .signals import KEYWORD_LISTS, SignalSpec, TokenForms, collect_cues, read
from .tokenize import Tokenizer
from .topics import Topic, TopicsSpec
from .text import clean, has_words
from . import policy
from .policy import Policy

#: Keywords about what was extracted rather than words: ``$amount: 1`` scores when a sum of money is named.
FACT_KEYWORDS = {
    "$amount": lambda facts: bool(facts.amounts),
    "$big_amount": lambda facts: any(a.yen >= 100_000 for a in facts.amounts),
    "$young": lambda facts: any(a.high < 30 and not (a.writer or a.parent) for a in facts.ages),
    "$over49": lambda facts: any(a.low > 49 and not (a.writer or a.parent) for a in facts.ages),
}
#: Memoised (contacts, area, minute) -> windows entries before the cache is emptied.
WINDOW_CACHE = 4096


@dataclass
class Knowledge:
    """Everything the bot knows, loaded and validated (see :mod:`bot.triage.loader`)."""

    intents: dict[str, Intent]
    fallback_id: str
    empty_id: str
    signals: SignalSpec
    tokenizer: Tokenizer
    gazetteer: Gazetteer
    directory: Directory    # the windows, their numbers and hours (responses/directory/, contacts.yml)
    law: LawBook            # consumer-law points (responses/consumer_law.yml)
    replies: Replies        # the reply templates (responses/replies.yml, responses/replies/)
    windows: dict[str, list[str]]  # contact id -> names people use for it
    policy: Policy          # the routing rules and thresholds (intents/_policy.yml)
    masker: Masker          # what identifies a person, masked before words reach staff (intents/_lexicon/mask.yml)
    topics: TopicsSpec | None = None  # quick-reply topics when unsure (intents/_topics.yml)
    people: PeopleLexicon = DEFAULT_LEXICON  # words for people and signing (built in + intents/_lexicon/people.yml)
    referral: ReferralBook | None = None  # the referral sheet (responses/referral.yml, intents/_lexicon/referral.yml)
    version: str = ""


_PLACE_HINTS = re.compile(r"[都道府県市区町村郡〒]|\d{3}\s*[-ー－‐―−]?\s*\d{4}")


def _may_name_a_place(text: str, tokens: Sequence) -> bool:
    """Cheap gate before the place-name scan: a place suffix, a postal code or a proper noun."""
    return bool(_PLACE_HINTS.search(text)) or any(t.pos2 == "固有名詞" for t in tokens)


class Triage:
    """Compiled knowledge, ready to decide.  Build once; call :meth:`decide` many times."""

    def __init__(self, knowledge: Knowledge, model: IntentModel | None = None):
        """``model``: one already trained on these very intents (the loader keeps a copy); else trained here."""
        self._k = knowledge
        self.tokenizer = knowledge.tokenizer
        self.intents = knowledge.intents
        self.fallback = knowledge.intents[knowledge.fallback_id]
        self.empty = knowledge.intents[knowledge.empty_id]
        self.index = PhraseIndex()
        self.forms = self._token_forms(knowledge.signals)
        self.problems: list[tuple[str, str, str]] = []  # (owner, text, problem) for `check`
        self._window_cache: dict[tuple, tuple] = {}
        self.fact_keywords: list[tuple[str, str, float]] = []  # ($amount …) scored from the extracted facts
        self._compile()
        self.model: IntentModel = model if model is not None else train(self.samples)

    # -- compile -------------------------------------------------------------------
    @staticmethod
    def _token_forms(s: SignalSpec) -> TokenForms:
        f = frozenset
        t = lambda items: tuple(dict.fromkeys(items))  # noqa: E731  (prefixes, in file order)
        return TokenForms(f(s.progressive_aux), f(s.progressive_verbs), f(s.past_aux), t(s.figurative),
                          t(s.hypothetical), f(s.skip_aux), f(s.question_marks), t(s.instruction))

    def _add(self, owner: str, text: str, weight: float, role: str) -> None:
        if str(text).startswith("$"):
            if str(text) not in FACT_KEYWORDS:
                self.problems.append((owner, str(text), "is not a known fact keyword (" +
                                      ", ".join(FACT_KEYWORDS) + ")"))
            elif role == "keyword":
                self.fact_keywords.append((owner, str(text), float(weight)))
            return
        parts: list[tuple[Phrase, ...]] = []
        readings: dict[Phrase, set[str]] = {}
        for alternatives in split_parts(str(text)):
            part: list[Phrase] = []
            for alt in alternatives:
                if alt.startswith("=") and len(alt) > 1:
                    part.append((LITERAL, clean(alt[1:])))
                    continue
                keys = self.tokenizer.keys(alt)
                if not keys:
                    self.problems.append((owner, str(text), f"{alt!r} has no words Sudachi can match "
                                          "(only particles or symbols? write it as =literal)"))
                    continue
                for variant in dict.fromkeys((keys, self.tokenizer.fine_keys(alt))):
                    part.append(variant)
                    readings.setdefault(variant, set()).update(self.tokenizer.readings(alt))
            if not part:
                return
            parts.append(tuple(dict.fromkeys(part)))
        if parts:
            ordered = "+" in str(text) and "&" not in str(text)
            self.index.add(Pattern(owner, str(text), tuple(parts), float(weight), role, ordered), readings)

    def _compile(self) -> None:
        for intent in self.intents.values():
            spec = intent.spec
            for text, weight in spec.keywords.items():
                self._add(intent.id, text, weight, "keyword")
            for text in spec.urgent_when:
                self._add(intent.id, text, 0.0, "urgent")
            if spec.danger:
                for text in spec.danger.acts:
                    self._add(intent.id, text, 0.0, "act")
                for text in spec.danger.inherent:
                    self._add(intent.id, text, 0.0, "inherent")
        for name in KEYWORD_LISTS:
            for text in getattr(self._k.signals, name):
                self._add(name, text, 0.0, "signal")
        for contact_id, names in self._k.windows.items():
            for text in names:
                self._add(contact_id, text, 0.0, "mention")
        self.index.prepare()

    def with_model(self, model: IntentModel) -> "Triage":
        """The same knowledge deciding with another model (cross-validation, first-look figures)."""
        other = copy.copy(self)
        other.model = model
        other._window_cache = {}
        return other

    def features(self, text: str):
        """The model's feature bag of a raw text (cleaned and tokenized as a message would be)."""
        cleaned = clean(text)
        return featurize(self.tokenizer.tokenize(cleaned), cleaned)

    def probabilities(self, text: str) -> dict[str, float]:
        """The model's probability of each intent for a raw text."""
        return self.model.probabilities(self.features(text))

    @cached_property
    def samples(self) -> list[Sample]:
        """:meth:`make_samples`, made when first needed (a kept model needs none) and then kept."""
        return self.make_samples()

    def make_samples(self) -> list[Sample]:
        """Every intent's examples (and counter-examples, as negatives) as model input."""
        out: list[Sample] = []
        for intent in self.intents.values():
            if intent.id == self._k.empty_id:
                continue
            for text in intent.spec.examples:
                out.append(Sample(self.features(text), intent.id, False, text))
            for text in intent.spec.counter_examples:
                out.append(Sample(self.features(text), intent.id, True, text))
        return out

    # -- what the edges may ask of the knowledge ---------------------------------------
    def topic(self, label: str) -> Topic | None:
        """The topic a family tapped (or typed) by its button label."""
        return self._k.topics.by_label(label) if self._k.topics else None

    def find_area(self, text: str) -> Area | None:
        """The place named in a raw text (a LINE location's address, a staff command, /try's area box)."""
        return find_area(clean(text), self._k.gazetteer)

    def contact(self, contact_id: str) -> ContactSpec:
        """A window's label and explanation, for text written to staff and admins."""
        return self._k.directory.contact(contact_id)

    def windows(self, contact_id: str, area: Area | None, now: datetime) -> list[Window]:
        """The windows of a contact for an area at a time (local first, then the fallbacks)."""
        return self._k.directory.windows(contact_id, area, now)

    def directory_issues(self) -> list[Issue]:
        """What `tsunagu check` reports about the directory (numbers, hours, unused rows)."""
        groups = self._k.directory.groups
        extra = groups.intent_issues(self.intents) if groups is not None else []
        return sorted(self._k.directory.validate() + extra,
                      key=lambda i: (i.severity != "error", i.file, i.line, i.message))

    def consumer_groups(self, area: Area | None, intent: str | None = None, urgency: str = "normal") -> tuple:
        """The 適格消費者団体 to offer for ``area`` (:class:`~bot.triage.consumer_groups.GroupLink`, best first).

        With ``intent``: only for a worry about a business's dealings, never an emergency (what a
        :class:`Decision` carries as ``groups``); without: for the area alone (Slack's area lookup)."""
        groups = self._k.directory.groups
        if groups is None:
            return ()
        return groups.for_area(area) if intent is None else groups.for_case(intent, urgency, area)

    def read(self, text: str) -> Trace:
        """The cleaned text, tokens and matched patterns of ``text``, for explaining a decision that
        carries none (an answer to a tapped topic, a message without words)."""
        cleaned = clean(text)
        tokens = self.tokenizer.tokenize(cleaned) if cleaned.strip() else []
        return Trace(cleaned, tuple(tokens), tuple(self.index.hits(tokens, cleaned)))

    def mask(self, text: str) -> str:
        """The text with what identifies a person replaced by ●● (before it leaves the conversation)."""
        return self._k.masker.mask(text, self.tokenizer)

    # -- the referral sheet ----------------------------------------------------------
    def referral(self, text: str, *, now: datetime, area: Area | None = None) -> ReferralSheet:
        """The つなぎシート of ``text``: its decision's facts in the order a consumer center asks them."""
        return self.refer(self.decide(text, now=now, area=area), now=now)

    def refer(self, decision: Decision, *, now: datetime) -> ReferralSheet:
        """The つなぎシート of a decision made from a text (:meth:`decide`).  Raises LookupError when the
        knowledge has no sheet files."""
        if self._k.referral is None:
            raise LookupError("no referral sheet: responses/referral.yml or intents/_lexicon/referral.yml is missing")
        cleaned = decision.trace.cleaned if decision.trace else ""
        return self._k.referral.sheet(decision, cleaned, self.mask, now.date())

    # -- decide --------------------------------------------------------------------
    def decide(self, text: str, *, now: datetime, area: Area | None = None) -> Decision:
        """Triage one message.  ``area`` is what the session remembers, if anything."""
        cleaned = clean(text)
        today = now.date()
        if not has_words(cleaned):
            return self._finish(self.empty, "info", tuple(self.empty.spec.contacts),
                                Facts(area=area), (), {}, (Reason("fallback", self.empty.id, "no words"),),
                                now, law=())
        tokens = self.tokenizer.tokenize(cleaned)
        hits = self.index.hits(tokens, cleaned)
        cues = collect_cues(hits, tokens)
        reading = read(tokens, cues, self.forms)
        facts = extract(cleaned, today, self._k.gazetteer, self._k.people, look_for_area=_may_name_a_place(cleaned, tokens))
        if facts.area is None and area is not None:
            facts = replace(facts, area=area)
        scores, reasons = policy.score_intents(self.intents, hits, reading)
        for owner, name, weight in self.fact_keywords:
            if FACT_KEYWORDS[name](facts):
                scores[owner] = scores.get(owner, 0.0) + weight
                reasons.append(Reason("keyword", owner, name, "fact", weight))
        probs = self.model.probabilities(featurize(tokens, cleaned))
        evidence = policy.evidence(self._k.policy, self.intents, scores, probs)
        emergencies, danger_reasons, danger_cue = policy.danger_matches(self._k.policy, self.intents, hits, reading,
                                                                        probs)
        mentions = self._mentions(hits)
        law_ids = self._law_ids(evidence, emergencies, facts)
        law_points = self._law(law_ids, facts, today)
        routing = policy.route(self._k.policy, self.intents, self.fallback, evidence, emergencies, hits, cues, facts,
                               tokens, self.forms, mentions, today, self._k.signals.recent_days,
                               any(p.running for p in law_points), scores)
        law_points = tuple(p for p in law_points if p.id in routing.primary.spec.law) or tuple(law_points)
        if routing.primary.spec.danger is not None or routing.urgency == "info":
            law_points = ()
        # not sure, or not understood at all: ask with topic buttons rather than leave the family with nothing to tap
        not_understood = routing.primary is self.fallback and routing.urgency != "emergency"
        topics = self._k.topics.offer(routing.candidates) if (routing.unsure or not_understood) and self._k.topics else ()
        return self._finish(routing.primary, routing.urgency, routing.contacts, facts,
                            tuple(m.intent.id for m in routing.fired), scores,
                            tuple(reasons) + tuple(danger_reasons) + routing.reasons, now, law=law_points,
                            unsure=bool(topics), topics=topics, danger_cue=danger_cue,
                            probabilities=probs, evidence=evidence, analysed=min(len(cleaned), MODEL_CHARS),
                            length=len(cleaned), trace=Trace(cleaned, tuple(tokens), tuple(hits)))

    def answer_topic(self, intent_id: str, area: Area | None, *, now: datetime) -> Decision:
        """Answer the worry a family picked from the topics offered when tsunagu was unsure."""
        intent = self.intents.get(intent_id, self.fallback)
        facts = Facts(area=area)
        law = () if intent.spec.danger is not None else self._law(list(intent.spec.law), facts, now.date())
        return self._finish(intent, intent.spec.urgency if intent.spec.urgency != "info" else "normal",
                            tuple(intent.spec.contacts), facts, (intent.id,), {},
                            (Reason("topic", intent.id, "picked by the family", "after a question"),),
                            now, law=law)

    def revisit(self, intent_id: str, contacts: Sequence[str], urgency: str, area: Area, *, now: datetime) -> Decision:
        """Answer an earlier worry again for an area learnt since (the area conversation)."""
        intent = self.intents.get(intent_id, self.fallback)
        known = set(self._k.directory.contact_ids())
        contacts = tuple(c for c in contacts if c in known)
        return self._finish(intent, urgency, contacts, Facts(area=area), (intent.id,), {},
                            (Reason("area", intent.id, area.municipality or area.pref, "area given afterwards"),),
                            now, law=(), advice=False)

    def _windows(self, contacts: tuple[str, ...], area: Area | None, now: datetime) -> tuple:
        """The first window of each contact (memoised per minute: opening hours change by the minute)."""
        if not contacts:
            return ()
        key = (contacts, area, now.replace(second=0, microsecond=0))
        found = self._window_cache.get(key)
        if found is None:
            found = tuple(w for c in contacts for w in self._k.directory.windows(c, area, now)[:1])
            if len(self._window_cache) >= WINDOW_CACHE:
                self._window_cache.clear()
            self._window_cache[key] = found
        return found

    def _law(self, law_ids: list[str], facts: Facts, today) -> tuple:
        if not law_ids:
            return ()
        ages = [a for a in facts.ages if not a.writer and not a.parent]
        minor = None if not ages else max(a.high for a in ages) < 18
        return tuple(self._k.law.points(law_ids, contract_date=contract_date(facts.dates, today), today=today,
                                       minor=minor))

    def _mentions(self, hits: Sequence[Hit]) -> list[str]:
        found = [(h.spans[0][0], h.pattern.owner) for h in hits if h.pattern.role == "mention"]
        return list(dict.fromkeys(owner for _, owner in sorted(found)))

    def _law_ids(self, evidence: dict[str, float], emergencies: Sequence[str], facts: Facts) -> list[str]:
        if emergencies:
            return []
        ids: list[str] = []
        for iid, e in sorted(evidence.items(), key=lambda kv: -kv[1]):
            if e >= self._k.policy.t.present:
                ids.extend(x for x in self.intents[iid].spec.law if x not in ids)
        return ids

    def _finish(self, intent: Intent, urgency: str, contacts: tuple[str, ...], facts: Facts,
                fired: tuple[str, ...], scores: dict[str, float], reasons: tuple[Reason, ...], now: datetime,
                law: Sequence[LawPoint], advice: bool = True, **extra: Any) -> Decision:
        windows = self._windows(contacts, facts.area, now)
        if not extra.get("unsure"):
            extra["groups"] = self.consumer_groups(facts.area, intent.id, urgency)
        needs_area = facts.area is None and any(c in self._k.replies.area_sensitive for c in contacts[:2]) \
            and urgency in ("urgent", "normal") and not extra.get("unsure")
        decision = Decision(intent=intent.id, urgency=urgency, contacts=contacts, facts=facts,
                            title=intent.spec.title, scores=scores, fired=fired or (intent.id,),
                            reasons=reasons, law=tuple(law), windows=windows, needs_area=needs_area,
                            explain_windows=intent.spec.contacts_from_mentions and advice, **extra)
        return replace(decision, reply=self._k.replies.render(decision, self._k.directory, advice=advice))
