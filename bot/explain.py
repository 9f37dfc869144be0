"""``tsunagu explain``: why a message was routed as it was (for admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .triage.engine import Triage
from .triage.text import clean


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
             f"area: {data['area'] or '(unknown)'}", "",
             "tokens (surface → key):",
             "  " + " ".join(f"{t.surface}→{t.key}" if t.key and t.key != t.surface else t.surface
                             for t in tokens if t.pos != "空白"), "", "scores:"]
    for iid, score in data["scores"].items():
        spec = triage.intents[iid].spec
        mark = "fired" if iid in decision.fired else f"< {spec.threshold:g}"
        words = [r.text + (f" ({r.detail})" if r.detail else "") + f" +{r.weight:g}"
                 for r in decision.reasons if r.kind == "keyword" and r.intent == iid]
        lines.append(f"  {iid:<22} {score:5.1f} {mark:<7} {', '.join(words)}")
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
