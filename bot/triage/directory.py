"""The contact directory: which window to call, for which worry, where the family lives.

Facts (names, numbers, hours, sources) are the CSV rows in ``responses/directory/``;
the rules and the words the family reads are in ``responses/contacts.yml``.  Both are read
by :mod:`bot.triage.loader` and given here parsed (:func:`build_directory`); every lookup is
pure, and no number is ever made up: a window's phone is always a CSV row's number, reformatted.

Phone links: LINE's URI action accepts ``http``, ``https`` and ``tel`` URIs. In a URI
``#`` starts a fragment, so ``#9110`` becomes ``tel:%239110`` (RFC 3966). The iPhone
Phone app does not dial ``tel:`` links that contain ``*`` or ``#`` (Apple's "Phone Links"
reference, https://developer.apple.com/library/archive/featuredarticles/iPhoneURLScheme_Reference/PhoneLinks/PhoneLinks.html,
confirmed for current iOS in https://developer.apple.com/forums/thread/780703), so such a number
is not :attr:`Phone.tappable`: the card shows it as text to dial by hand, never a button that fails.
National numbers use the digits as dialled in Japan (``tel:0749230999``): 0120 and
0570 numbers are domestic services, not meant for the ``+81`` form.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import phonenumbers

from ..hours import Schedule, parse_hours
from ..issues import Issue
from .facts import Area
from ..yamlio import line_of
from .consumer_groups import ConsumerGroups, build_consumer_groups, group_files

CONTACTS_FILE = "contacts.yml"
DIRECTORY = "directory"
#: The contact ids of DESIGN.md (a public contract: they must all exist).
REQUIRED_CONTACTS = ("consumer_center", "police_consult", "emergency_110", "emergency_119", "crisis_line",
                     "hikikomori_center", "legal_aid", "youth_center", "saposute", "education_support")
#: Numbers dialled without an area code. ``phonenumbers`` does not know 188 or #9110.
SHORT_CODES = frozenset({"110", "119", "188", "189", "#9110"})
LEVEL_NOTES = ("municipal", "prefectural", "prefectural_no_municipal", "prefectural_unlisted_municipal",
               "national_no_local", "national_no_area")
PLACEHOLDERS = frozenset({"pref", "municipality", "place", "name"})
MAX_WINDOWS = 3
#: Longest ``why`` line (characters) that still reads as one line on the card of a phone.
WHY_MAX = 30

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―ー−().・]")
# Phone-like strings in contacts.yml text, checked against the CSVs (never invent a number).
_NUMBER_IN_TEXT = re.compile(r"#\d{3,4}|0\d{1,4}-\d{1,4}-\d{3,4}|0\d{9,10}|(?<![\d〜~-])1\d\d(?![\d〜~-]|[か歳時日円件人分年月代])")


@dataclass(frozen=True, slots=True)
class Phone:
    digits: str     # "0749230999", or a short code: "188", "#9110"
    display: str    # "0749-23-0999"
    tel_uri: str    # "tel:0749230999", "tel:%239110"

    @property
    def tappable(self) -> bool:
        """A tap-to-call link works on every phone (iPhone does not dial links with ``#`` or ``*``)."""
        return not any(c in self.digits for c in "#*")


def format_phone(raw: str) -> Phone | None:
    """A valid Japanese number or short code, formatted; None for anything else.

    The source files' hyphens are ignored (some are misplaced): ``074-923-0999`` is
    shown as ``0749-23-0999``. A number without its area code (``225-3300``) is None.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip()
    compact = _SEPARATORS.sub("", text)
    if compact in SHORT_CODES:
        return Phone(compact, compact, "tel:" + compact.replace("#", "%23"))
    if not re.fullmatch(r"\+?\d{10,13}", compact):
        return None
    try:
        number = phonenumbers.parse(compact, "JP")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 81 or not phonenumbers.is_valid_number(number):
        return None
    digits = "0" + phonenumbers.national_significant_number(number)
    display = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return Phone(digits, display, "tel:" + digits)


@dataclass(frozen=True, slots=True)
class Entry:
    """One CSV row: a window with its source."""

    file: str                   # path as shown in issues: "responses/directory/x.csv"
    line: int
    key: str                    # national row id, or "x.csv:line"
    national: bool
    name: str
    raw_phone: str
    phone: Phone | None
    hours_text: str
    schedule: Schedule | None
    source_url: str
    note: str                   # retrieved_note / notes
    pref_code: str = ""
    pref: str = ""
    municipality: str = ""
    tags: frozenset[str] = frozenset()       # also_contact_ids
    excludes: frozenset[str] = frozenset()   # excludes_municipalities

    def is_open(self, now: datetime) -> bool | None:
        return self.schedule.is_open(now) if self.schedule else None


@dataclass(frozen=True, slots=True)
class Window:
    """One place to call (or, level "guide", how to find one), most important first."""

    contact_id: str
    name: str
    level: str              # "municipal" | "prefectural" | "national" | "guide"
    phone: Phone | None     # None only for level "guide"
    hours_text: str
    open_now: bool | None
    note: str
    source_url: str | None
    hours: str = ""         # short display (from the parsed schedule), "" when the text can't be read
    why: str = ""           # one plain line: what this window is for (contacts.yml ``why``, else ``explain``)
    url: str = ""           # a page for the family (guides with ``url:`` in contacts.yml), else ""


@dataclass(frozen=True, slots=True)
class RowRef:
    row: str
    note: str = ""
    prefs: frozenset[str] | None = None       # only for these prefectures (or when the area is unknown)
    not_prefs: frozenset[str] = frozenset()   # not for these prefectures

    def applies(self, area: Area | None) -> bool:
        if area is None:
            return True
        return (self.prefs is None or area.pref_code in self.prefs) and area.pref_code not in self.not_prefs


@dataclass(frozen=True, slots=True)
class Guide:
    name: str
    note: str
    when: str = "always"    # "always" | "no_local"
    source_row: str = ""
    url: str = ""           # a page for the family (shown as a button); only an official page


@dataclass(frozen=True, slots=True)
class ContactSpec:
    """How one contact id is resolved and worded (from contacts.yml)."""

    id: str
    label: str
    explain: str
    why: str = ""           # one short line for the card; ``explain`` when empty
    local_file: str = ""
    local_tag: str = ""
    national: tuple[RowRef, ...] = ()
    backup: tuple[RowRef, ...] = ()
    after_hours: tuple[RowRef, ...] = ()
    guides: tuple[Guide, ...] = ()
    notes: Mapping[str, str] = field(default_factory=dict)
    closed: str = ""
    unlisted: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class _Local:
    entry: Entry | None
    reason: str             # a LEVEL_NOTES key
    unlisted: Entry | None  # a matching row that has no usable number


class Directory:
    """Loaded directory; build it with :func:`load_directory`."""

    def __init__(self, entries: Mapping[str, list[Entry]], local_files: Iterable[str],
                 contacts: Mapping[str, ContactSpec], issues: list[Issue], contacts_file: str,
                 groups: ConsumerGroups | None = None):
        self.groups = groups    # 適格消費者団体 (consumer_groups.csv); None without a consumer_groups: section
        self.entries = tuple(e for rows in entries.values() for e in rows)
        self._national = {e.key: e for e in self.entries if e.national}
        self._local = {f: entries.get(f, []) for f in local_files}
        self._contacts = dict(contacts)
        self._load_issues = issues
        self._contacts_file = contacts_file

    def contact_ids(self) -> list[str]:
        return list(self._contacts)

    def contact(self, contact_id: str) -> ContactSpec:
        """Label and explanation of a contact id; KeyError when unknown."""
        return self._contacts[contact_id]

    def windows(self, contact_id: str, area: Area | None, now: datetime) -> list[Window]:
        """Where to call for ``contact_id``; the first window is the one to call first."""
        spec = self._contacts[contact_id]
        local = self._find_local(spec, area) if spec.local_file and area else _Local(None, "", None)
        out: list[Window] = []
        if local.entry:
            note = self._note(spec, local.reason, area, local.unlisted or local.entry)
            out.append(self._window(spec, local.entry, _level(local.reason), note, now))
        fallback = "" if local.entry or not spec.local_file else ("national_no_local" if area else "national_no_area")
        for ref in spec.backup if local.entry else spec.national:
            entry = self._national.get(ref.row)
            if ref.applies(area) and entry and entry.phone:
                lead = "" if out else self._note(spec, fallback, area, entry)
                out.append(self._window(spec, entry, "national", lead + ref.note, now))
        named = None if local.entry or not spec.unlisted else local.unlisted
        if named:
            place = named.municipality or named.pref
            note = _fill_or_blank(spec.unlisted, {"name": named.name, "place": place, "pref": named.pref,
                                         "municipality": place})
            out.append(Window(spec.id, named.name, "guide", None, "", None, note, named.source_url,
                              why=spec.why or spec.explain))
        for guide in spec.guides:
            if guide.when == "always" or not (local.entry or named):
                source = self._national.get(guide.source_row)
                out.append(Window(spec.id, guide.name, "guide", None, "", None, guide.note,
                                  source.source_url if source else None, why=spec.why or spec.explain,
                                  url=guide.url))
        return self._after_hours(spec, out, area, now)[:MAX_WINDOWS]

    def validate(self) -> list[Issue]:
        """Problems in the CSVs and contacts.yml, errors first."""
        issues = list(self._load_issues)
        national_ids: dict[str, int] = {}
        for e in self.entries:
            issues.extend(_check_entry(e, self._contacts))
            if e.national:
                if e.key in national_ids:
                    issues.append(Issue(e.file, e.line, "error", f"duplicate id {e.key!r} (first on line "
                                                                 f"{national_ids[e.key]})", "idを一つにしてください"))
                national_ids.setdefault(e.key, e.line)
        known = {e.phone.digits for e in self.entries if e.phone}
        for spec in self._contacts.values():
            issues.extend(self._check_spec(spec, known))
        if self.groups is not None:
            issues.extend(self.groups.validate())
        missing = [c for c in REQUIRED_CONTACTS if c not in self._contacts]
        issues.extend(Issue(self._contacts_file, 1, "error", f"contact id {c!r} is missing",
                            "この窓口idはほかのプログラムも使う決まった名前です。消さずに contacts: に書いてください") for c in missing)
        return sorted(set(issues), key=lambda i: (i.severity != "error", i.file, i.line, i.message))

    # -- resolution -------------------------------------------------------------------------------

    def _find_local(self, spec: ContactSpec, area: Area) -> _Local:
        rows = [e for e in self._local.get(spec.local_file, ())
                if e.pref_code == area.pref_code and (not spec.local_tag or spec.local_tag in e.tags)]
        names = [n for n in (area.municipality, area.city) if n]
        municipal = sorted((e for e in rows if e.municipality and e.municipality in names),
                           key=lambda e: names.index(e.municipality))
        prefectural = [e for e in rows if not e.municipality and not (set(names) & e.excludes)]
        for e in municipal:
            if e.phone:
                return _Local(e, "municipal", None)
        if not names:
            reason = "prefectural"
        else:
            reason = "prefectural_unlisted_municipal" if municipal else "prefectural_no_municipal"
        for e in prefectural:
            if e.phone:
                return _Local(e, reason, municipal[0] if municipal else None)
        return _Local(None, "", (municipal or prefectural or [None])[0])

    def _note(self, spec: ContactSpec, key: str, area: Area | None, entry: Entry) -> str:
        """The contacts.yml note saying why this level was chosen (``entry``: the row it is about)."""
        template = spec.notes.get(key, "") if key else ""
        if not template or area is None:
            return _fill_or_blank(template, {"name": entry.name})
        municipality = entry.municipality or area.city or area.municipality or ""
        return _fill_or_blank(template, {"pref": area.pref, "municipality": municipality,
                                "place": municipality or area.pref, "name": entry.name})

    def _window(self, spec: ContactSpec, entry: Entry, level: str, note: str, now: datetime) -> Window:
        return Window(spec.id, entry.name, level, entry.phone, entry.hours_text, entry.is_open(now), note,
                      entry.source_url, entry.schedule.describe() if entry.schedule else "", spec.why or spec.explain)

    def _after_hours(self, spec: ContactSpec, out: list[Window], area: Area | None, now: datetime) -> list[Window]:
        """When the first window is closed, say so and add what still works now (from contacts.yml)."""
        if not out or out[0].open_now is not False:
            return out
        out = [replace(out[0], note=out[0].note + spec.closed)] + out[1:]
        for ref in (r for r in spec.after_hours if r.applies(area)):
            entry = self._national.get(ref.row)
            if not entry or not entry.phone or entry.is_open(now) is not True:
                continue
            extra = self._window(spec, entry, "national", ref.note, now)
            same = next((i for i, w in enumerate(out) if i and w.phone and w.phone.digits == entry.phone.digits), None)
            if same is None:
                out.insert(1, extra)
            else:
                out[same] = extra
            break
        return out

    # -- validation -------------------------------------------------------------------------------

    def _check_spec(self, spec: ContactSpec, known_numbers: set[str]) -> list[Issue]:
        f, line = self._contacts_file, spec.line
        out: list[Issue] = []
        for ref in spec.national + spec.backup + spec.after_hours:
            entry = self._national.get(ref.row)
            if entry is None:
                out.append(Issue(f, line, "error", f"{spec.id}: unknown national row id {ref.row!r}",
                                 "national_contacts.csv / national_extra.csv の id を書いてください"))
            elif entry.phone is None:
                out.append(Issue(f, line, "error", f"{spec.id}: row {ref.row!r} has no usable phone number",
                                 "電話番号のある行を指定してください（番号のない窓口は guides に書きます）"))
        for ref in spec.after_hours:
            entry = self._national.get(ref.row)
            if entry and entry.schedule is None:
                out.append(Issue(f, line, "warning", f"{spec.id}: after-hours row {ref.row!r} has no readable hours",
                                 "受付時間が読めないと、時間外の案内に使えません"))
        for guide in spec.guides:
            if guide.when not in ("always", "no_local"):
                out.append(Issue(f, line, "error", f"{spec.id}: guide {guide.name!r} has when: {guide.when!r}",
                                 "when: には always か no_local を書きます"))
            if guide.source_row and guide.source_row not in self._national:
                out.append(Issue(f, line, "error", f"{spec.id}: unknown source_row {guide.source_row!r}"))
            if guide.url and not guide.url.startswith("https://"):
                out.append(Issue(f, line, "error", f"{spec.id}: guide {guide.name!r} url is not an https:// address",
                                 "url: にはご家族が開ける公式ページの https:// アドレスを書きます"))
        for key in sorted(set(spec.notes) - set(LEVEL_NOTES)):
            out.append(Issue(f, line, "error", f"{spec.id}: unknown note {key!r}",
                             "notes: に使える名前は " + ", ".join(LEVEL_NOTES)))
        if spec.local_file and not all(spec.notes.get(k) for k in LEVEL_NOTES):
            out.append(Issue(f, line, "warning", f"{spec.id}: some notes are empty; the family is not told why "
                                                 "this window was chosen", "notes: の文言をそろえてください"))
        if spec.local_file and spec.local_file not in self._local:
            out.append(Issue(f, line, "error", f"{spec.id}: {spec.local_file!r} is not listed under files: local"))
        if not spec.why:
            out.append(Issue(f, line, "warning", f"{spec.id}: no why line; the card shows the longer explain",
                             "why: に、この窓口が何をしてくれるかを短い1行で書いてください"))
        elif len(spec.why) > WHY_MAX:
            out.append(Issue(f, line, "warning", f"{spec.id}: why is {len(spec.why)} characters (card line: at most {WHY_MAX})",
                             "why: はカードに1行で出ます。短くしてください"))
        texts = [spec.label, spec.explain, spec.why, spec.closed, spec.unlisted, *spec.notes.values(),
                 *(r.note for r in spec.national + spec.backup + spec.after_hours), *(g.note for g in spec.guides),
                 *(g.name for g in spec.guides)]
        for text in texts:
            for name in _fields(text) - PLACEHOLDERS:
                out.append(Issue(f, line, "error", f"{spec.id}: unknown placeholder {{{name}}}",
                                 "使えるのは {pref} {municipality} {place} {name} です"))
            for number in _NUMBER_IN_TEXT.findall(text):
                phone = format_phone(number)
                if phone is None or phone.digits not in known_numbers:
                    out.append(Issue(f, line, "error", f"{spec.id}: number {number!r} is not in any directory CSV",
                                     "番号は出典のあるCSVの行から。文言に新しい番号を書かないでください"))
        return out


def listed_files(data: Any, contacts_file: str) -> tuple[list[str], list[str]]:
    """The national and local CSV files ``contacts.yml`` lists (the loader reads them)."""
    if not isinstance(data, dict):
        raise ValueError(f"{contacts_file}: must be a mapping with files:, notes: and contacts:")
    files = data.get("files") or {}
    return list(files.get("national") or []), list(files.get("local") or [])


#: A CSV as the loader read it: (name in contacts.yml, file for issues, [(line, row)]), or None when missing.
CsvFile = tuple[str, str, list[tuple[int, dict[str, str]]]]


def build_directory(data: Any, lines: dict, csv_files: list[CsvFile | tuple[str, None, None]],
                    contacts_file: str) -> Directory:
    """The directory of a parsed ``contacts.yml`` and the CSV rows it lists (a file absent: ``None`` rows);
    the files of its ``consumer_groups:`` section (:func:`group_files`) are among ``csv_files``."""
    national_files, local_files = listed_files(data, contacts_file)
    names = group_files(data)
    groups = None
    if names is not None:
        found = {name: (file or f"{DIRECTORY}/{name}", rows) for name, file, rows in csv_files}
        groups = build_consumer_groups(data["consumer_groups"], line_of(lines, ("consumer_groups",)), contacts_file,
                                       found.get(names[0], (names[0], None)), found.get(names[1], (names[1], None)))
        csv_files = [c for c in csv_files if c[0] not in names]
    issues: list[Issue] = []
    entries: dict[str, list[Entry]] = {}
    for name, file, rows in csv_files:
        if rows is None:
            issues.append(Issue(contacts_file, line_of(lines, ("files",)), "error", f"{name}: file not found",
                                f"{DIRECTORY}/ に置いてください"))
            continue
        entries[name] = _entries(name, file, rows, national=name in national_files)
    notes = {k: str(v) for k, v in (data.get("notes") or {}).items()}
    closed = str(data.get("closed") or "")
    contacts: dict[str, ContactSpec] = {}
    for cid, raw in (data.get("contacts") or {}).items():
        line = line_of(lines, ("contacts", cid))
        try:
            contacts[cid] = _spec(cid, raw, notes, closed, line)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            issues.append(Issue(contacts_file, line, "error", f"{cid}: {exc}",
                                "label, explain と national / local / guides の書き方を確かめてください"))
    return Directory(entries, local_files, contacts, issues, contacts_file, groups)


def _entries(name: str, file: str, rows: list[tuple[int, dict[str, str]]], national: bool) -> list[Entry]:
    """The rows of one CSV (``name``: its file name; ``file``: its path for issues) as entries."""
    out: list[Entry] = []
    for line, raw in rows:
        row = {k: (v or "").strip() for k, v in raw.items() if k}
        raw_phone, hours = row.get("phone", ""), row.get("hours", "")
        out.append(Entry(
            file=file, line=line, national=national,
            key=row.get("id", "") if national else f"{name.rsplit('/', 1)[-1]}:{line}",
            name=row.get("name", ""), raw_phone=raw_phone, phone=format_phone(raw_phone) if raw_phone else None,
            hours_text=hours, schedule=parse_hours(hours) if hours else None,
            source_url=row.get("source_url", ""), note=row.get("notes", row.get("retrieved_note", "")),
            pref_code=row.get("pref_code", ""), pref=row.get("pref", ""),
            municipality=row.get("municipality", ""),
            tags=_split(row.get("also_contact_ids", "")), excludes=_split(row.get("excludes_municipalities", "")),
        ))
    return out


def _spec(cid: str, raw: Any, notes: Mapping[str, str], closed: str, line: int) -> ContactSpec:
    if not isinstance(raw, dict):
        raise ValueError("must be a mapping")
    for key in ("label", "explain"):
        if not str(raw.get(key) or "").strip():
            raise ValueError(f"{key} is missing")
    local = raw.get("local") or {}
    return ContactSpec(
        id=cid, label=str(raw["label"]), explain=str(raw["explain"]), why=str(raw.get("why") or ""),
        local_file=str(local.get("file", "")), local_tag=str(local.get("tag", "")),
        national=_refs(raw.get("national")), backup=_refs(raw.get("backup")),
        after_hours=_refs(raw.get("after_hours")),
        guides=tuple(Guide(str(g["name"]), str(g["note"]), str(g.get("when", "always")), str(g.get("source_row", "")),
                           str(g.get("url") or "")) for g in raw.get("guides") or ()),
        notes={**notes, **{k: str(v) for k, v in (raw.get("notes") or {}).items()}},
        closed=str(raw.get("closed", closed)), unlisted=str(raw.get("unlisted", "")), line=line,
    )


def _refs(raw: Any) -> tuple[RowRef, ...]:
    out = []
    for item in raw or ():
        item = {"row": item} if isinstance(item, str) else item
        prefs = item.get("prefs")
        out.append(RowRef(str(item["row"]), str(item.get("note", "")),
                          frozenset(map(str, prefs)) if prefs is not None else None,
                          frozenset(map(str, item.get("not_prefs") or ()))))
    return tuple(out)


def _check_entry(e: Entry, contacts: Mapping[str, ContactSpec]) -> list[Issue]:
    out: list[Issue] = []
    if not e.source_url:
        out.append(Issue(e.file, e.line, "error", f"{e.name or e.key}: source_url is empty",
                         "出典のURLを書いてください。出典のない番号は載せません"))
    if not e.note:
        out.append(Issue(e.file, e.line, "warning", f"{e.name or e.key}: retrieved_note / notes is empty",
                         "いつ・どこで確かめた情報かを書いてください"))
    if not e.name:
        out.append(Issue(e.file, e.line, "error", f"{e.key}: name is empty"))
    if not e.national and not re.fullmatch(r"0[1-9]|[1-3]\d|4[0-7]", e.pref_code):
        out.append(Issue(e.file, e.line, "error", f"{e.name}: pref_code {e.pref_code!r} is not 01–47"))
    if e.national and not e.key:
        out.append(Issue(e.file, e.line, "error", f"{e.name}: id is empty"))
    if e.raw_phone and e.phone is None:
        out.append(Issue(e.file, e.line, "warning",
                         f"{e.name}: {e.raw_phone!r} is not a valid Japanese phone number; the row is not used",
                         "出典で市外局番などを確かめて直してください。推測で補わないでください（使えない間は上の段階の窓口を案内します）"))
    if e.schedule is None and re.search(r"\d", e.hours_text) \
            and not re.search("未確認|要確認|異なる", e.hours_text):
        out.append(Issue(e.file, e.line, "warning", f"{e.name}: hours not machine-readable; open/closed is not shown",
                         "出典に時間があれば「月～金 9:00～17:00／土 9:00～16:00（祝日・年末年始除く）」の形で。"
                         "わからない時はそのままで構いません"))
    out.extend(Issue(e.file, e.line, "error", f"{e.name}: also_contact_ids has unknown id {t!r}")
               for t in sorted(e.tags - set(contacts)))
    return out


def _level(reason: str) -> str:
    return "municipal" if reason == "municipal" else "prefectural"


def _fill_or_blank(template: str, values: Mapping[str, str]) -> str:
    """A note with an unknown field left blank (unlike :func:`bot.triage.render.fill`, which drops the line)."""
    return string.Formatter().vformat(template, (), _Blank(values))


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _fields(text: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError:
        return {"(unbalanced braces)"}


def _split(value: str) -> frozenset[str]:
    return frozenset(p.strip() for p in value.split(";") if p.strip())
