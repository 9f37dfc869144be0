"""適格消費者団体: which group a family can tell about a business's dealings, for their area.

Facts (each group's name, kind, head office, pages, source) are the rows of
``responses/directory/consumer_groups.csv``; the prefecture → 地方 (region block) table is
``responses/directory/regions.csv``; the rule — for which worries, how many, the 消費者庁 page
when no group fits — is the ``consumer_groups:`` section of ``responses/contacts.yml``.
The loader reads the files; everything here is pure.

Resolution (:meth:`ConsumerGroups.for_area`):

1. the groups whose ``prefs_covered`` names the family's prefecture;
2. else the groups headquartered in the same 地方 (groups with a page first, then file order);
3. else, or when no area is known, no group but the 消費者庁 page on 適格消費者団体 (``guide:``).

A group shown is *offered*, never instead of 188 or the consumer center: channels add it after the
windows card, and never for an emergency (:meth:`ConsumerGroups.for_case`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..issues import Issue
from .facts import Area

#: The columns of consumer_groups.csv (all must be present; values may be empty where noted in the README).
COLUMNS = ("id", "name", "kind", "hq_pref_code", "hq_pref", "prefs_covered", "info_url", "phone", "hours",
           "activities", "source_url", "group_url", "retrieved_note")
REGION_COLUMNS = ("pref_code", "pref", "block")
KINDS = frozenset({"適格", "特定適格"})
_ID = re.compile(r"[a-z0-9_]+")
_PREF_CODE = re.compile(r"0[1-9]|[1-3]\d|4[0-7]")
#: Characters a well-formed (ASCII, percent-encoded) URL never holds; ``<>|`` would also break a Slack link.
_URL_BAD = re.compile(r"[^\x21-\x7e]|[<>|\"\\{}^`]")
#: scheme://host[:port][/path][?query][#fragment], the host a dotted DNS name (lower case).
_URL = re.compile(r"https?://(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)"
                  r"(?::\d{1,5})?(?:[/?#]\S*)?")


@dataclass(frozen=True, slots=True)
class Group:
    """One row of consumer_groups.csv."""

    file: str
    line: int
    id: str
    name: str
    kind: str                       # 適格 | 特定適格
    hq_pref_code: str
    hq_pref: str
    prefs_covered: tuple[str, ...]  # prefecture names
    info_url: str
    group_url: str
    raw_phone: str
    activities: str
    source_url: str
    note: str

    @property
    def url(self) -> str:
        """The page to send a family to: the information page, else the group's own page, else ""."""
        return self.info_url or self.group_url


@dataclass(frozen=True, slots=True)
class GroupLink:
    """A group (or the 消費者庁 page) offered for one case, as channels show it."""

    name: str
    url: str                # "" when no page of the group is known: the name is shown without a link
    level: str              # "prefecture" | "region" | "guide" (the 消費者庁 page)
    kind: str = ""          # 適格 | 特定適格 ("" for the guide)
    activities: str = ""    # one line: what the group does
    source_url: str = ""
    id: str = ""


@dataclass(frozen=True, slots=True)
class Region:
    line: int
    code: str
    pref: str
    block: str


class ConsumerGroups:
    """The loaded groups and the rule of ``contacts.yml`` ``consumer_groups:``."""

    def __init__(self, groups: Iterable[Group], regions: Iterable[Region], *, intents: Iterable[str],
                 guide: GroupLink | None, max_shown: int, issues: list[Issue], files: Mapping[str, str],
                 spec_line: int, contacts_file: str):
        self.groups = tuple(groups)
        self.regions = tuple(regions)
        self.intents = frozenset(intents)
        self.guide = guide
        self.max_shown = max_shown
        self._by_code = {r.code: r for r in self.regions}
        self._load_issues = issues
        self._files = dict(files)
        self._line = spec_line
        self._contacts_file = contacts_file

    # -- resolution ---------------------------------------------------------------------------------
    def for_case(self, intent: str, urgency: str, area: Area | None) -> tuple[GroupLink, ...]:
        """The groups to offer for a worry: only listed (business-dealing) intents, never an emergency."""
        if urgency == "emergency" or intent not in self.intents:
            return ()
        return self.for_area(area)

    def for_area(self, area: Area | None) -> tuple[GroupLink, ...]:
        """The group(s) for ``area`` (see the module docstring), most fitting first."""
        region = self._by_code.get(area.pref_code) if area is not None else None
        pref = region.pref if region else (area.pref if area is not None else "")
        if pref:
            found = [g for g in self.groups if pref in g.prefs_covered]
            if found:
                return tuple(_link(g, "prefecture") for g in found[:self.max_shown])
        if region is not None:
            near = [g for g in self.groups
                    if (hq := self._by_code.get(g.hq_pref_code)) is not None and hq.block == region.block]
            near.sort(key=lambda g: not g.url)      # stable: groups with a page first, then file order
            if near:
                return tuple(_link(g, "region") for g in near[:self.max_shown])
        return (self.guide,) if self.guide else ()

    # -- validation ---------------------------------------------------------------------------------
    def validate(self) -> list[Issue]:
        """Problems in consumer_groups.csv, regions.csv and the ``consumer_groups:`` rule."""
        from .directory import format_phone   # the phone rules of the other directories

        out = list(self._load_issues)
        codes: dict[str, int] = {}
        names: set[str] = set()
        rfile = self._files.get("regions", "")
        for r in self.regions:
            if not _PREF_CODE.fullmatch(r.code):
                out.append(Issue(rfile, r.line, "error", f"pref_code {r.code!r} is not 01–47"))
            elif r.code in codes:
                out.append(Issue(rfile, r.line, "error", f"pref_code {r.code} again (first on line {codes[r.code]})"))
            codes.setdefault(r.code, r.line)
            if not r.pref or not r.block:
                out.append(Issue(rfile, r.line, "error", f"{r.code}: pref and block are both needed"))
            names.add(r.pref)
        if self.regions and len(codes) != 47:
            missing = sorted({f"{n:02d}" for n in range(1, 48)} - set(codes))
            out.append(Issue(rfile, 1, "error", f"regions: prefectures missing: {', '.join(missing)}",
                             "47都道府県を1行ずつ書いてください"))
        ids: dict[str, int] = {}
        for g in self.groups:
            where = (g.file, g.line)
            label = g.name or g.id or f"line {g.line}"
            if not _ID.fullmatch(g.id):
                out.append(Issue(*where, "error", f"{label}: id {g.id!r} must be lower-case letters, digits and _"))
            elif g.id in ids:
                out.append(Issue(*where, "error", f"duplicate id {g.id!r} (first on line {ids[g.id]})",
                                 "idを一つにしてください"))
            ids.setdefault(g.id, g.line)
            if not g.name:
                out.append(Issue(*where, "error", f"{g.id}: name is empty"))
            if g.kind not in KINDS:
                out.append(Issue(*where, "error", f"{label}: kind {g.kind!r} is not 適格 or 特定適格"))
            region = self._by_code.get(g.hq_pref_code)
            if region is None:
                out.append(Issue(*where, "error", f"{label}: hq_pref_code {g.hq_pref_code!r} is not a prefecture code "
                                                  "of regions.csv"))
            elif region.pref != g.hq_pref:
                out.append(Issue(*where, "error", f"{label}: hq_pref {g.hq_pref!r} does not match code "
                                                  f"{g.hq_pref_code} ({region.pref})"))
            if not g.prefs_covered:
                out.append(Issue(*where, "error", f"{label}: prefs_covered is empty",
                                 "少なくとも本部の都道府県を書いてください（複数は ; で区切ります）"))
            for p in g.prefs_covered:
                if p not in names:
                    out.append(Issue(*where, "error", f"{label}: prefs_covered has unknown prefecture {p!r}",
                                     "「大阪府」のように都道府県名を書き、; で区切ります"))
            if not g.source_url:
                out.append(Issue(*where, "error", f"{label}: source_url is empty",
                                 "出典のURLを書いてください。出典のない団体は載せません"))
            for column, url in (("source_url", g.source_url), ("info_url", g.info_url), ("group_url", g.group_url)):
                if url and not well_formed_url(url):
                    out.append(Issue(*where, "error", f"{label}: {column} {url!r} is not a well-formed http(s) URL",
                                     "https:// か http:// で始まる、空白のないアドレスを書きます（日本語は%で符号化）"))
            if g.raw_phone and format_phone(g.raw_phone) is None:
                out.append(Issue(*where, "warning", f"{label}: {g.raw_phone!r} is not a valid Japanese phone number",
                                 "出典で市外局番などを確かめて直してください。推測で補わないでください"))
            if not g.note:
                out.append(Issue(*where, "warning", f"{label}: retrieved_note is empty",
                                 "いつ・どこで確かめた情報かを書いてください"))
            if not g.activities:
                out.append(Issue(*where, "warning", f"{label}: activities is empty; staff are not told what it does"))
        f, line = self._contacts_file, self._line
        if self.guide is None:
            out.append(Issue(f, line, "error", "consumer_groups: guide (the 消費者庁 page) is missing"))
        elif not self.guide.url.startswith("https://") or not well_formed_url(self.guide.url):
            out.append(Issue(f, line, "error", "consumer_groups: guide url is not an https:// address"))
        elif self.guide.url not in {g.source_url for g in self.groups}:
            out.append(Issue(f, line, "error", "consumer_groups: guide url is not a source_url of the groups' file",
                             "出典として確かめたページ（consumer_groups.csv の source_url）だけを書いてください"))
        if self.max_shown < 1:
            out.append(Issue(f, line, "error", "consumer_groups: max_shown must be 1 or more"))
        return out

    def intent_issues(self, intent_ids: Iterable[str]) -> list[Issue]:
        """Intent ids of ``consumer_groups: intents:`` that no file of ``intents/`` has."""
        known = set(intent_ids)
        return [Issue(self._contacts_file, self._line, "error", f"consumer_groups: unknown intent id {i!r}",
                      "intents/ のファイルの id を書いてください") for i in sorted(self.intents - known)]


def well_formed_url(url: str) -> bool:
    """An ``http``/``https`` URL with a host name, no spaces and nothing but (percent-encoded) ASCII."""
    if _URL_BAD.search(url):
        return False
    m = _URL.fullmatch(url)
    return m is not None and ".." not in m["host"]


def _link(g: Group, level: str) -> GroupLink:
    return GroupLink(g.name, g.url, level, g.kind, g.activities, g.source_url, g.id)


def build_consumer_groups(spec: Any, spec_line: int, contacts_file: str,
                          groups_file: tuple[str, list[tuple[int, dict[str, str]]] | None],
                          regions_file: tuple[str, list[tuple[int, dict[str, str]]] | None]) -> ConsumerGroups:
    """The groups of ``contacts.yml`` ``consumer_groups:`` (``spec``) and the rows of its two CSVs
    (``(path for issues, [(line, row)])``; rows ``None``: the file is missing)."""
    issues: list[Issue] = []
    spec = spec if isinstance(spec, dict) else {}
    groups: list[Group] = []
    regions: list[Region] = []
    for (path, rows), columns in ((groups_file, COLUMNS), (regions_file, REGION_COLUMNS)):
        if rows is None:
            issues.append(Issue(contacts_file, spec_line, "error", f"consumer_groups: {path}: file not found",
                                "responses/directory/ に置いてください"))
        elif rows and (missing := [c for c in columns if c not in rows[0][1]]):
            issues.append(Issue(path, 1, "error", f"columns missing: {', '.join(missing)}",
                                "1行目の見出しは " + ",".join(columns)))
    for line, raw in groups_file[1] or ():
        row = {k: (v or "").strip() for k, v in raw.items() if k}
        groups.append(Group(
            file=groups_file[0], line=line, id=row.get("id", ""), name=row.get("name", ""), kind=row.get("kind", ""),
            hq_pref_code=row.get("hq_pref_code", ""), hq_pref=row.get("hq_pref", ""),
            prefs_covered=tuple(p.strip() for p in row.get("prefs_covered", "").split(";") if p.strip()),
            info_url=row.get("info_url", ""), group_url=row.get("group_url", ""), raw_phone=row.get("phone", ""),
            activities=row.get("activities", ""), source_url=row.get("source_url", ""),
            note=row.get("retrieved_note", "")))
    for line, raw in regions_file[1] or ():
        row = {k: (v or "").strip() for k, v in raw.items() if k}
        regions.append(Region(line, row.get("pref_code", ""), row.get("pref", ""), row.get("block", "")))
    raw_guide = spec.get("guide") if isinstance(spec.get("guide"), dict) else None
    guide = GroupLink(str(raw_guide.get("name") or ""), str(raw_guide.get("url") or ""), "guide",
                      activities=str(raw_guide.get("activities") or ""),
                      source_url=str(raw_guide.get("url") or "")) if raw_guide else None
    try:
        max_shown = int(spec.get("max_shown", 1))
    except (TypeError, ValueError):
        max_shown = 0
    intents = spec.get("intents") or []
    if not isinstance(intents, list):
        issues.append(Issue(contacts_file, spec_line, "error", "consumer_groups: intents must be a list"))
        intents = []
    return ConsumerGroups(groups, regions, intents=map(str, intents), guide=guide, max_shown=max_shown,
                          issues=issues, files={"groups": groups_file[0], "regions": regions_file[0]},
                          spec_line=spec_line, contacts_file=contacts_file)


def group_files(data: Any) -> tuple[str, str] | None:
    """The two CSV names of ``contacts.yml`` ``consumer_groups:`` (None: no such section)."""
    spec = data.get("consumer_groups") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        return None
    return str(spec.get("file") or "consumer_groups.csv"), str(spec.get("regions") or "regions.csv")
