"""Benchmark: triage speed vs plain SudachiPy, and routing accuracy vs a TF-IDF + SVM baseline.

Not a test: run it by hand on a quiet machine and copy the numbers into README.

    .venv/bin/python bench/triage_bench.py            # both parts
    .venv/bin/python bench/triage_bench.py --speed    # speed only

Speed: the same messages (the labelled sets, repeated) go through
  (a) plain SudachiPy: tokenize in mode C and read every morpheme's surface and normalized form;
  (b) tsunagu's whole triage: clean, tokenize, match, extract, policy, directory and reply text.
Rounds alternate (a)/(b) so both see the same machine load; the best round of each is reported.

Accuracy: routing is scored by the eval README's rule on the labelled sets.  The baseline is a
character n-gram (1-3) TF-IDF + linear SVM trained on the same intent examples; it predicts an
intent, and that intent's contacts (from the intent file) are its routing.  Emergencies count as
decided when the predicted intent is an emergency intent.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sudachipy import Dictionary, SplitMode  # noqa: E402

from bot.evaluate import read_cases, routed_ok, score_cases  # noqa: E402
from bot.knowledge import load  # noqa: E402

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
SETS = [ROOT / "tests" / "data" / "dev_cases.jsonl", ROOT / "tests" / "data" / "holdout_cases.jsonl"]


def speed(triage, texts: list[str], rounds: int) -> dict:
    plain_tok = Dictionary(dict="core").tokenizer(SplitMode.C)

    def plain() -> None:
        for s in texts:
            for m in plain_tok.tokenize(s):
                m.surface()
                m.normalized_form()

    def full() -> None:
        for s in texts:
            triage.decide(s, now=NOW)

    full()  # warm the per-word caches once, as a running server would be
    a, b = [], []
    for _ in range(rounds):
        for fn, out in ((plain, a), (full, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    n = len(texts)
    plain_rate, triage_rate = n / min(a), n / min(b)
    return {"messages": n, "plain_msgs_per_s": round(plain_rate), "triage_msgs_per_s": round(triage_rate),
            "ratio": round(triage_rate / plain_rate, 3),
            "triage_us_per_msg_median": round(statistics.median(b) / n * 1e6, 1)}


def baseline_accuracy(triage, cases: list[dict]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from bot.triage.text import clean

    xs, ys = [], []
    for intent in triage.intents.values():
        for text in intent.spec.examples:
            xs.append(clean(text))
            ys.append(intent.id)
    model = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
                          LinearSVC(C=1.0))
    model.fit(xs, ys)
    predicted = model.predict([clean(c["text"]) for c in cases])
    routed = caught = emergencies = false = others = 0
    for case, iid in zip(cases, predicted):
        spec = triage.intents[iid].spec
        urgency = "emergency" if spec.danger is not None else spec.urgency
        routed += routed_ok(case.get("primary"), case.get("required", []), case["urgency"], list(spec.contacts),
                            urgency)
        if case["urgency"] == "emergency":
            emergencies += 1
            caught += urgency == "emergency"
        else:
            others += 1
            false += urgency == "emergency"
    return {"routing": routed / len(cases), "emergency_recall": caught / max(emergencies, 1),
            "false_emergency_rate": false / max(others, 1), "train_examples": len(xs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speed", action="store_true", help="speed only")
    parser.add_argument("--accuracy", action="store_true", help="accuracy only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10, help="how many times the message set is repeated")
    args = parser.parse_args()
    t0 = time.perf_counter()
    triage = load().triage
    load_s = time.perf_counter() - t0
    print(f"# tsunagu triage benchmark — {platform.python_version()} on {platform.machine()}, "
          f"{platform.processor() or 'cpu'}; knowledge loaded in {load_s:.2f} s")
    results: dict = {}
    if not args.accuracy:
        texts = [c["text"] for path in SETS if path.exists() for c in read_cases(path)] * args.repeat
        results["speed"] = speed(triage, texts, args.rounds)
        s = results["speed"]
        print(f"speed: plain SudachiPy {s['plain_msgs_per_s']:,} msg/s, triage {s['triage_msgs_per_s']:,} msg/s "
              f"(ratio {s['ratio']:.2f}; {s['triage_us_per_msg_median']} µs/msg median) on {s['messages']:,} messages")
    if not args.speed:
        results["accuracy"] = {}
        for path in SETS:
            if not path.exists():
                continue
            cases = read_cases(path)
            ours = score_cases(triage, cases, NOW)
            base = baseline_accuracy(triage, cases)
            results["accuracy"][path.name] = {
                "tsunagu": {"routing": ours.routing, "emergency_recall": ours.recall,
                            "false_emergency_rate": ours.false_rate},
                "tfidf_svm": base}
            print(f"{path.name} ({len(cases)} cases): tsunagu routing {ours.routing:.1%}, emergency recall "
                  f"{ours.recall:.1%}, false emergencies {ours.false_rate:.1%} | TF-IDF+SVM routing "
                  f"{base['routing']:.1%}, recall {base['emergency_recall']:.1%}, false "
                  f"{base['false_emergency_rate']:.1%}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
