"""Import 国民生活センター's open data ``consumercenters_list.csv`` into ``consumer_centers.csv``.

The official list (「全国の消費生活センター等一覧データ」, UTF-8 with BOM) has one row per
window with the weekly hours in 14 columns (``月曜_相談受付開始時刻`` … ``日曜_相談受付終了時刻``,
``休`` when closed) and notes in ``特記事項`` (``<br>`` line breaks). :func:`read_kokusen_csv`
reads it into :class:`ImportedRow` s, :func:`plan_import` compares them with the current
rows, and :func:`write_directory` writes the result (the only function here that writes).

Decisions (see ``responses/directory/README.md``):

- The official list is authoritative: a current row it lacks is dropped, unless the plan
  was made with ``keep_unlisted=True``; kept rows follow the official ones of the same
  prefecture and level, so the official prefectural row stays the one used first.
- Rows are matched by ``(pref_code, municipality, name)`` (NFKC, no spaces); numbers are
  compared by their digits, so a hyphen-only difference is not a change.
- Municipal rows: the municipality comes from the centre's name; a name that names a ward
  of a designated city (横浜市港北区…) gives the ward (``Directory`` matches it against
  ``Area.municipality``, so only that ward's families get it, the city centre stays theirs
  too); otherwise the address or postal code gives the municipality (the designated city,
  never the ward: a centre's location is not its service area). A row that cannot be
  placed is not imported (listed in ``ImportPlan.unplaced``).
- A number is stored as written; when the field holds text around a number, the first
  number that validates is stored and the original goes into ``retrieved_note``. A number
  written ``+81…`` is stored in its domestic form (a cell starting ``+`` is a formula).
- The file is untrusted input that ends up in a CSV staff open in a spreadsheet and in texts
  sent to Slack and LINE. A row is refused (listed with its line, never silently dropped)
  when a value we would write starts like a spreadsheet formula (``= + - @``, tab, CR),
  holds a Slack control sequence (``<!channel>``, ``<@U…>``, ``<url|text>``) or a control
  character, or when its URL is not ``http(s)://``. Neutralising such a cell with a leading
  ``'`` would put the quote into what families read; the official list never needs one.
- Only a regular file is read (a FIFO would block, ``/dev/zero`` never ends), in chunks and
  at most ``TSUNAGU_IMPORT_MAX_MB`` (the official list is well under 1 MB).
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import shutil
import stat
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .hours import parse_hours
from .issues import Issue
from .triage import CONTACTS_FILE, DIRECTORY, Gazetteer, find_area, format_phone, load_directory, load_gazetteer

KOKUSEN_URL = "https://www.kokusen.go.jp/map/data/consumercenters_list.csv"
SOURCE_TITLE = "国民生活センター「全国の消費生活センター等一覧データ」"
TARGET_FILE = "consumer_centers.csv"
FIELDS = ("pref_code", "pref", "municipality", "name", "phone", "hours", "source_url", "retrieved_note")

COL_PREF_CODE = "都道府県コード（JIS X 0401）"
COL_KIND = "消費生活センター区分"
COL_NAME = "消費生活センター名"
COL_POSTAL = "郵便番号"
COL_ADDRESS1 = "所在地１"
COL_ADDRESS2 = "所在地２"
COL_PHONE = "相談電話番号"
COL_URL = "消費生活センターURL"
COL_NOTES = "特記事項"
WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
REQUIRED_COLUMNS = (COL_PREF_CODE, COL_KIND, COL_NAME, COL_PHONE, COL_NOTES,
                    *(f"{d}曜_相談受付{e}時刻" for d in WEEKDAYS for e in ("開始", "終了")))

_SPACES = re.compile(r"\s+")
_BR = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_TIME = re.compile(r"(\d{1,2})(?:[:時](\d{2})?分?(?::\d{2})?)?|(\d{1,2})(\d{2})")
_PHONE_IN_TEXT = re.compile(r"\d[\d\-‐‑–—―ー−()]{8,}\d")
_UNREADABLE = "?"
#: What a spreadsheet (Excel, LibreOffice, Google Sheets) may run as a formula at the start of a cell.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Slack's control sequences: anything in angle brackets (<!channel>, <@U…>, <#C…>, <url|text>),
#: and the plain-text broadcast words Slack links when ``link_names`` is on.
_SLACK_SEQUENCE = re.compile(r"<[^<>]*>|(?<![\w@])@(?:channel|here|everyone)\b", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
URL_SCHEMES = ("http", "https")
_READ_CHUNK = 1 << 16
MEGABYTE = 1024 * 1024
DEFAULT_MAX_BYTES = 20 * MEGABYTE     # TSUNAGU_IMPORT_MAX_MB (bot/config.py)

DayHours = tuple[str, str] | str | None   # ("9:00", "17:00"); None: closed; _UNREADABLE


class ImportFormatError(ValueError):
    """The file is not the official list (missing columns, unreadable encoding), not a regular file,
    or larger than the limit: the command prints the message and exits 1."""


@dataclass(frozen=True, slots=True)
class CenterRow:
    """One row of our ``consumer_centers.csv``."""

    pref_code: str
    pref: str
    municipality: str
    name: str
    phone: str = ""
    hours: str = ""
    source_url: str = ""
    retrieved_note: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return row_key(self.pref_code, self.municipality, self.name)

    def as_dict(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in FIELDS}


@dataclass(frozen=True, slots=True)
class ImportedRow:
    """One window of the official list, in our terms (``municipality`` None: not placed)."""

    line: int
    pref_code: str
    pref: str
    kind: str
    name: str
    municipality: str | None
    phone: str
    hours: str
    notes: str = ""
    raw_phone: str = ""
    address: str = ""
    postal_code: str = ""
    center_url: str = ""
    problem: str = ""          # why the row cannot be imported, when municipality is None
    refusal: str = ""          # why the row is refused as unsafe (municipality is None too)

    @property
    def key(self) -> tuple[str, str, str]:
        return row_key(self.pref_code, self.municipality or "", self.name)

    def to_center_row(self, source_url: str, retrieved: str) -> CenterRow:
        return CenterRow(self.pref_code, self.pref, self.municipality or "", self.name, self.phone, self.hours,
                         source_url, self.retrieved_note(retrieved))

    def retrieved_note(self, retrieved: str) -> str:
        """``国民生活センター「…」取込 2026-11-27（区分: …；特記事項: …；…）``."""
        parts = [f"区分: {self.kind}"] if self.kind else []
        if self.notes:
            parts.append(f"特記事項: {self.notes}")
        if self.address or self.postal_code:
            parts.append("所在地: " + " ".join(p for p in (f"〒{self.postal_code}" if self.postal_code else "",
                                                          self.address) if p))
        if self.center_url:
            parts.append(f"センターのページ: {self.center_url}")
        if not self.phone:
            parts.append("相談電話番号の記載なし。188を案内すること")
        elif self.raw_phone != self.phone:
            parts.append(f"相談電話番号の原文: {self.raw_phone}")
        return f"{SOURCE_TITLE}取込 {retrieved}" + (f"（{'；'.join(parts)}）" if parts else "")


@dataclass(frozen=True, slots=True)
class Change:
    old: CenterRow
    new: ImportedRow
    fields: tuple[str, ...]    # "phone" (the digits), "phone_text", "hours", "name"


@dataclass(slots=True)
class ImportPlan:
    """What an import would do to the current rows."""

    current: list[CenterRow]
    imported: list[ImportedRow] = field(default_factory=list)    # placed, without duplicates, file order
    added: list[ImportedRow] = field(default_factory=list)
    removed: list[CenterRow] = field(default_factory=list)
    kept: list[CenterRow] = field(default_factory=list)           # not in the list, kept (keep_unlisted)
    changed_number: list[Change] = field(default_factory=list)
    changed_other: list[Change] = field(default_factory=list)
    unchanged: list[Change] = field(default_factory=list)
    duplicates: list[ImportedRow] = field(default_factory=list)
    unplaced: list[ImportedRow] = field(default_factory=list)
    refused: list[ImportedRow] = field(default_factory=list)      # unsafe values (see unsafe_value)

    @property
    def drop_share(self) -> float:
        """Share of the current rows the import would remove (0.0 for an empty directory)."""
        return len(self.removed) / len(self.current) if self.current else 0.0


# -- keys and small helpers --------------------------------------------------------------------------


def normalise(text: str) -> str:
    """NFKC without any whitespace: the form names are compared in."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text or ""))


def row_key(pref_code: str, municipality: str, name: str) -> tuple[str, str, str]:
    return (pad_pref_code(pref_code), normalise(municipality), normalise(name))


def pad_pref_code(value: str) -> str:
    """``"1"`` / ``"０１"`` -> ``"01"``; anything else unchanged (stripped)."""
    text = normalise(value)
    return text.zfill(2) if text.isdigit() and len(text) <= 2 else text


def clean_text(value: str | None) -> str:
    """Strip and collapse whitespace (full-width spaces too)."""
    return _SPACES.sub(" ", value or "").strip()


def phone_digits(raw: str) -> str:
    """The digits a number is compared by (formatted when valid, else all digits as written)."""
    phone = format_phone(raw) if raw else None
    return phone.digits if phone else re.sub(r"\D", "", unicodedata.normalize("NFKC", raw or ""))


def clean_notes(value: str | None) -> str:
    """``特記事項``: ``<br>`` and line breaks -> ``／``, entities decoded, other tags dropped."""
    text = _BR.sub("／", html.unescape(value or "").replace("\r\n", "\n"))
    text = _TAG.sub("", text).replace("\n", "／")
    parts = [clean_text(p) for p in text.split("／")]
    return "／".join(p for p in parts if p)


def clean_phone(value: str | None) -> tuple[str, str]:
    """``(phone to store, text as written)``: the first valid number when the field holds more."""
    raw = clean_text(value)
    phone = format_phone(raw) if raw else None
    if phone and raw.startswith("+"):
        return phone.display, raw            # +81-3-…: a cell starting "+" is a formula; 03-… is the same number
    if not raw or phone:
        return raw, raw
    for candidate in _PHONE_IN_TEXT.findall(unicodedata.normalize("NFKC", raw)):
        if format_phone(candidate):
            return candidate, raw
    return raw, raw


# -- unsafe values -------------------------------------------------------------------------------------


def unsafe_value(value: str) -> str:
    """Why ``value`` must not be written to our CSV or shown to staff and families; "" when it is safe.

    Checked on the text as it would be written (after whitespace is collapsed, so ``" =1+1"``
    counts as ``=1+1``).
    """
    if value.startswith(FORMULA_PREFIXES):
        return (f"{value[0]!r} で始まります（表計算ソフトが式として実行します） / "
                f"starts with {value[0]!r}: a spreadsheet would run it as a formula")
    if _SLACK_SEQUENCE.search(value):
        return ("Slack の制御記法（<!channel>・<@…>・<url|…> など）を含みます / "
                "holds a Slack control sequence (<!channel>, <@…>, <url|…>)")
    if _CONTROL.search(value):
        return "制御文字を含みます / holds a control character"
    return ""


def url_problem(url: str) -> str:
    """Why ``url`` is not a link we may pass on (only ``http://`` and ``https://`` with a host); "" when fine."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:                       # "http://[::1": not a URL at all
        host = None
    if not host or parts.scheme.lower() not in URL_SCHEMES or any(c.isspace() for c in url):
        return (f"URL が http:// か https:// のアドレスではありません（{_printable(url)[:40]}） / "
                "not an http(s) URL (javascript:, data: and the like are refused)")
    return unsafe_value(url)


def _row_refusal(values: dict[str, str]) -> str:
    """The first unsafe column of a row as ``"列名: why"``; "" when every value is safe."""
    for column, value in values.items():
        why = url_problem(value) if column == COL_URL and value else unsafe_value(value)
        if why:
            return f"{column}: {why}"
    return ""


def _printable(text: str) -> str:
    """``text`` with control characters shown as ``?``: safe to print in a terminal."""
    return _CONTROL.sub("?", text)


# -- reading the file ----------------------------------------------------------------------------------


def read_limited(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes``.

    Opened without blocking and checked on the open descriptor, so a FIFO (which would wait
    for a writer forever), a device such as ``/dev/zero`` (endless) or a directory is refused
    before anything is read; read in chunks, so a file that grows past the limit is refused
    after ``max_bytes`` + 1 bytes, never read whole.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ImportFormatError(f"{path}: 開けません / cannot open: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        ja, en = _file_kind(mode)
        raise ImportFormatError(f"{path}: 通常のファイルではありません（{ja}）。ダウンロードした CSV ファイルを指定して"
                                f"ください / not a regular file ({en}); give the downloaded CSV file")
    with os.fdopen(fd, "rb") as fh:
        chunks: list[bytes] = []
        size = 0
        while chunk := fh.read(_READ_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise ImportFormatError(
                    f"{path}: ファイルが大きすぎます（上限 {_megabytes(max_bytes)}、TSUNAGU_IMPORT_MAX_MB） / "
                    f"the file is larger than the limit of {_megabytes(max_bytes)} (TSUNAGU_IMPORT_MAX_MB)")
            chunks.append(chunk)
    return b"".join(chunks)


def _file_kind(mode: int) -> tuple[str, str]:
    """What a non-regular file is, in Japanese and English."""
    if stat.S_ISFIFO(mode):
        return "名前付きパイプ", "a FIFO"
    if stat.S_ISDIR(mode):
        return "ディレクトリ", "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "デバイス", "a device"
    if stat.S_ISSOCK(mode):
        return "ソケット", "a socket"
    return "その他", "not a file"


def _megabytes(size: int) -> str:
    return f"{size / MEGABYTE:.3g} MB = {size} bytes"


# -- hours ---------------------------------------------------------------------------------------------


def parse_time(value: str | None) -> str | None:
    """``"09:00"``, ``"９:００"``, ``"9時30分"``, ``"9:00:00"``, ``"0900"`` -> ``"9:00"``; None when unreadable."""
    text = normalise(value or "")
    m = _TIME.fullmatch(text)
    if not m:
        return None
    hour, minute = (int(m[1]), int(m[2] or 0)) if m[1] else (int(m[3]), int(m[4]))
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        return None
    return f"{hour}:{minute:02d}"


def day_hours(start: str | None, end: str | None) -> DayHours:
    """One day's columns: None when closed (``休`` or both empty), ``_UNREADABLE`` when unclear."""
    s, e = normalise(start or ""), normalise(end or "")
    if "休" in s or "休" in e or (not s and not e):
        return None
    a, b = parse_time(s), parse_time(e)
    if a is None or b is None or _minutes(a) >= _minutes(b):
        return _UNREADABLE
    return (a, b)


def _minutes(clock: str) -> int:
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


def weekly_text(days: Sequence[DayHours]) -> tuple[str, bool]:
    """``月～金 9:00～16:00／土 9:00～12:00`` from seven days; also whether a day was unreadable."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, hours in enumerate(days):
        if isinstance(hours, tuple):
            groups.setdefault(hours, []).append(i)
    parts = [f"{_day_label(idx)} {a}～{b}" for (a, b), idx in sorted(groups.items(), key=lambda g: g[1][0])]
    return "／".join(parts), any(h == _UNREADABLE for h in days)


def _day_label(days: list[int]) -> str:
    if len(days) >= 3 and days == list(range(days[0], days[-1] + 1)):
        return f"{WEEKDAYS[days[0]]}～{WEEKDAYS[days[-1]]}"
    return "・".join(WEEKDAYS[d] for d in days)


def build_hours(days: Sequence[DayHours], notes: str) -> str:
    """Our ``hours`` text: the week, then the notes in parentheses (as ``parse_hours`` reads them).

    A day with unreadable times adds 要確認, so the text is shown but never used to say "closed".
    """
    week, unreadable = weekly_text(days)
    if not week:
        return notes
    text = week + (f"（{_balanced(notes)}）" if notes else "")
    return text + ("（要確認: 公式データに読めない受付時刻があります）" if unreadable else "")


def _balanced(text: str) -> str:
    """Parentheses that do not pair up would break ``parse_hours``; turn them into 〔〕."""
    depth = 0
    for ch in unicodedata.normalize("NFKC", text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth == 0:
        return text
    return text.translate(str.maketrans("（(）)", "〔〔〕〕"))


# -- municipality --------------------------------------------------------------------------------------


def is_prefectural(kind: str) -> bool:
    """``消費生活センター区分``: 都道府県センター (and variants) vs 市区町村 windows."""
    return "都道府県" in normalise(kind)


def derive_municipality(gaz: Gazetteer, pref_code: str, name: str, address: str = "",
                        postal_code: str = "") -> str | None:
    """The municipality a municipal window serves, in the names ``Directory`` matches; None if unknown."""
    pref_area = gaz.prefecture(pref_code)
    if pref_area is None:
        return None
    by_name = find_area(unicodedata.normalize("NFKC", pref_area.pref + name), gaz)
    if by_name and by_name.pref_code == pref_code and by_name.municipality:
        return by_name.municipality
    for text in (address, postal_code and f"〒{postal_code}"):
        area = find_area(unicodedata.normalize("NFKC", text), gaz) if text else None
        if area and area.pref_code == pref_code and area.municipality:
            return area.city or area.municipality
    return None


# -- reading -------------------------------------------------------------------------------------------


def read_kokusen_csv(path: str | Path, gazetteer: Gazetteer | None = None,
                     max_bytes: int = DEFAULT_MAX_BYTES) -> list[ImportedRow]:
    """Read the official list; rows that cannot be placed keep ``municipality=None`` and a ``problem``,
    rows with an unsafe value a ``refusal`` (see :func:`unsafe_value`)."""
    text = _decode(read_limited(path, max_bytes))
    gaz = gazetteer or load_gazetteer()
    lines = _RecordLines(io.StringIO(text, newline=""))
    reader = csv.DictReader(lines)
    columns = {normalise(c): c for c in reader.fieldnames or () if c}
    missing = [c for c in REQUIRED_COLUMNS if normalise(c) not in columns]
    if missing:
        raise ImportFormatError(
            f"{path}: 国民生活センターの一覧データの列がありません / not the official list, missing columns: "
            + ", ".join(missing))
    out: list[ImportedRow] = []
    lines.next_record()
    for raw in reader:
        row = {normalise(k): v for k, v in raw.items() if k}
        if any(clean_text(v) for v in row.values() if isinstance(v, str)):
            out.append(_imported_row(row, lines.record_start, gaz))
        lines.next_record()
    return out


class _RecordLines:
    """The file's lines for ``csv``, remembering where the current record starts: a quoted line
    break makes a record span lines, and a message must point at its first line."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self._count = 0
        self._fresh = True
        self.record_start = 0

    def __iter__(self) -> "_RecordLines":
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self._count += 1
        if self._fresh:
            self.record_start = self._count
            self._fresh = not line.strip("\r\n")     # a blank line before a record is skipped by csv
        return line

    def next_record(self) -> None:
        self._fresh = True


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM); cp932 when the file was re-saved by Excel."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFormatError("文字コードが読めません（UTF-8 で保存してください） / cannot decode the file (save it as UTF-8)")


def _imported_row(row: dict[str, str], line: int, gaz: Gazetteer) -> ImportedRow:
    def col(name: str) -> str:
        return clean_text(row.get(normalise(name)))

    pref_code, kind, name = pad_pref_code(col(COL_PREF_CODE)), col(COL_KIND), col(COL_NAME)
    pref_area = gaz.prefecture(pref_code)
    notes = clean_notes(row.get(normalise(COL_NOTES)))
    days = [day_hours(col(f"{d}曜_相談受付開始時刻"), col(f"{d}曜_相談受付終了時刻")) for d in WEEKDAYS]
    phone, raw_phone = clean_phone(row.get(normalise(COL_PHONE)))
    address = clean_text(col(COL_ADDRESS1) + " " + col(COL_ADDRESS2))
    postal = col(COL_POSTAL)
    as_written = phone if raw_phone.startswith("+") and phone != raw_phone else raw_phone   # +81…: stored as 0…
    written = {COL_NAME: name, COL_KIND: kind, COL_PHONE: as_written, COL_NOTES: notes, COL_ADDRESS1: address,
               COL_POSTAL: postal, COL_URL: col(COL_URL)}
    refusal = _row_refusal(written)
    municipality: str | None
    problem = ""
    if refusal:
        municipality = None
    elif pref_area is None:
        municipality, problem = None, f"都道府県コード {pref_code!r} が 01～47 ではありません / bad prefecture code"
    elif not name:
        municipality, problem = None, "消費生活センター名が空です / the name is empty"
    elif is_prefectural(kind):
        municipality = ""
    else:
        municipality = derive_municipality(gaz, pref_code, name, address, postal)
        if municipality is None:
            problem = "市区町村がわかりません（名前・所在地・郵便番号から） / municipality not found"
    return ImportedRow(line=line, pref_code=pref_code, pref=pref_area.pref if pref_area else "", kind=kind,
                       name=name, municipality=municipality, phone=phone, hours=build_hours(days, notes),
                       notes=notes, raw_phone=raw_phone, address=address, postal_code=postal,
                       center_url=col(COL_URL), problem=problem, refusal=refusal)


def read_directory_csv(path: str | Path) -> list[CenterRow]:
    """Our ``consumer_centers.csv`` (missing file: no rows)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [CenterRow(**{f: (row.get(f) or "").strip() for f in FIELDS}) for row in csv.DictReader(fh)]


# -- planning ------------------------------------------------------------------------------------------


def plan_import(current_rows: Sequence[CenterRow], imported_rows: Iterable[ImportedRow],
                keep_unlisted: bool = False) -> ImportPlan:
    """Compare the import with the current rows, keyed by ``(pref_code, municipality, name)``."""
    plan = ImportPlan(current=list(current_rows))
    seen: set[tuple[str, str, str]] = set()
    for row in imported_rows:
        if row.refusal:
            plan.refused.append(row)
        elif row.municipality is None:
            plan.unplaced.append(row)
        elif row.key in seen:
            plan.duplicates.append(row)
        else:
            seen.add(row.key)
            plan.imported.append(row)
    current: dict[tuple[str, str, str], CenterRow] = {}
    for old in plan.current:
        if old.key in current:
            plan.removed.append(old)          # a second row with the same key
        elif old.key not in seen:
            (plan.kept if keep_unlisted else plan.removed).append(old)
        else:
            current[old.key] = old
    for new in plan.imported:
        old = current.get(new.key)
        if old is None:
            plan.added.append(new)
            continue
        change = Change(old, new, _changed_fields(old, new))
        bucket = (plan.changed_number if "phone" in change.fields
                  else plan.changed_other if change.fields else plan.unchanged)
        bucket.append(change)
    return plan


def _changed_fields(old: CenterRow, new: ImportedRow) -> tuple[str, ...]:
    out = []
    if phone_digits(old.phone) != phone_digits(new.phone):
        out.append("phone")
    elif old.phone != new.phone:
        out.append("phone_text")
    if old.hours != new.hours and (parse_hours(old.hours) is None or parse_hours(old.hours) != parse_hours(new.hours)):
        out.append("hours")
    if old.name != new.name:
        out.append("name")
    return tuple(out)


def planned_rows(plan: ImportPlan, source_url: str, retrieved: str) -> list[CenterRow]:
    """The rows the file will hold: by prefecture, prefectural rows first, official rows before kept ones."""
    ranked = [((r.pref_code, r.municipality != "", 0, i), r.to_center_row(source_url, retrieved))
              for i, r in enumerate(plan.imported)]
    ranked += [((r.pref_code, r.municipality != "", 1, i), r) for i, r in enumerate(plan.kept)]
    return [row for _, row in sorted(ranked, key=lambda x: x[0])]


def render_csv(rows: Iterable[CenterRow]) -> str:
    """Our format: UTF-8 without BOM, LF line ends, the header of ``FIELDS``."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(r.as_dict() for r in rows)
    return buf.getvalue()


_FIELD_LABELS = {"phone": "番号 / number", "phone_text": "番号の表記 / number format", "hours": "受付時間 / hours",
                 "name": "名前の表記 / name"}


def describe_plan(plan: ImportPlan, source: str = "") -> str:
    """The summary ``tsunagu directory import`` prints: counts, then each added / removed / changed row."""
    after = len(plan.imported) + len(plan.kept)
    lines = [
        f"{source + ': ' if source else ''}{len(plan.imported)} 件を取込 / rows to import"
        f"（重複 / duplicates {len(plan.duplicates)}, 取込不可 / not placed {len(plan.unplaced)}, "
        f"拒否 / refused {len(plan.refused)}）",
        f"現在 / now: {len(plan.current)} 行 / rows -> 取込後 / after: {after} 行 / rows",
        f"  追加 / added: {len(plan.added)}",
        f"  削除 / removed: {len(plan.removed)}（{plan.drop_share:.0%}）",
        f"  番号の変更 / changed numbers: {len(plan.changed_number)}",
        f"  その他の変更 / other changes: {len(plan.changed_other)}",
        f"  変更なし / unchanged: {len(plan.unchanged)}",
    ]
    if plan.kept:
        lines.append(f"  一覧にないが残す / kept (--keep-unlisted): {len(plan.kept)}")
    sections = [
        ("追加 / added", [f"  + {_label(r)} {r.phone or '（番号なし）'}" for r in plan.added]),
        ("削除 / removed", [f"  - {_label(r)} {r.phone or '（番号なし）'}" for r in plan.removed]),
        ("番号の変更 / changed numbers",
         [f"  * {_label(c.old)}: {c.old.phone or '（なし）'} -> {c.new.phone or '（なし）'}" for c in plan.changed_number]),
        ("その他の変更 / other changes",
         [f"  ~ {_label(c.old)}: {', '.join(_FIELD_LABELS[f] for f in c.fields)}" for c in plan.changed_other]),
        ("取り込めない行 / not imported", [f"  ! line {r.line} {r.pref} {r.name}: {r.problem}" for r in plan.unplaced]),
        ("安全でない値のため拒否した行 / refused (unsafe values)",
         [f"  ! {source or 'line '}{':' if source else ''}{r.line} {r.pref} {_printable(r.name)[:40]}: {r.refusal}"
          for r in plan.refused]),
        ("重複（最初の行を使用） / duplicates (the first row is used)",
         [f"  = line {r.line} {r.pref} {r.name}" for r in plan.duplicates]),
    ]
    for title, items in sections:
        if items:
            lines += ["", title + ":", *items]
    return "\n".join(lines)


def _label(row: CenterRow | ImportedRow) -> str:
    return " ".join(p for p in (row.pref_code, row.pref, row.municipality or "", row.name) if p)


# -- validating and writing ----------------------------------------------------------------------------


def validate_rows(rows: Sequence[CenterRow], responses_dir: str | Path) -> list[Issue]:
    """``Directory.validate()`` on a copy of ``responses_dir`` whose consumer_centers.csv is ``rows``."""
    source = Path(responses_dir)
    with tempfile.TemporaryDirectory(prefix="tsunagu-import-") as tmp:
        copy = Path(tmp) / "responses"
        (copy / DIRECTORY).mkdir(parents=True)
        shutil.copy(source / CONTACTS_FILE, copy / CONTACTS_FILE)
        for csv_file in (source / DIRECTORY).glob("*.csv"):
            shutil.copy(csv_file, copy / DIRECTORY / csv_file.name)
        (copy / DIRECTORY / TARGET_FILE).write_text(render_csv(rows), encoding="utf-8")
        return load_directory(copy).validate()


@contextmanager
def staged_responses(rows: Sequence[CenterRow], responses_dir: str | Path):
    """A temporary full copy of ``responses_dir`` whose consumer_centers.csv is ``rows``: what the
    knowledge would be after the import, for the knowledge gate to judge before anything is written."""
    with tempfile.TemporaryDirectory(prefix="tsunagu-import-") as tmp:
        copy = Path(tmp) / "responses"
        shutil.copytree(responses_dir, copy)
        (copy / DIRECTORY / TARGET_FILE).write_text(render_csv(rows), encoding="utf-8")
        yield copy


def write_directory(plan: ImportPlan, path: str | Path, source_url: str, retrieved: str) -> list[CenterRow]:
    """Replace ``path`` atomically with the planned rows (``retrieved``: e.g. ``2026-11-27``); returns them."""
    rows = planned_rows(plan, source_url, retrieved)
    atomic_write_text(Path(path), render_csv(rows))
    return rows


def atomic_write_text(path: Path, text: str) -> None:
    """Write a temp file next to ``path``, then ``os.replace``: readers see the old or the new file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
