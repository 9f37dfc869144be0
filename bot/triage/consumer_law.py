"""Consumer-law points for a reply: cooling-off deadlines and the rules around them.

The words and sources live in ``responses/consumer_law.yml`` (read by :mod:`bot.triage.loader`);
this module checks and parses its text, picks the contract date, computes the deadline and
fills the templates.  Pure: it reads no file.

Deadline rule (anchors.md §B2): the period counts the day the contract document is
received as day 1, so 8 days from 11/20 ends on 11/27.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

import yaml

from .facts import DateMention

#: Ids the code itself refers to (the minor / adult switch).
MINOR = "minor_cancel"
ADULT = "minor_cancel_adult"
REQUIRED_IDS = (MINOR, ADULT)

TEMPLATE_KEYS = ("running", "last_day", "passed", "unknown")
#: Placeholders each deadline template may use.
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "running": frozenset({"days", "deadline", "days_left", "contract_date"}),
    "last_day": frozenset({"days", "deadline", "contract_date"}),
    "passed": frozenset({"days", "deadline", "contract_date"}),
    "unknown": frozenset({"days"}),
}
POINT_KEYS = frozenset({"id", "title", "text", "days", "source"})


class Issue(NamedTuple):
    """A problem in the law file, reported as ``file:line: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class LawPoint:
    """One rendered law point, ready for the reply."""

    id: str
    title: str
    text: str
    deadline: date | None = None
    days_left: int | None = None  # negative once the deadline has passed
    running: bool = False         # a cooling-off period is still open -> urgent
    source: str = ""              # URL(s), space-separated
    deadline_text: str = ""       # the sentence about the period (running / last day / passed / unknown)

    @property
    def full(self) -> str:
        """Explanation and period sentence together."""
        return f"{self.text}\n{self.deadline_text}" if self.deadline_text else self.text


@dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    title: str
    text: str
    sources: tuple[str, ...]
    days: int | None = None


def format_date(d: date, today: date) -> str:
    """``11月30日``; ``2027年1月4日`` when the year differs from today's."""
    md = f"{d.month}月{d.day}日"
    return md if d.year == today.year else f"{d.year}年{md}"


def cooling_off_deadline(received: date, days: int) -> date:
    """Last day of a ``days``-day period whose day 1 is ``received``."""
    return received + timedelta(days=days - 1)


def contract_date(dates: Sequence[DateMention], today: date) -> date | None:
    """The most recent exact date mention not after ``today`` that may be the contract's.

    Approximate mentions (先月, 先週) give no exact deadline, so they yield None; a date the
    extractor found apart from the signing the message tells of (``contract is False``:
    「今日は相談があります。母が契約しました」) is not the contract's either.
    """
    exact = [m.date for m in dates if not m.approximate and m.date <= today and m.contract is not False]
    return max(exact, default=None)


class LawBook:
    """The law points of one file, rendered on demand."""

    def __init__(self, entries: Iterable[_Entry], templates: Mapping[str, str], template_sources: Sequence[str] = ()):
        self._entries = {e.id: e for e in entries}
        self._templates = dict(templates)
        self._template_sources = tuple(template_sources)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LawBook:
        """Build from the parsed YAML (assumed valid; see :func:`validate`)."""
        tpl = data.get("deadline") or {}
        entries = [
            _Entry(
                id=p["id"], title=p["title"], text=p["text"],
                sources=tuple(_as_list(p.get("source"))), days=p.get("days"),
            )
            for p in data.get("points") or []
        ]
        return cls(entries, {k: tpl[k] for k in TEMPLATE_KEYS if k in tpl}, _as_list(tpl.get("source")))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, point_id: object) -> bool:
        return point_id in self._entries

    def points(
        self, ids: Iterable[str], *, contract_date: date | None, today: date, minor: bool | None = None
    ) -> list[LawPoint]:
        """Render ``ids`` in order (duplicates dropped).

        ``minor`` True/False swaps ``minor_cancel_adult`` / ``minor_cancel`` for the
        variant that fits; None renders exactly what was asked.  Unknown ids raise KeyError.
        """
        out: list[LawPoint] = []
        seen: set[str] = set()
        for pid in ids:
            if minor is True and pid == ADULT:
                pid = MINOR
            elif minor is False and pid == MINOR:
                pid = ADULT
            if pid in seen:
                continue
            seen.add(pid)
            entry = self._entries.get(pid)
            if entry is None:
                raise KeyError(f"unknown consumer-law point: {pid!r}")
            out.append(self._render(entry, contract_date, today))
        return out

    def _render(self, e: _Entry, contract: date | None, today: date) -> LawPoint:
        if e.days is None:
            return LawPoint(e.id, e.title, e.text.format(), source=" ".join(e.sources))
        values: dict[str, Any] = {"days": e.days}
        deadline = days_left = None
        if contract is None:
            key = "unknown"
        else:
            deadline = cooling_off_deadline(contract, e.days)
            days_left = (deadline - today).days
            key = "running" if days_left > 0 else "last_day" if days_left == 0 else "passed"
            values |= {
                "deadline": format_date(deadline, today),
                "days_left": days_left,
                "contract_date": format_date(contract, today),
            }
        note = self._templates.get(key)
        sources = list(dict.fromkeys(e.sources + self._template_sources))
        return LawPoint(
            e.id, e.title, e.text.format_map(values), deadline=deadline, days_left=days_left,
            running=days_left is not None and days_left >= 0, source=" ".join(sources),
            deadline_text=note.format_map(values) if note else "",
        )


def parse_law(file: str, text: str) -> LawBook:
    """The law book of a file's text; raise ValueError listing every problem if it is invalid."""
    issues = validate(file, text)
    if issues:
        raise ValueError("\n".join(map(str, issues)))
    return LawBook.from_dict(yaml.safe_load(text))


# ---------------------------------------------------------------- validation


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _fields(template: str) -> set[str] | None:
    """Placeholder names in ``template``; None when the braces are malformed."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        return None


def _by_key(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    return {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _check_text(file: str, node: yaml.Node, allowed: frozenset[str], what: str) -> list[Issue]:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        return [Issue(file, line, f"{what} must be non-empty text")]
    names = _fields(node.value)
    if names is None:
        return [Issue(file, line, f"{what}: unbalanced {{ or }}")]
    return [Issue(file, line, f"{what}: unknown placeholder {{{n}}}") for n in sorted(names - allowed)]


def _check_sources(file: str, node: yaml.Node | None, line: int, what: str) -> list[Issue]:
    if node is None:
        return [Issue(file, line, f"{what}: missing source")]
    items = [node] if isinstance(node, yaml.ScalarNode) else getattr(node, "value", [])
    if not isinstance(node, (yaml.ScalarNode, yaml.SequenceNode)) or not items:
        return [Issue(file, node.start_mark.line + 1, f"{what}: source must be a URL or a list of URLs")]
    return [
        Issue(file, n.start_mark.line + 1, f"{what}: source is not an http(s) URL: {getattr(n, 'value', n)!r}")
        for n in items
        if not (isinstance(n, yaml.ScalarNode) and str(n.value).startswith(("http://", "https://")))
    ]


def validate(file: str, text: str) -> list[Issue]:
    """Check the text of a law file: structure, ids, days, sources and placeholders."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [Issue(file, mark.line + 1 if mark else 0, f"YAML error: {exc}")]
    if not isinstance(root, yaml.MappingNode):
        return [Issue(file, 1, "top level must be a mapping with 'points' (and 'deadline')")]
    top = _by_key(root)
    issues: list[Issue] = []

    points = top.get("points")
    if not isinstance(points, yaml.SequenceNode) or not points.value:
        return [Issue(file, 1, "'points' must be a non-empty list")]
    seen: dict[str, int] = {}
    any_days = False
    for item in points.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            issues.append(Issue(file, line, "a point must be a mapping"))
            continue
        p = _by_key(item)
        pid = p["id"].value if isinstance(p.get("id"), yaml.ScalarNode) else None
        what = f"point {pid or '?'}"
        if not pid:
            issues.append(Issue(file, line, "point without an id"))
        elif pid in seen:
            issues.append(Issue(file, line, f"duplicate id {pid!r} (first on line {seen[pid]})"))
        else:
            seen[pid] = line
        issues += [Issue(file, line, f"{what}: unknown key {k!r}") for k in sorted(set(p) - POINT_KEYS)]
        days = p.get("days")
        if days is not None:
            any_days = True
            if days.tag != "tag:yaml.org,2002:int" or not str(days.value).isdigit() or int(days.value) <= 0:
                issues.append(Issue(file, days.start_mark.line + 1, f"{what}: days must be a positive whole number"))
        for key in ("title", "text"):
            if key not in p:
                issues.append(Issue(file, line, f"{what}: missing {key}"))
        if "title" in p:
            issues += _check_text(file, p["title"], frozenset(), f"{what} title")
        if "text" in p:
            allowed = frozenset({"days"}) if days is not None else frozenset()
            issues += _check_text(file, p["text"], allowed, f"{what} text")
        issues += _check_sources(file, p.get("source"), line, what)
    issues += [Issue(file, 1, f"required point {rid!r} is missing") for rid in REQUIRED_IDS if rid not in seen]

    tpl = top.get("deadline")
    if tpl is None:
        if any_days:
            issues.append(Issue(file, 1, "points have days but there are no 'deadline' templates"))
    elif not isinstance(tpl, yaml.MappingNode):
        issues.append(Issue(file, tpl.start_mark.line + 1, "'deadline' must be a mapping"))
    else:
        t = _by_key(tpl)
        line = tpl.start_mark.line + 1
        for key in TEMPLATE_KEYS:
            if key in t:
                issues += _check_text(file, t[key], TEMPLATE_FIELDS[key], f"deadline {key}")
            else:
                issues.append(Issue(file, line, f"deadline: missing template {key!r}"))
        extra = set(t) - set(TEMPLATE_KEYS) - {"source"}
        issues += [Issue(file, line, f"deadline: unknown key {k!r}") for k in sorted(extra)]
        issues += _check_sources(file, t.get("source"), line, "deadline")
    issues += [Issue(file, 1, f"unknown top-level key {k!r}") for k in sorted(set(top) - {"points", "deadline"})]
    return issues
