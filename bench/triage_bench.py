"""Benchmark: triage speed, long messages, training, and routing on every labelled set.

Not a test: run it by hand on a quiet machine and copy the numbers into README.

    .venv/bin/python bench/triage_bench.py              # everything
    .venv/bin/python bench/triage_bench.py --speed      # speed vs plain SudachiPy only
    .venv/bin/python bench/triage_bench.py --long       # 5,000-character crafted messages only
    .venv/bin/python bench/triage_bench.py --accuracy   # routing figures only

Speed: the same messages (the labelled sets, repeated) go through
  (a) plain SudachiPy: tokenize in mode C and read every morpheme's surface and normalized form;
  (b) tsunagu's whole triage: clean, tokenize, match, the learned model, danger reading, extract,
      policy, directory and reply text.
Rounds alternate (a)/(b) so both see the same machine load; the best round of each is reported.

Long messages: crafted 5,000-character messages (the longest LINE text) that repeat danger words,
keywords, quotations and kana — the inputs that used to cost seconds — timed against a short
message; the worst is reported.  Goal: < 0.1 s more than a short message.

Training: how long the model takes to learn the shipped intents (goal < 5 s), and whether two
trainings give the same weights.

Accuracy, per labelled set (tests/data/*.jsonl, and ../shared/eval/real_dev.jsonl when it exists:
real accounts quoted from public pages, measurement only):
  - tsunagu as shipped;
  - "first look": the model retrained without any intent example that repeats a sentence of that
    set (word overlap >= FIRST_LOOK_OVERLAP), so no set is scored by examples copied from it;
  - the model alone (its best intent and that intent's contacts, no keywords, no rules);
  - a character n-gram TF-IDF + linear SVM baseline trained on the same examples.
Routing is scored by the eval README's rule (contacts[0] == primary, required ids present;
either emergency number first counts for an emergency).
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

from bot.config import Settings  # noqa: E402
from bot.evaluate import read_cases, routed_ok, score_cases  # noqa: E402
from bot.live import settle  # noqa: E402
from bot.triage import clean, load, train  # noqa: E402

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
DATA = ROOT / "tests" / "data"
REAL = ROOT.parent / "shared" / "eval" / "real_dev.jsonl"
SPEED_SETS = [DATA / "dev_cases.jsonl", DATA / "holdout_cases.jsonl"]
#: An intent example sharing this much of its words with a case counts as a copy of it (first look).
FIRST_LOOK_OVERLAP = 0.6
#: Crafted long messages: (name, the unit repeated up to 5,000 characters).
CRAFTED = [
    ("danger words, one long sentence", "息子が殴った"),
    ("danger words, many sentences", "息子が暴れて殴る。今、包丁を持っている。"),
    ("acts without punctuation", "殴られた死にたい包丁ATM"),
    ("fraudster collecting", "カードを取りに来ると言われた"),
    ("suicide words", "ロープ練炭遺書ありがとうさようなら"),
    ("quotations", "「今から行く」と「殴る」"),
    ("kana only", "たすけて いま なぐられてる "),
    ("keywords of every worry", "訪問販売で布団を買わされた。ひきこもりの息子が、オレオレ詐欺、ATMへ行けと言われた。「死にたい」と言った。"),
    ("one character", "あ"),
]


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


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def long_messages(triage) -> dict:
    short = "息子が部屋から出てこない"
    base = _best(lambda: triage.decide(short, now=NOW), 20)
    rows = []
    for name, unit in CRAFTED:
        text = (unit * (5000 // len(unit) + 1))[:5000]
        triage.decide(text, now=NOW)
        t = _best(lambda: triage.decide(text, now=NOW))
        rows.append({"message": name, "seconds": round(t, 4), "above_short": round(t - base, 4)})
    worst = max(rows, key=lambda r: r["above_short"])
    return {"short_seconds": round(base, 5), "crafted": rows, "worst": worst}


def training(triage) -> dict:
    t0 = time.perf_counter()
    samples = triage.make_samples()
    t1 = time.perf_counter()
    model = train(samples)
    t2 = time.perf_counter()
    again = train(samples)
    same = bool((model.weights == again.weights).all() and (model.bias == again.bias).all())
    return {"examples": sum(1 for s in samples if not s.counter), "counter_examples": sum(1 for s in samples if s.counter),
            "features": len(model.vocab), "featurize_s": round(t1 - t0, 2), "train_s": round(t2 - t1, 2),
            "deterministic": same}


def _keys(triage, text: str) -> frozenset:
    return frozenset(triage.tokenizer.keys(text))


def first_look(triage, cases: list[dict]):
    """The triage with a model that never saw an example repeating one of ``cases``."""
    case_keys = [k for k in (_keys(triage, c["text"]) for c in cases) if k]

    def copied(text: str) -> bool:
        keys = _keys(triage, text)
        return bool(keys) and any(len(keys & k) / len(keys | k) >= FIRST_LOOK_OVERLAP for k in case_keys)

    kept = [s for s in triage.samples if s.counter or not copied(s.text)]
    return triage.with_model(train(kept)), len(triage.samples) - len(kept)


def model_alone(triage, cases: list[dict]) -> float:
    """Routing from the model's best intent only (its contacts, its default urgency)."""
    ok = 0
    for case in cases:
        probs = triage.model.probabilities(triage.features(case["text"]))
        iid = max(probs, key=probs.get)
        spec = triage.intents[iid].spec
        urgency = "emergency" if spec.danger is not None else spec.urgency
        ok += routed_ok(case.get("primary"), case.get("required", []), case["urgency"], list(spec.contacts), urgency)
    return ok / len(cases)


def svm_baseline(triage, cases: list[dict]) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    xs, ys = [], []
    for intent in triage.intents.values():
        for text in intent.spec.examples:
            xs.append(clean(text))
            ys.append(intent.id)
    model = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
                          LinearSVC(C=1.0))
    model.fit(xs, ys)
    ok = 0
    for case, iid in zip(cases, model.predict([clean(c["text"]) for c in cases])):
        spec = triage.intents[iid].spec
        urgency = "emergency" if spec.danger is not None else spec.urgency
        ok += routed_ok(case.get("primary"), case.get("required", []), case["urgency"], list(spec.contacts), urgency)
    return ok / len(cases)


def accuracy(triage) -> dict:
    sets = sorted(DATA.glob("*_cases.jsonl"))
    if REAL.exists():
        sets.append(REAL)
    out = {}
    for path in sets:
        cases = read_cases(path)
        if not all("urgency" in c for c in cases):     # not a routing set (e.g. the masking table)
            continue
        ours = score_cases(triage, cases, NOW)
        fresh, dropped = first_look(triage, cases)
        look = score_cases(fresh, cases, NOW)
        out[path.name] = {
            "cases": len(cases),
            "tsunagu": {"routing": round(ours.routing, 3), "emergencies": f"{ours.emergencies_caught}/{ours.emergencies}",
                        "false_emergencies": f"{ours.false_emergencies}/{ours.others}"},
            "first_look": {"routing": round(look.routing, 3), "emergencies": f"{look.emergencies_caught}/{look.emergencies}",
                           "false_emergencies": f"{look.false_emergencies}/{look.others}",
                           "examples_left_out": dropped},
            "model_alone": round(model_alone(triage, cases), 3),
            "tfidf_svm": round(svm_baseline(triage, cases), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speed", action="store_true", help="speed only")
    parser.add_argument("--long", action="store_true", help="long crafted messages only")
    parser.add_argument("--accuracy", action="store_true", help="accuracy only")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10, help="how many times the message set is repeated")
    args = parser.parse_args()
    everything = not (args.speed or args.long or args.accuracy)
    t0 = time.perf_counter()
    triage = load(Settings.from_env({})).triage
    load_s = time.perf_counter() - t0
    settle()
    print(f"# tsunagu triage benchmark — {platform.python_version()} on {platform.machine()}, "
          f"{platform.processor() or 'cpu'}; knowledge loaded (and the model trained) in {load_s:.2f} s")
    results: dict = {"load_s": round(load_s, 2)}
    if everything:
        results["training"] = t = training(triage)
        print(f"training: {t['examples']} examples + {t['counter_examples']} counter-examples, {t['features']:,} "
              f"features; featurize {t['featurize_s']} s + train {t['train_s']} s; deterministic: {t['deterministic']}")
    if everything or args.speed:
        texts = [c["text"] for path in SPEED_SETS if path.exists() for c in read_cases(path)] * args.repeat
        results["speed"] = s = speed(triage, texts, args.rounds)
        print(f"speed: plain SudachiPy {s['plain_msgs_per_s']:,} msg/s, triage {s['triage_msgs_per_s']:,} msg/s "
              f"(ratio {s['ratio']:.2f}; {s['triage_us_per_msg_median']} µs/msg median) on {s['messages']:,} messages")
    if everything or args.long:
        results["long"] = lm = long_messages(triage)
        print(f"long messages: short message {lm['short_seconds'] * 1000:.2f} ms; 5,000 characters:")
        for row in lm["crafted"]:
            print(f"  {row['message']:<34} {row['seconds'] * 1000:7.1f} ms  (+{row['above_short'] * 1000:.1f} ms)")
        print(f"  worst: +{lm['worst']['above_short'] * 1000:.1f} ms ({lm['worst']['message']}); goal < 100 ms")
    if everything or args.accuracy:
        results["accuracy"] = acc = accuracy(triage)
        print(f"{'set':<22} {'cases':>5}  {'tsunagu':>8} {'emerg.':>7} {'false':>7}  {'first look':>10} "
              f"{'emerg.':>7} {'false':>7}  {'model':>6} {'SVM':>6}")
        for name, r in acc.items():
            t, f = r["tsunagu"], r["first_look"]
            print(f"{name:<22} {r['cases']:>5}  {t['routing']:>8.1%} {t['emergencies']:>7} {t['false_emergencies']:>7}  "
                  f"{f['routing']:>10.1%} {f['emergencies']:>7} {f['false_emergencies']:>7}  "
                  f"{r['model_alone']:>6.1%} {r['tfidf_svm']:>6.1%}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
