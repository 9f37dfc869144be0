"""``tsunagu explain``: why a message was routed as it was (for admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .triage.engine import Triage
from .triage.text import clean


def _top(values: dict[str, float], n: int) -> list[tuple[str, float]]:
    return sorted(values.items(), key=lambda kv: -kv[1])[:n]


@dataclass
class Report:
    data: dict
    text: str


def explain_text(triage: Triage, text: str, now: datetime) -> Report:
    decision = triage.decide(text, now=now)
    tokens = triage.tokenizer.tokenize(clean(text))
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
