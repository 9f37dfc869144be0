"""How long is the reply a family reads on a phone?  The length distribution of the reply text.

Not a test (tests/test_reply_length.py holds the goals): run it by hand to see the figures.

    .venv/bin/python bench/reply_length.py            # every labelled set in tests/data
    .venv/bin/python bench/reply_length.py --longest 10

For every message of every labelled set (tests/data/*.jsonl, field "text") the reply text is the
``reply`` of ``tsunagu triage --json``: the text bubble a family sees first on LINE.  The windows
are in the tap-to-call card below it and are not counted.  Printed per set and over all sets:
min / median / p90 / p95 / max characters and the share longer than 400.

Goals (issue 10): over all sets median <= 250, p95 <= 400, none over 600.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.evaluate import LengthSummary, read_cases, reply_lengths  # noqa: E402
from bot.triage import load  # noqa: E402

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
DATA = ROOT / "tests" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--longest", type=int, default=5, metavar="N", help="list the N longest replies (id, intent)")
    args = parser.parse_args()
    triage = load(Settings.from_env()).triage
    everything: list[tuple[int, str, str]] = []
    print(f"reply text length in characters (now = {NOW:%Y-%m-%d %H:%M})")
    for path in sorted(DATA.glob("*.jsonl")):
        found = reply_lengths(triage, read_cases(path), NOW)
        everything += [(n, f"{path.stem}:{case_id}", intent) for n, case_id, intent in found]
        print(f"{path.stem:22s} {LengthSummary.of(n for n, _, _ in found).line()}")
    print(f"{'ALL':22s} {LengthSummary.of(n for n, _, _ in everything).line()}")
    if args.longest:
        print(f"\nlongest {args.longest}:")
        for n, case_id, intent in sorted(everything, reverse=True)[:args.longest]:
            print(f"  {n:4d}  {case_id}  {intent}")


if __name__ == "__main__":
    main()
