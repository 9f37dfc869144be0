"""``tsunagu explain``: why a message was routed as it was (for admins).

:func:`for_page` says the same in Japanese for the /try page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from .triage import Decision, Triage


def _top(values: dict[str, float], n: int) -> list[tuple[str, float]]:
    return sorted(values.items(), key=lambda kv: -kv[1])[:n]


@dataclass
class Report:
    data: dict
    text: str


def explain_text(triage: Triage, text: str, now: datetime) -> Report:
    decision = triage.decide(text, now=now)
    tokens = (decision.trace or triage.read(text)).tokens
    data = decision.explain()
    data["tokens"] = [{"surface": t.surface, "normalized": t.norm, "key": t.key, "pos": t.pos} for t in tokens]
    data["windows"] = [{"contact": w.contact_id, "name": w.name, "level": w.level,
                        "phone": w.phone.display if w.phone else None, "note": w.note} for w in decision.windows]
    lines = [f"intent: {decision.intent} ({decision.title})", f"urgency: {decision.urgency}",
             f"contacts: {' > '.join(decision.contacts) or '(none)'}",
             f"area: {data['area'] or '(unknown)'}"]
    if decision.unsure:
        lines.append(f"unsure: asks which worry it is — {' / '.join(label for label, _ in decision.topics)}")
    if decision.analysed < decision.length:
        lines.append(f"read: the model read the first {decision.analysed:,} of {decision.length:,} characters "
                     "(danger words and keywords are looked for in all of it)")
    lines += ["", "tokens (surface → key):",
              "  " + " ".join(f"{t.surface}→{t.key}" if t.key and t.key != t.surface else t.surface
                              for t in tokens if t.pos != "空白"), "",
              "worries (evidence = model probability + keyword share; examples teach the model):",
              f"  {'intent':<24} {'evidence':>8} {'model':>6} {'keywords':>9}  matched keywords"]
    shown = sorted(set(list(decision.evidence)[:0]) | {i for i, _ in _top(decision.evidence, 6)}
                   | set(data["scores"]), key=lambda i: -decision.evidence.get(i, -1))
    for iid in shown:
        spec = triage.intents[iid].spec
        score = decision.scores.get(iid, 0.0)
        mark = "*" if iid in decision.fired else " "
        words = [r.text + (f" ({r.detail})" if r.detail else "") + f" +{r.weight:g}"
                 for r in decision.reasons if r.kind == "keyword" and r.intent == iid]
        lines.append(f" {mark}{iid:<24} {decision.evidence.get(iid, 0.0):8.2f} "
                     f"{decision.probabilities.get(iid, 0.0):6.2f} {score:5.1f}/{spec.threshold:<3g} {', '.join(words)}")
    dangers = [(i, p) for i, p in _top(decision.probabilities, 50) if triage.intents[i].spec.danger is not None][:2]
    if dangers:
        lines.append("  danger (model): " + ", ".join(f"{i} {p:.2f}" for i, p in dangers))
    lines.append("  (* = counted; among strong worries, the earliest rule of intents/_policy.yml leads)")
    lines.append("")
    lines.append("rules:")
    for r in decision.reasons:
        if r.kind != "keyword":
            lines.append(f"  [{r.kind}] {r.intent}: {r.text}" + (f" — {r.detail}" if r.detail else ""))
    if decision.windows:
        lines.append("")
        lines.append("windows:")
        for w in decision.windows:
            phone = w.phone.display if w.phone else "番号なし"
            lines.append(f"  {w.contact_id}: {w.name} [{w.level}] {phone}" + (f" — {w.note}" if w.note else ""))
    return Report(data, "\n".join(lines))


# -- the /try page: the same explanation, in Japanese, with the words as the message wrote them ------

URGENCY_JA = {"emergency": "緊急（いますぐ）", "urgent": "急ぎ", "normal": "ふつう", "info": "案内"}
LEVEL_JA = {"municipal": "市区町村の窓口", "prefectural": "都道府県の窓口", "national": "全国の窓口",
            "guide": "探し方の案内"}
_WEEKDAYS = "月火水木金土日"
#: How a danger word or a keyword was read (bot/triage/signals.py), for admins.
_READING_JA = {
    "an order or an insult (死ね, 殴れ), not an act": "命令や悪口（死ね、殴れ）で、行いそのものではない",
    "figure of speech": "たとえ（比喩）",
    "another sense of the word": "別の意味の言葉",
    "hypothetical or negated": "仮の話か、打ち消し",
    "negated or hypothetical": "打ち消しか、仮の話",
    "what someone was told to do": "だれかに言われたこと（指示）",
    "reported (news, someone else's story)": "伝え聞き（ニュースや、ほかの人の話）",
    "a report of someone else's case": "ほかの人の事例の話",
    "a condition (もし…)": "条件（もし…）",
    "long ago": "ずっと前のこと",
    "long ago or someone else's story": "昔のことか、ほかの人の話",
    "long ago (the story of that time goes on)": "昔のこと（その頃の話が続いている）",
    "something that happens at times": "ときどき起きること",
    "an emergency in itself": "それだけで緊急",
    "inside a quotation": "かぎかっこの中（だれかの言葉）",
    "told in the past": "過去のこととして書かれている",
    "calm now": "いまは落ち着いている",
    "in the past": "過去のこと",
    "now": "いま起きている",
    "soon": "もうすぐ起きる",
    "happening (progressive)": "続いている（〜している）",
    "not now": "いまのことではない",
    "an alarm word": "危険を知らせる言葉",
    "still going on": "まだ続いている",
    "no word that says it is happening now": "いま起きていると言う言葉がない",
}
_FACT_JA = {"$amount": "金額が書いてある", "$big_amount": "10万円以上の金額", "$young": "30歳未満の本人",
            "$over49": "50歳以上の本人"}


@dataclass
class _Page:
    """What the Japanese explanation needs to look things up."""

    triage: Triage
    text: str                       # the cleaned message
    tokens: list
    hits: dict                      # (owner, pattern text, role) -> Hit
    now: datetime
    untranslated: list[str]

    def title(self, iid: str) -> str:
        intent = self.triage.intents.get(iid)
        return intent.spec.title if intent else iid

    def label(self, cid: str) -> str:
        try:
            return self.triage.contact(cid).label
        except KeyError:
            return cid

    def spans(self, owner: str, text: str, roles: tuple[str, ...]) -> list[tuple[int, int]]:
        """Where a matched pattern stands in the message (character offsets), first occurrence of each part."""
        hit = next((self.hits[k] for k in ((owner, text, r) for r in roles) if k in self.hits), None)
        if hit is None:
            return []
        return [(self.tokens[a].start, self.tokens[b - 1].end) for a, b in hit.spans if b > a]

    def surface(self, spans: list[tuple[int, int]]) -> str:
        return "…".join(self.text[a:b] for a, b in spans)

    def reading(self, english: str) -> str:
        ja = _READING_JA.get(english)
        if ja is None:
            self.untranslated.append(english)
            return english
        return ja

    def day(self, d) -> str:
        md = f"{d.month}月{d.day}日（{_WEEKDAYS[d.weekday()]}）"
        return md if d.year == self.now.year else f"{d.year}年{md}"


def format_now(now: datetime) -> str:
    """``2026年11月29日（日）22:00``."""
    return f"{now.year}年{now.month}月{now.day}日（{_WEEKDAYS[now.weekday()]}）{now:%H:%M}"


def for_page(triage: Triage, text: str, now: datetime, decision: Decision | None = None) -> dict:
    """Why ``text`` got its answer, in Japanese, for the /try page.

    ``decision`` is the one the conversation made (with the remembered area); without it the
    text is decided again.  Matched words are given as the message wrote them, with their
    character offsets in the cleaned message (``message``) so that the page can mark them.
    ``untranslated`` lists reason texts that have no Japanese yet (shown as they are).
    """
    decision = decision or triage.decide(text, now=now)
    trace = decision.trace or triage.read(text)
    hits = {(h.pattern.owner, h.pattern.text, h.pattern.role): h for h in trace.hits}
    p = _Page(triage, trace.cleaned, list(trace.tokens), hits, now, [])
    words = [_word(p, r, decision) for r in decision.reasons if r.kind == "keyword"]
    dangers = list({(d["intent"], d["surface"], d["why"]): d for d in
                    (_danger(p, r) for r in decision.reasons if r.kind == "danger" and r.text != "yields")}.values())
    rules = [_rule(p, r) for r in decision.reasons if r.kind not in ("keyword", "danger") or r.text == "yields"]
    fired = set(decision.fired)
    shown = list(dict.fromkeys([*sorted(decision.evidence, key=lambda i: -decision.evidence[i])[:5],
                                *decision.scores]))
    return {
        "now": format_now(now),
        "message": trace.cleaned,
        "intent": {"id": decision.intent, "title": p.title(decision.intent)},
        "also": [{"id": i, "title": p.title(i)} for i in decision.fired if i != decision.intent],
        "urgency": {"id": decision.urgency, "label": URGENCY_JA.get(decision.urgency, decision.urgency),
                    "why": _urgency_why(p, decision)},
        "contacts": [{"id": c, "label": p.label(c)} for c in decision.contacts],
        "windows": [{"contact": w.contact_id, "label": p.label(w.contact_id), "name": w.name,
                     "level": LEVEL_JA.get(w.level, w.level), "phone": w.phone.display if w.phone else None,
                     "hours": w.hours or _short(w.hours_text), "open": w.open_now} for w in decision.windows],
        "area": decision.facts.area.public() if decision.facts.area else None,
        "words": [w for w in words if w],
        "dangers": dangers,
        "dates": [{"text": d.text, "date": p.day(d.date), "approximate": d.approximate,
                   "contract": d.contract, "start": d.start, "end": d.end} for d in decision.facts.dates],
        "amounts": [{"text": a.text, "yen": a.yen, "start": a.start, "end": a.end} for a in decision.facts.amounts],
        "law": [{"title": pt.title, "deadline": p.day(pt.deadline) if pt.deadline else None,
                 "text": pt.deadline_text, "running": pt.running} for pt in decision.law],
        "rules": rules,
        "unsure": decision.unsure,
        "scores": [{"id": iid, "title": p.title(iid), "model": round(decision.probabilities.get(iid, 0.0), 2),
                    "score": round(decision.scores.get(iid, 0.0), 2),
                    "threshold": triage.intents[iid].spec.threshold if iid in triage.intents else None,
                    "fired": iid in fired,
                    "words": [w["surface"] + f" {w['weight']:+g}" for w in words if w and w["intent"] == iid]}
                   for iid in shown if iid in triage.intents],
        "tokens": [{"surface": t.surface, "key": t.key} for t in trace.tokens if t.pos != "空白"],
        "untranslated": list(dict.fromkeys(p.untranslated)),
    }


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _word(p: _Page, r, decision: Decision) -> dict | None:
    if r.detail == "fact":
        facts = decision.facts
        found = facts.amounts if r.text in ("$amount", "$big_amount") else facts.ages
        spans = [(m.start, m.end) for m in found][:3]
        surface = "、".join(p.text[a:b] for a, b in spans) or _FACT_JA.get(r.text, r.text)
        note = _FACT_JA.get(r.text)
        if note is None:
            p.untranslated.append(r.text)
        return {"intent": r.intent, "title": p.title(r.intent), "surface": surface, "spans": spans,
                "weight": r.weight, "counted": True, "note": note or r.text}
    spans = p.spans(r.intent, r.text, ("keyword",))
    counted = not r.detail.startswith("not counted")
    if not counted:
        note = "数えない：" + p.reading(r.detail.removeprefix("not counted:").strip())
    else:
        note = "かなの読みで一致" if r.detail == "kana reading" else ""
    return {"intent": r.intent, "title": p.title(r.intent), "surface": p.surface(spans) or r.text, "spans": spans,
            "weight": r.weight, "counted": counted, "note": note}


def _danger(p: _Page, r) -> dict:
    model = re.fullmatch(r"model ([\d.]+)", r.text)
    spans = [] if model else p.spans(r.intent, r.text, ("act", "inherent"))
    surface = f"例文からの学習（確からしさ {model[1]}）" if model else (p.surface(spans) or r.text)
    return {"intent": r.intent, "title": p.title(r.intent), "surface": surface, "spans": spans,
            "counted": r.weight > 0, "why": p.reading(r.detail)}


def _urgency_why(p: _Page, decision: Decision) -> str:
    if decision.urgency == "emergency":
        return f"いますぐの危険：{p.title(decision.intent)}"
    why = next((r.detail for r in reversed(decision.reasons) if r.kind == "urgency"), "")
    return _why(p, why) if why else ""


def _why(p: _Page, why: str) -> str:
    """An urgency reason of bot/triage/policy.py in Japanese."""
    m = re.fullmatch(r"default of (\S+)", why)
    if m:
        return f"「{p.title(m[1])}」のふだんの急ぎ度"
    m = re.fullmatch(r"urgent sign for (\S+): (.+)", why)
    if m:
        return f"急ぎのしるし「{p.surface(p.spans(m[1], m[2], ('urgent',))) or m[2]}」"
    m = re.fullmatch(r"something happens soon \((.+)\)", why)
    if m:
        return f"近いうちに起きること（{m[1]}）"
    m = re.fullmatch(r"money or a contract (.+)", why)
    if m:
        return f"最近のお金や契約のこと（{m[1]}）"
    fixed = {"a note about the message itself": "メッセージそのものへの返事",
             "a cooling-off period is running": "クーリング・オフの期間中",
             "a deadline is mentioned": "期限の話がある",
             "ongoing harassment": "しつこい取り立てや嫌がらせが続いている",
             "a question without a situation": "困っている状況のない質問",
             "a status update": "状況の報告"}
    if why in fixed:
        return fixed[why]
    p.untranslated.append(why)
    return why


def _rule(p: _Page, r) -> str:
    """One decision step (contacts, urgency, fallback, unsure …) as a Japanese sentence."""
    if r.kind == "contacts":
        m = re.fullmatch(r"rule (\d+): .*", r.detail)
        order = " → ".join(p.label(c) for c in r.text.split(" > ") if c)
        rule = f"POLICY のルール{m[1]}" if m else r.detail
        return f"相談先の順：{order or '（なし）'}（当てはまった相談のうち、番号のいちばん小さいルール＝{rule}の窓口が先）"
    if r.kind == "urgency":
        return f"急ぎ度「{URGENCY_JA.get(r.text, r.text)}」：{_why(p, r.detail)}"
    if r.kind == "danger" and r.text == "yields":
        worry = r.detail.rsplit(": ", 1)[-1]
        return f"「{p.title(r.intent)}」の言葉はあるが、はっきり書かれた相談「{p.title(worry)}」として答える"
    if r.kind == "fallback":
        if r.text == "no words":
            return "文字がないため、使い方の案内を返す"
        if r.text == "weak match":
            score = r.detail.removeprefix("score ")
            return f"はっきり当てはまる種類がないため、いちばん近い「{p.title(r.intent)}」にした（点数 {score}）"
        if r.text == "no intent matched":
            return "当てはまる相談の種類がない"
    if r.kind == "unsure":
        m = re.fullmatch(r"(\S+) is as likely", r.detail)
        why = f"「{p.title(m[1])}」も同じくらい当てはまる" if m else \
            "はっきり当てはまる種類がない" if r.detail == "nothing clearly matched" else None
        if why:
            return f"どの相談か、ボタンで聞き返す：{why}"
    if r.kind == "topic":
        return f"ご家族がボタンで選んだ相談「{p.title(r.intent)}」"
    if r.kind == "area":
        return f"あとから地域（{r.text}）が届いたので、同じ相談に答え直す"
    p.untranslated.append(f"{r.kind}: {r.text} {r.detail}".strip())
    return f"{r.kind}：{r.text}" + (f"（{r.detail}）" if r.detail else "")
