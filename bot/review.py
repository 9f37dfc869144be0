"""Turn the review queue into examples an admin can paste into the intent files."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone


def export_reviews(rows: list[dict]) -> tuple[str, list[int]]:
    """YAML grouped by the correct intent (``intents/<id>.yml`` → ``examples:`` lines)."""
    by_intent: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_intent[row["correct"]].append(row)
    lines = [f"# tsunagu review export — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {len(rows)} example(s).",
             "# Paste each block under `examples:` in the intent file named, then run `tsunagu check`.",
             "# Texts were masked (●●) before they were stored; rewrite them into natural sentences if needed.", ""]
    for intent, items in sorted(by_intent.items()):
        lines.append(f"# intents/{intent}.yml")
        for item in items:
            was = f"  # was routed to {item['predicted']}" if item.get("predicted") else ""
            lines.append(f"  - {json.dumps(item['text'], ensure_ascii=False)}{was}")
        lines.append("")
    return "\n".join(lines), [r["id"] for r in rows]
