"""The referral sheet (つなぎシート): one case's facts in the order a consumer center asks them.

A welfare worker phoning a center for a family reads it top to bottom: who, when, what, how much,
where things stand (the cooling-off deadline already computed in :attr:`Decision.law`, what the
business demands), what the family wants, the window to call; then what is still to ask.

Built from a :class:`Decision` and the cleaned text it was decided from.  The words of the sheet
are in ``responses/referral.yml``, the words it looks for in ``intents/_lexicon/referral.yml``
(both read by :mod:`bot.triage.loader`).  Nothing here changes the routing.  Words taken from the
message (business names, the text itself) go through the masker given; the window's number comes
from the directory and is shown as it is.  Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .consumer_law import format_date
from .decision import Decision
from .extract.business import BusinessFinder
from .facts import AgeMention
from .extract.people import DEFAULT_LEXICON, PeopleLexicon, find_signer
from .extract.phrases import PhraseFinder, labels

SECTIONS = ("who", "when", "what", "money", "now", "wish", "window", "ask", "memo")
LABELS = ("age", "relation", "signer", "contract_date", "date", "category", "product", "business", "amount",
          "payment", "deadline", "demand")
SIGNER = ("family", "family_unnamed", "person", "person_unnamed")
QUESTIONS = ("contract_date", "signer", "age", "product", "business", "amount", "payment", "wish")
#: How much of the (masked) message the sheet quotes.
MEMO_CHARS = 300


def _exactly(keys: tuple[str, ...]):
    def check(value: dict[str, str]) -> dict[str, str]:
        missing = [k for k in keys if k not in value]
        unknown = [k for k in value if k not in keys]
        if missing or unknown:
            raise ValueError(f"missing {missing} / unknown {unknown}; the keys are: {', '.join(keys)}")
        empty = [k for k, v in value.items() if not str(v).strip()]
        if empty:
            raise ValueError(f"empty text for {empty}")
        return value
    return check


class SheetSpec(BaseModel):
    """``responses/referral.yml``: the words of the sheet."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1)
    intro: str = ""
    none: str = Field(min_length=1)
    sections: dict[str, str]
    labels: dict[str, str]
    signer: dict[str, str]
    questions: dict[str, str]

    @model_validator(mode="after")
    def _keys(self) -> "SheetSpec":
        for name, keys in (("sections", SECTIONS), ("labels", LABELS), ("signer", SIGNER),
                           ("questions", QUESTIONS)):
            try:
                _exactly(keys)(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return self


class ReferralWords(BaseModel):
    """``intents/_lexicon/referral.yml``: the words the sheet looks for."""

    model_config = ConfigDict(extra="forbid")
    relations: dict[str, str] = Field(min_length=1)
    products: list[str] = []
    payments: dict[str, list[str]] = Field(min_length=1)
    wishes: dict[str, list[str]] = Field(min_length=1)
    demands: dict[str, list[str]] = Field(min_length=1)
    corp_words: list[str] = Field(min_length=1)
    name_after: list[str] = []


@dataclass(frozen=True)
class Section:
    key: str                      # who | when | what | money | now | wish | window | ask | memo
    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ReferralSheet:
    title: str
    intro: str
    sections: tuple[Section, ...]
    questions: tuple[str, ...]    # the 確認すること (also the ``ask`` section)
    facts: dict[str, Any]         # the same facts as data (``--json``)
    missing: tuple[str, ...] = ()  # the keys of the questions (contract_date, payment …)

    def text(self) -> str:
        """The sheet as plain text (CLI; Slack's fallback text)."""
        out = [f"【{self.title}】"] + ([self.intro] if self.intro else [])
        for s in self.sections:
            out += ["", f"■ {s.heading}", *(f"・{line}" for line in s.lines)]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "sections": [{"key": s.key, "heading": s.heading, "lines": list(s.lines)}
                                                   for s in self.sections],
                "questions": list(self.questions), "missing": list(self.missing), "facts": self.facts}


def _age(a: AgeMention) -> str:
    """An age as said (80歳, 40代, 中2); a bare number (息子(28), ４８の息子) gets its 歳."""
    if any(ch in a.text for ch in "歳才代") or not any(ch.isdigit() for ch in a.text):
        return a.text                       # 80歳, 40代, 高校生, アラフォー
    if any(ch in a.text for ch in "小中高年"):
        return a.text                       # 中2, 高校3年
    return f"{a.low}歳" if a.low == a.high else f"{a.low}〜{a.high}歳"


def _yen(yen: int) -> str:
    """``1500000`` → ``150万円``; ``35000`` → ``3万5,000円``; ``9800`` → ``9,800円``."""
    man, rest = divmod(yen, 10_000)
    if not man:
        return f"{rest:,}円"
    return f"{man:,}万" + (f"{rest:,}" if rest else "") + "円"


class ReferralBook:
    """The sheet's words and lexicons, compiled (built once by the loader)."""

    def __init__(self, spec: SheetSpec, words: ReferralWords, people: PeopleLexicon = DEFAULT_LEXICON):
        self.spec = spec
        self.people = people
        self.words = words
        self.relations = dict(words.relations)
        self.phrases = PhraseFinder({
            "payments": words.payments, "wishes": words.wishes, "demands": words.demands,
            "products": {w: [w] for w in words.products}, "relations": {w: [w] for w in words.relations}})
        self.business = BusinessFinder(words.corp_words, words.name_after)

    def sheet(self, d: Decision, cleaned: str, mask: Callable[[str], str], today: date) -> ReferralSheet:
        s = self.spec
        lab, none = s.labels, s.none
        found = self.phrases.find(cleaned)
        facts = d.facts
        # -- 誰が
        ages = [_age(a) for a in facts.ages if not a.writer and not a.history]
        relations = list(dict.fromkeys(self.relations[w] for w in labels(found, "relations")))
        signer = self._signer(cleaned, d)
        # -- いつ
        contract = [m for m in facts.dates if m.contract]
        other = [m for m in facts.dates if not m.contract]
        # -- 何を
        products = labels(found, "products")
        businesses = list(dict.fromkeys(mask(b) for b in self.business.find(cleaned)))
        # -- いくら
        amounts = [_yen(a.yen) for a in facts.amounts]
        payments = labels(found, "payments")
        # -- 今の状況
        deadlines = [f"{p.title}：{p.deadline_text}" for p in d.law if p.deadline_text]
        demands = labels(found, "demands")
        wishes = labels(found, "wishes")
        windows = [f"{w.name}" + (f" ☎ {w.phone.display}" if w.phone else "") + (f"（{w.hours}）" if w.hours else "")
                   for w in d.windows]

        def line(key: str, values: list[str]) -> str:
            return f"{lab[key]}：{'、'.join(values) if values else none}"

        def when(m) -> str:
            said = f"（{m.text}）" if m.text != format_date(m.date, today) else ""
            return format_date(m.date, today) + ("頃" if m.approximate else "") + said

        sections = {
            "who": [line("age", ages), line("relation", relations), line("signer", [signer] if signer else [])],
            "when": [line("contract_date", [when(m) for m in contract])]
                    + ([line("date", [when(m) for m in other])] if other else []),
            "what": [line("category", [d.title] if d.title else []), line("product", products),
                     line("business", businesses)],
            "money": [line("amount", amounts), line("payment", payments)],
            "now": [line("deadline", deadlines), line("demand", demands)],
            "wish": wishes or [none],
            "window": windows or [none],
        }
        missing = {"contract_date": not contract, "signer": signer is None, "age": not ages,
                   "product": not products, "business": not businesses, "amount": not amounts,
                   "payment": not payments, "wish": not wishes}
        asked = tuple(k for k in QUESTIONS if missing[k])
        questions = tuple(s.questions[k] for k in asked)
        memo = mask(cleaned)
        sections["ask"] = list(questions) or [none]
        sections["memo"] = [memo[:MEMO_CHARS] + ("…" if len(memo) > MEMO_CHARS else "")]
        data = {"ages": ages, "relations": relations, "signer": d.facts.signer, "signer_text": signer,
                "contract_dates": [m.date.isoformat() for m in contract],
                "other_dates": [m.date.isoformat() for m in other], "intent": d.intent, "category": d.title,
                "products": products, "businesses": businesses, "amounts": [a.yen for a in facts.amounts],
                "payments": payments,
                "deadlines": [{"id": p.id, "deadline": p.deadline.isoformat() if p.deadline else None,
                               "days_left": p.days_left} for p in d.law if p.deadline_text],
                "demands": demands, "wishes": wishes,
                "windows": [{"name": w.name, "phone": w.phone.display if w.phone else None, "hours": w.hours}
                            for w in d.windows]}
        return ReferralSheet(s.title, s.intro,
                             tuple(Section(k, s.sections[k], tuple(sections[k])) for k in s.sections),
                             questions, data, asked)

    def _signer(self, cleaned: str, d: Decision) -> str | None:
        """Who signed, as the sheet says it: the side (family / the person) and the word naming them."""
        side = d.facts.signer
        if side is None:
            return None
        who = ""
        _, words = find_signer(cleaned, self.people)   # the words of the signing clause, as the facts read it
        if words:
            named = [p.text for p in self.phrases.find(words) if p.kind == "relations"]
            who = self.relations[named[0]] if named else ""
        return self.spec.signer[side].replace("{who}", who) if who else self.spec.signer[f"{side}_unnamed"]
