"""``tsunagu check``: everything that can be wrong in the admin-edited files.

Errors (exit 1) stop a broken edit from going live; warnings are advice.  The knowledge gate
(:mod:`bot.gate`) is the same one a running server applies before an edit goes live: danger
examples, and everything that routed right on the last good version, must route as before.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from .config import Settings
from . import gate
from .evaluate import ALIKE, WEAK_ACCURACY, cross_validate
from .issues import Issue
from .triage import FEW_EXAMPLES, KnowledgeError, load
from .yamlio import line_of


def run_check(settings: Settings, now: datetime) -> list[Issue]:
    try:
        loaded = load(settings)
    except KnowledgeError as exc:
        return sorted(set(exc.issues), key=lambda i: (i.severity != "error", i.file, i.line))
    issues = list(loaded.issues)
    triage = loaded.triage
    verdict = gate.admit(loaded, settings)
    issues += verdict.issues
    issues += verdict.evaluation.problems
    issues += [i for i in (gate.summary(verdict),) if i]
    issues += _directory_issues(triage)
    issues += _example_issues(triage, now)
    issues += _overlap_issues(triage)
    issues += _near_duplicate_issues(triage)
    issues += _keyword_issues(triage)
    return sorted(set(issues), key=lambda i: (i.severity != "error", i.file, i.line))


def _directory_issues(triage) -> list[Issue]:
    out = []
    for i in triage.directory_issues():
        out.append(Issue(str(i.file), int(i.line), i.severity, i.message, getattr(i, "hint", "")))
    return out


def _example_issues(triage, now: datetime) -> list[Issue]:
    """What the examples teach, measured the way it will be used: on sentences the model did not learn.

    Warnings: an intent with few examples, examples too alike, a low cross-validated accuracy, a
    counter-example the full triage routes to its intent.  (A danger example that is not an emergency,
    or a danger counter-example that is one, is the gate's rule A: an error from :mod:`bot.gate`.)"""
    out: list[Issue] = []
    results = cross_validate(triage, now)
    for intent in triage.intents.values():
        spec = intent.spec
        r = results[intent.id]
        danger = spec.danger is not None
        if intent.id not in (triage.fallback.id, triage.empty.id):
            if len(spec.examples) < FEW_EXAMPLES:
                out.append(Issue(intent.file, line_of(intent.lines, ("examples",)), "warning",
                                 f"only {len(spec.examples)} examples",
                                 f"{FEW_EXAMPLES}個以上、いろいろな書き方の例文を足してください（キーワードより例文が効きます）"))
            if r.similarity > ALIKE:
                out.append(Issue(intent.file, line_of(intent.lines, ("examples",)), "warning",
                                 f"examples are too alike ({r.similarity:.0%} of their words shared)",
                                 "同じ言い回しばかりです。ちがう言葉・ちがう場面の例文を足してください"))
            if r.total and r.accuracy < WEAK_ACCURACY and not danger:
                conf = ", ".join(f"{k}×{v}" for k, v in r.confused.most_common(3))
                out.append(Issue(intent.file, line_of(intent.lines, ("examples",)), "warning",
                                 f"cross-validated accuracy {r.accuracy:.0%} ({r.correct}/{r.total}); confused with {conf}",
                                 "学習に使わなかった例文の読み分けが弱いです。区別がつく例文を足すか、似た intent と見直してください"))
        for kind, text, got in r.misses:
            if kind != "counter" or danger:
                continue
            n = spec.counter_examples.index(text)
            out.append(Issue(intent.file, line_of(intent.lines, ("counter_examples", n)), "warning",
                             f"counter-example routes here: {text[:40]}",
                             "この文で反応している keywords の重みを下げるか、本当の行き先の intent に例文を足してください"))
    return out


def _overlap_issues(triage) -> list[Issue]:
    """The same example (after normalization) in two intents; one keyword claimed twice."""
    out: list[Issue] = []
    seen: dict[tuple, tuple[str, int]] = {}
    for intent in triage.intents.values():
        for n, text in enumerate(intent.spec.examples):
            key = triage.tokenizer.keys(text)
            if not key:
                continue
            if key in seen and seen[key][0] != intent.id:
                other, _ = seen[key]
                out.append(Issue(intent.file, line_of(intent.lines, ("examples", n)), "error",
                                 f"the same example (after normalization) is also in {other!r}: {text[:40]}",
                                 "どちらか一方の intent に残してください"))
            seen.setdefault(key, (intent.id, n))
    claims: dict[tuple, list[tuple[str, str]]] = defaultdict(list)
    for intent in triage.intents.values():
        for word, weight in intent.spec.keywords.items():
            if weight >= 2:
                claims[tuple(triage.tokenizer.keys(word))].append((intent.id, word))
    for key, owners in claims.items():
        ids = sorted({o for o, _ in owners})
        if len(ids) > 1:
            first = triage.intents[ids[1]]
            word = next(w for o, w in owners if o == ids[1])
            out.append(Issue(first.file, line_of(first.lines, ("keywords", word)), "warning",
                             f"strong keyword {word!r} is also claimed by {', '.join(ids[:1] + ids[2:])}",
                             "強いキーワード（重み2以上）は1つの intent だけに置くと迷いが減ります"))
    return out


#: Two examples of different intents whose words overlap this much are flagged.
NEAR_DUPLICATE = 0.85


def _near_duplicate_issues(triage) -> list[Issue]:
    """Near-same examples in two intents (after Sudachi normalization): Dialogflow's "too similar"."""
    out: list[Issue] = []
    seen: list[tuple[frozenset, str]] = []
    for intent in triage.intents.values():
        for n, text in enumerate(intent.spec.examples):
            keys = frozenset(triage.tokenizer.keys(text))
            if len(keys) < 5:
                continue
            for other_keys, other in seen:
                if other == intent.id:
                    continue
                similarity = len(keys & other_keys) / len(keys | other_keys)
                if NEAR_DUPLICATE <= similarity < 1.0:
                    out.append(Issue(intent.file, line_of(intent.lines, ("examples", n)), "warning",
                                     f"example is nearly the same as one in {other!r} ({similarity:.0%}): {text[:30]}",
                                     "違う相談なら言い回しを変え、同じ相談ならどちらか一方にまとめてください"))
                    break
            seen.append((keys, intent.id))
    return out


def _keyword_issues(triage) -> list[Issue]:
    """Keywords whose particles/endings vanish in matching, so they match more than the admin meant."""
    out: list[Issue] = []
    tok = triage.tokenizer
    for intent in triage.intents.values():
        for word in intent.spec.keywords:
            for alt in (a.strip() for part in str(word).replace("+", "&").split("&") for a in part.split("|")):
                if not alt or alt.startswith(("=", "$")):
                    continue
                tokens = tok.tokenize(alt)
                keys = [t.key for t in tokens if t.key]
                dropped = [t.surface for t in tokens if t.key is None and t.pos == "助詞"]
                if len(keys) == 1 and dropped and sum(map(len, dropped)) >= 2:
                    out.append(Issue(intent.file, line_of(intent.lines, ("keywords", word)), "warning",
                                     f"keyword {alt!r} matches every {keys[0]!r} (「{''.join(dropped)}」 is ignored)",
                                     f"文字どおりに探すなら ={alt} と書いてください"))
    return out
