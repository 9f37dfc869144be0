"""One gate for every edit of what the bot knows.

Every way an edit can go live passes here: ``tsunagu check``, the hot reload (``reload.Reloader``),
a server start or SIGHUP (``reload.build_or_last_good``) and ``tsunagu directory import``.  The gate
replays, through the full triage of the new version (model, keywords, danger reading, policy):

- every intent's ``examples`` and ``counter_examples``;
- the labelled cases (``*.jsonl`` in ``TSUNAGU_CASES_DIR``, by default the repository's
  ``tests/data``), scored as :mod:`bot.evaluate` scores them (contacts, urgency).

Rule A (always): every danger example (an intent with ``danger:``) routes as an emergency to its
intent; no danger counter-example, and no labelled case that is not an emergency, is one.

Rule B (when there is a last good version): nothing that passed on the last good version fails now.
An item is known by a hash of its text and what it expects, so an item that was moved to another
intent or relabelled is a new item: that is how an intended change of routing is made.

No last good version (a fresh clone, an empty cache): only rule A applies, and ``tsunagu check``
reports what misses now.  The last good version is the one live (the reload compares with it) or,
for a start, SIGHUP, ``tsunagu check`` and an import, the last good copy in the cache directory
(``reload.save_snapshot``), which carries its results in ``gate.json``.

Results are kept in the cache directory per key (the files' version, the code, the cases), made
under a file lock: N workers that start or reload on the same files replay them once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import PROJECT_ROOT, Settings
from .evaluate import counter_hit, example_ok, routed_ok
from .issues import Issue
from .yamlio import line_of

log = logging.getLogger("tsunagu.gate")

#: The moment every item is replayed at (a weekday morning), so that results do not depend on when
#: an edit is made and match what the tests score.
GATE_NOW = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
#: Results kept in the cache directory (the newest; older ones are deleted).
KEEP_RESULTS = 16
#: Refusals shown on /healthz and in the log (the full list: ``tsunagu check``).
SHOWN = 5
FORMAT = 1

HINTS = {
    ("A", "example"): "命に関わる危険の例文は、かならず緊急として読まれる必要があります。今回の変更（キーワード・例文）を"
                      "見直してください。`tsunagu explain` で読み取りを確かめられます",
    ("A", "counter"): "この文は緊急ではないはずの文です。今回足したキーワードや例文が強すぎないか見直してください",
    ("A", "case"): "緊急ではない見本の相談が、緊急（110・119）として読まれるようになりました。今回の変更を見直してください",
    ("B", "example"): "前の版では正しく読めていた例文です。今回の変更で行き先が変わりました。変更を見直すか、"
                      "本当に別の種類の相談なら、例文をその種類のファイルへ移してください",
    ("B", "counter"): "前の版ではこの種類に来なかった文が、来るようになりました。今回の変更を見直してください",
    ("B", "case"): "前の版では正しく振り分けられていた見本の相談です。今回の変更を見直してください"
                   "（見本のほうが古いときは、見本のファイルを直します）",
}


@dataclass(frozen=True)
class Miss:
    """An item the version does not route as labelled (no message text: file and line say which)."""

    key: str
    kind: str        # example | counter | case
    file: str
    line: int
    label: str       # the intent, or the case id
    want: str
    got: str
    unsafe: bool     # breaks rule A


@dataclass(frozen=True)
class Evaluation:
    """Every item of one version of the files, replayed: which pass, which miss and how."""

    key: str
    version: str
    totals: dict[str, int]
    passing: frozenset[str]
    misses: tuple[Miss, ...]
    problems: tuple[Issue, ...] = ()   # unreadable case lines (skipped)

    def to_json(self) -> dict:
        return {"format": FORMAT, "key": self.key, "version": self.version, "totals": self.totals,
                "passing": sorted(self.passing), "misses": [asdict(m) for m in self.misses],
                "problems": [i.to_json() for i in self.problems]}

    @classmethod
    def from_json(cls, data: dict) -> "Evaluation":
        return cls(data["key"], data["version"], dict(data["totals"]), frozenset(data["passing"]),
                   tuple(Miss(**m) for m in data["misses"]), tuple(Issue(**i) for i in data.get("problems", ())))


@dataclass(frozen=True)
class Verdict:
    """What the gate says of one version: refused when ``issues`` is not empty."""

    evaluation: Evaluation
    baseline: str | None          # the version compared with (None: rule A only)
    issues: tuple[Issue, ...]

    @property
    def refused(self) -> bool:
        return bool(self.issues)

    def reasons(self, n: int = SHOWN) -> list[str]:
        return reasons(self.issues, n)


class Refused(Exception):
    """An edit the gate does not let go live (``issues``: errors with file and line)."""

    def __init__(self, verdict: Verdict):
        super().__init__(f"{len(verdict.issues)} item(s) would route differently: " + "; ".join(verdict.reasons()))
        self.verdict = verdict
        self.issues = list(verdict.issues)


def reasons(issues, n: int = SHOWN) -> list[str]:
    """Short lines for /healthz and the log: where, and what now happens (never a message text)."""
    out = [f"{i.file}:{i.line}: {i.message}"[:200] for i in list(issues)[:n]]
    if len(issues) > n:
        out.append(f"… and {len(issues) - n} more (tsunagu check)")
    return out


# -- the items ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    file: str
    line: int
    id: str
    text: str
    primary: str | None
    required: tuple[str, ...]
    urgency: str


def _item_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def _rel(path: Path, root: Path) -> str:
    for base in (root, PROJECT_ROOT):
        try:
            return str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def read_cases(settings: Settings) -> tuple[str, list[Case], list[Issue]]:
    """The labelled cases: (a digest of the files, the cases, problems).  A line that is not a case is
    skipped with a warning; a missing directory is a warning when it was set, else no cases."""
    cases: list[Case] = []
    problems: list[Issue] = []
    digest = hashlib.sha256()
    root = settings.intents_dir.parent
    directory = settings.cases_dir
    if directory is None:
        return digest.hexdigest(), cases, problems
    if not directory.is_dir():
        problems.append(Issue(str(directory), 0, "warning", "the labelled cases directory does not exist",
                              "TSUNAGU_CASES_DIR に、見本の相談（*.jsonl）のあるフォルダを指定してください"))
        return digest.hexdigest(), cases, problems
    for path in sorted(directory.glob("*.jsonl")):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(Issue(_rel(path, root), 0, "warning", f"cannot read: {exc.strerror}"))
            continue
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
        rel = _rel(path, root)
        for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text, urgency = obj["text"], obj["urgency"]
                primary, required = obj.get("primary"), tuple(obj.get("required") or ())
                if not (isinstance(text, str) and isinstance(urgency, str)
                        and all(isinstance(c, str) for c in required) and (primary is None or isinstance(primary, str))):
                    raise TypeError
            except (ValueError, KeyError, TypeError, AttributeError):
                problems.append(Issue(rel, n, "warning", "not a labelled case (JSON with text, urgency, primary, "
                                      "required); skipped", "eval の見本と同じ形の1行にしてください"))
                continue
            cases.append(Case(rel, n, str(obj.get("id") or f"line {n}"), text, primary, required, urgency))
    return digest.hexdigest(), cases, problems


def replay(triage, cases: list[Case], now: datetime = GATE_NOW) -> tuple[dict, set[str], list[Miss]]:
    """Every example, counter-example and case through the full triage: (totals, passing keys, misses)."""
    passing: set[str] = set()
    misses: list[Miss] = []
    totals = {"example": 0, "counter": 0, "case": 0}
    for intent in triage.intents.values():
        danger = intent.spec.danger is not None
        for n, text in enumerate(intent.spec.examples):
            totals["example"] += 1
            key = _item_key("example", intent.id, text)
            d = triage.decide(text, now=now)
            if example_ok(intent, d):
                passing.add(key)
            else:
                misses.append(Miss(key, "example", intent.file, line_of(intent.lines, ("examples", n)), intent.id,
                                   intent.id, f"{d.intent}, {d.urgency}", danger))
        for n, text in enumerate(intent.spec.counter_examples):
            totals["counter"] += 1
            key = _item_key("counter", intent.id, text)
            d = triage.decide(text, now=now)
            if not counter_hit(intent, d):
                passing.add(key)
            else:
                misses.append(Miss(key, "counter", intent.file, line_of(intent.lines, ("counter_examples", n)),
                                   intent.id, f"not {intent.id}", f"{d.intent}, {d.urgency}", danger))
    for case in cases:
        totals["case"] += 1
        key = _item_key("case", case.text, case.primary or "", ",".join(sorted(case.required)), case.urgency)
        d = triage.decide(case.text, now=now)
        contacts = list(d.contacts)
        emergency = d.urgency == "emergency"
        if routed_ok(case.primary, case.required, case.urgency, contacts, d.urgency) and \
                emergency == (case.urgency == "emergency"):
            passing.add(key)
        else:
            misses.append(Miss(key, "case", case.file, case.line, case.id, f"{case.primary or '-'}, {case.urgency}",
                               f"{contacts[0] if contacts else 'no contact'}, {d.urgency}, {d.intent}",
                               emergency and case.urgency != "emergency"))
    return totals, passing, misses


# -- results, kept per key ------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def code_key() -> str:
    """The code that decides (all of bot/) and the libraries it stands on."""
    import numpy
    import sklearn
    import sudachidict_core
    import sudachipy

    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.rglob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    for part in (sklearn.__version__, numpy.__version__, sudachipy.__version__,
                 getattr(sudachidict_core, "__version__", ""), GATE_NOW.isoformat()):
        h.update(str(part).encode())
    return h.hexdigest()[:16]


def result_key(version: str, cases_digest: str) -> str:
    return hashlib.sha256(f"{FORMAT}|{version}|{code_key()}|{cases_digest}".encode()).hexdigest()[:16]


_memo: dict[str, Evaluation] = {}


def _remember(ev: Evaluation) -> Evaluation:
    if len(_memo) >= 8:
        _memo.pop(next(iter(_memo)))
    _memo[ev.key] = ev
    return ev


def read_result(path: Path, key: str) -> Evaluation | None:
    """The results in ``path`` if they are for ``key`` (else None: made again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") == FORMAT and data.get("key") == key:
            return Evaluation.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("gate results in %s could not be read; replaying again", path.name)
    return None


def write_result(path: Path, ev: Evaluation) -> None:
    """Written to a temp file, then renamed (readers see all or nothing); never fatal."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gate-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(ev.to_json(), f, ensure_ascii=False)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        log.warning("could not keep the gate results in %s", path.parent, exc_info=True)


def evaluate(loaded, settings: Settings) -> Evaluation:
    """Replay every item on ``loaded`` (a ``knowledge.Loaded``); kept per key, made once across processes."""
    from .cache_lock import cache_lock

    digest, cases, problems = read_cases(settings)
    key = result_key(loaded.version, digest)
    if key in _memo:
        return _memo[key]
    path = settings.cache_dir / f"gate-{key}.json"
    found = read_result(path, key)
    if found is None:
        with cache_lock(settings.cache_dir, f"gate-{key}"):
            found = read_result(path, key)     # another process may have made it while this one waited
            if found is None:
                started = time.monotonic()
                totals, passing, misses = replay(loaded.triage, cases)
                found = Evaluation(key, loaded.version, totals, frozenset(passing), tuple(misses), tuple(problems))
                write_result(path, found)
                _prune(settings.cache_dir)
                log.info("gate: %d items replayed on version %s in %.1f s, %d miss",
                         sum(totals.values()), loaded.version, time.monotonic() - started, len(misses))
    return _remember(found)


def _prune(cache_dir: Path) -> None:
    try:
        for old in sorted(cache_dir.glob("gate-*.json"), key=lambda p: p.stat().st_mtime)[:-KEEP_RESULTS]:
            old.unlink(missing_ok=True)
            old.with_suffix(".lock").unlink(missing_ok=True)
    except OSError:
        pass


def last_good(settings: Settings) -> Evaluation | None:
    """The results of the last good copy of the files (None: there is none).  Read from its
    ``gate.json`` when they were made by this code on these cases, else replayed once on the copy."""
    from .triage import KnowledgeError, load
    from .reload import snapshot_dir

    snap = snapshot_dir(settings)
    if not (snap / "intents").is_dir():
        return None
    version = snap.resolve().name.removeprefix("last-good-")
    digest, _, _ = read_cases(settings)
    key = result_key(version, digest)
    if key in _memo:
        return _memo[key]
    found = read_result(snap / "gate.json", key) or read_result(settings.cache_dir / f"gate-{key}.json", key)
    if found is not None:
        return _remember(found)
    log.info("gate: replaying the last good version %s (made by other code or on other cases)", version)
    try:
        loaded = load(replace(settings, intents_dir=snap / "intents", responses_dir=snap / "responses"))
    except KnowledgeError:
        log.warning("the last good copy in %s does not load; comparing with nothing", snap.resolve())
        return None
    ev = evaluate(loaded, settings)
    if ev.version != version:   # the copy's files hash to another id (renamed dirs): keep it under both
        ev = _remember(replace(ev, key=key, version=version))
    write_result(snap / "gate.json", ev)
    return ev


# -- the rules --------------------------------------------------------------------------------------------
def judge(current: Evaluation, baseline: Evaluation | None) -> Verdict:
    """Rule A on ``current``; rule B against ``baseline`` (same files: nothing to compare)."""
    issues: list[Issue] = []
    compare = baseline is not None and baseline.version != current.version
    for m in current.misses:
        if m.unsafe:
            issues.append(Issue(m.file, m.line, "error", _message("A", m), HINTS[("A", m.kind)]))
        elif compare and m.key in baseline.passing:
            issues.append(Issue(m.file, m.line, "error", _message("B", m), HINTS[("B", m.kind)]))
    issues.sort(key=lambda i: (i.file, i.line))
    return Verdict(current, baseline.version if baseline else None, tuple(issues))


def _message(rule: str, m: Miss) -> str:
    if rule == "A":
        return {"example": f"danger example is not an emergency (→ {m.got})",
                "counter": f"danger counter-example routes here as an emergency (→ {m.got})",
                "case": f"case {m.label} is not an emergency but now routes as one (→ {m.got})"}[m.kind]
    return {"example": f"example of {m.label} routed there on the last good version, now → {m.got}",
            "counter": f"counter-example routes to {m.label} now ({m.got}); it did not on the last good version",
            "case": f"case {m.label} routed as labelled ({m.want}) on the last good version, now → {m.got}"}[m.kind]


def admit(loaded, settings: Settings, baseline: Evaluation | None = None, *, against_last_good: bool = True) -> Verdict:
    """The gate's verdict on ``loaded``: against ``baseline`` if given, else the last good copy."""
    current = evaluate(loaded, settings)
    if baseline is None and against_last_good:
        baseline = last_good(settings)
    return judge(current, baseline)


def summary(verdict: Verdict) -> Issue | None:
    """For ``tsunagu check`` with nothing to compare with: what misses now (rule B is not applied)."""
    if verdict.baseline is not None:
        return None
    ev = verdict.evaluation
    ex = [m for m in ev.misses if m.kind == "example"]
    cs = [m for m in ev.misses if m.kind == "case"]
    first = ", ".join(f"{m.file}:{m.line}" for m in (ex[:3] + cs[:3]))
    return Issue("(gate)", 0, "warning",
                 f"no last good version to compare with: only the danger rules were applied. Now "
                 f"{ev.totals['example'] - len(ex)}/{ev.totals['example']} examples and "
                 f"{ev.totals['case'] - len(cs)}/{ev.totals['case']} labelled cases route as labelled"
                 + (f" (misses: {first}{' …' if len(ex) + len(cs) > 6 else ''})" if first else ""),
                 "サーバーが一度正しく読み込むと、その版と比べて「前は正しかったのに変わったもの」も止めるようになります。"
                 "いまの取り違えの一覧は `tsunagu test --cases <file>` で見られます")
