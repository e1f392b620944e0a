"""HTCDS de-identified export for data collaboratives: k-anonymity by generalisation.

A pure function over plain records (no database, no request, no clock): the caller turns each
survivor into a :class:`SurvivorRecord` (or a mapping with the same keys) and gets back one row
per survivor who could be released, every row identical to at least ``k - 1`` others.

Columns (HTCDS 2.0 field names where the standard has one)
-----------------------------------------------------------
The five quasi-identifiers of the issue are always exported (``CORE_COLUMNS``):

- ``cw_AgeBand``: age band at intake (``vocab.AGE_BANDS``). HTCDS has no age band, only
  ``prs_Birthdate`` and ``vic_AgeWhenTrafficked``, both exact: neither is exported.
- ``prs_Gender``: HTCDS value name; a missing gender is ``NonSpecifiedUnknown``.
- ``prs_Citizenship``: ISO 3166-1 alpha-2 codes, ``;``-separated (an HTCDS multiselect).
- ``vic_TypeOfExploitation``: HTCDS value names, ``;``-separated.
- ``cw_IntakeYear``: the year of the intake date, never the date. HTCDS has no intake date
  (``cas_IncomingReferralDate`` is another date).

Two more may be asked for (``OPTIONAL_COLUMNS``, through ``columns=``):

- ``vic_TraffickingStatus``: HTCDS value name, or ``Unknown``.
- ``cw_RecruitedOnline``: ``Yes`` / ``No`` / ``Unknown``. It is ``Yes`` when
  ``vic_MethodOfRecruitment`` contains ``ThroughOnlineSocialNetworks`` or
  ``ThroughAnOnlineAdvertisement``, and ``Unknown`` when no method is recorded. HTCDS has no
  such field, and the list of methods itself is not exported.

Every exported column is a quasi-identifier. Any column could single a survivor out next to
the demographics (a rare trafficking status, say), so an optional column is not carried
alongside as a "sensitive attribute": it joins the quasi-identifiers, with its own hierarchy.
The guarantee therefore covers the whole row. Every released row is identical, in every
column, to at least ``k - 1`` other released rows. Each extra column splits the caseload
further, so it costs detail in the other columns; that is why the extra columns are opt-in.
Country of exploitation, language, referral source, case status and the list of recruitment
methods are not offered.

Nothing else can leave. :class:`SurvivorRecord` has no other field, and a mapping is read only
for its field names. Names, contact details, birth dates, case numbers, ids, free text
(narrative, notes, closure reason, address), risk, language and places stay out by
construction. Values are checked against their vocabularies, so free text in a coded field is
refused.

Multi-valued fields
-------------------
Citizenship and exploitation types are sets. Level 0 is the canonical combination, joined
with ``;``: distinct values, citizenship sorted by code and exploitation types in HTCDS order.
``["TH", "MM", "TH"]`` and ``["MM", "TH"]`` are therefore the same value, ``MM;TH``. Citizenship
next keeps a single country and turns any combination into ``Multiple``, then climbs M49.
Exploitation types go to the combination of their broad groups, then to the single group or
``Multiple``. An empty list is ``Unknown`` at every level below the top.

Generalisation hierarchies (level 0 first; the top is always ``*``)
-------------------------------------------------------------------
- age band: band (``18-24``) → wide band (``0-17``, ``18-34``, ``35+``) → ``*``
- gender: value → ``*``
- citizenship: combination → country or ``Multiple`` → M49 intermediate region (the M49
  sub-region where there is none: ``Western Africa``, ``South-eastern Asia``) → M49
  sub-region (``Sub-Saharan Africa``) → M49 region (``Africa``) → ``*``
  (``casework.regions``)
- exploitation type: combination → combination of broad groups → single group or
  ``Multiple`` → ``*``. The broad groups are ``Sexual exploitation``; ``Labour exploitation``
  (forced labour, child labour, servitude, forced begging); and ``Other exploitation`` (the
  rest).
- year: year → 2-year range starting on an even year (``2024-2025``) → 4-year range starting on
  a multiple of four (``2024-2027``) → ``*``. The ranges must nest for the hierarchy to be a
  tree (each level a function of the one below). Two-year ranges cannot nest in five-year
  ones, so the wider range is four years.
- trafficking status, recruited online: value → ``*``

Algorithm
---------
Top-down specialisation (Fung, Wang & Yu 2005, "Top-down specialization for information and
privacy preservation", ICDE) with sibling generalisation (Fung, Wang, Chen & Yu 2010,
"Privacy-preserving data publishing: a survey of recent developments", ACM Computing Surveys
42(4), section 3.1: a parent value stands for its children that are not shown separately).

- It is global recoding. Every recorded value maps to one label in its column, the same for
  every row, so a rare value is generalised the same way wherever it occurs. No per-row
  (local) recoding is done.
- It starts from every column at ``*`` (one class of all rows).
- Each step picks one label and one node under it in that column's hierarchy. The rows under
  that node take the node as their label; the rest keep the parent label, which then means
  "the values under it not shown separately". For example, ``MM`` and ``KH`` can come out of
  ``*`` while the rare citizenships stay together as ``*``: that is how rare categories stay
  generalised.
- Each step takes the move that gains the most information. Information is measured as
  non-uniform entropy (Gionis & Tassa 2009, "k-Anonymization with minimal loss of
  information", IEEE TKDE 21(2)): a released row loses log2(|rows with its label| / |rows
  with its value|) bits per column.
- A row whose class falls below ``k`` is suppressed. Every bit it carried counts as lost, so
  a move that strands rows pays for them.
- A move is allowed only while the suppressed rows stay within ``max_suppression`` of the
  caseload. A move that breaks this once can never become allowed again, because classes only
  get smaller.
- The search stops when no allowed move gains information. Ties go to the first column, then
  to the most specific node.

Every class of the result has at least ``k`` rows or is suppressed. With fewer than ``k``
records, every row is suppressed. The result does not depend on the input order or on hash
seeds, and the rows are sorted by value, so their order says nothing about the caseload.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import IO, Any

from .. import regions, vocab
from ..spreadsheets import neutralise

DEFAULT_K = 11
DEFAULT_MAX_SUPPRESSION = 0.05
SUPPRESSED = "*"
MULTIPLE = "Multiple"
UNKNOWN = "Unknown"
SEPARATOR = ";"  # HTCDS multiselect picklists (Salesforce) separate values with ";"

WIDE_AGE_BANDS = {
    "0-11": "0-17",
    "12-17": "0-17",
    "18-24": "18-34",
    "25-34": "18-34",
    "35-49": "35+",
    "50+": "35+",
}

SEXUAL = "Sexual exploitation"
LABOUR = "Labour exploitation"
OTHER = "Other exploitation"
EXPLOITATION_GROUPS = {
    "SexualExploitation": SEXUAL,
    "ForcedLabour": LABOUR,
    "ChildLabour": LABOUR,
    "Servitude": LABOUR,
    "ForcedBegging": LABOUR,
}  # every other HTCDS type of exploitation is OTHER
GROUP_ORDER = (SEXUAL, LABOUR, OTHER)

ONLINE_RECRUITMENT = frozenset({"ThroughOnlineSocialNetworks", "ThroughAnOnlineAdvertisement"})


@dataclass(frozen=True)
class SurvivorRecord:
    """What the export may know of one survivor, built by the caller from a Survivor row.

    ``age_band`` is a ``vocab.AGE_BANDS`` value (from the birth date or the stored age band);
    ``intake_year`` is the year of ``intake_date``; the other fields are the Survivor columns of
    the same name (HTCDS values, ISO 3166-1 alpha-2 codes). Lists may be any iterable of str.
    """

    age_band: str | None = None
    gender: str | None = None
    citizenship: tuple[str, ...] = ()
    exploitation_types: tuple[str, ...] = ()
    intake_year: int | None = None
    trafficking_status: str | None = None
    recruitment_methods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("citizenship", "exploitation_types", "recruitment_methods"):
            value = getattr(self, name)
            if value is None:
                value = ()
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                raise ValueError(f"{name} must be a list of codes")
            object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SurvivorRecord:
        """Reads this class's field names only: any other key is ignored, never exported."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if data.get(f.name) is not None})


@dataclass(frozen=True)
class Hierarchy:
    """The generalisation hierarchy of one exported column."""

    column: str  # CSV header
    levels: tuple[str, ...]  # level names, level 0 first, "*" last
    canonical: Callable[[SurvivorRecord], Any]  # a record's level-0 value (hashable)
    label: Callable[[Any, int], str]  # (level-0 value, level below the top) -> cell text

    @property
    def height(self) -> int:
        return len(self.levels) - 1

    def generalise(self, value: Any, level: int) -> str:
        if not 0 <= level <= self.height:
            raise ValueError(f"{self.column} has no level {level}")
        return SUPPRESSED if level == self.height else self.label(value, level)


@cache
def _vocabularies() -> dict[str, tuple[str, ...]]:
    return {
        "age_band": vocab.AGE_BANDS.values,
        "gender": vocab.htcds(vocab.GENDER).values,
        "citizenship": tuple(regions.table()),
        "exploitation_types": vocab.htcds(vocab.EXPLOITATION_TYPES).values,
        "trafficking_status": vocab.htcds(vocab.TRAFFICKING_STATUS).values,
        "recruitment_methods": vocab.htcds(vocab.RECRUITMENT_METHODS).values,
    }


def _validate(record: SurvivorRecord) -> None:
    allowed = _vocabularies()
    for name, values in allowed.items():
        value = getattr(record, name)
        for item in value if isinstance(value, tuple) else (value,):
            if item is not None and item not in values:
                # The value is not quoted: it may be free text about a survivor.
                raise ValueError(f"{name}: a value outside its vocabulary")
    year = record.intake_year
    if year is not None and (
        isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9999
    ):
        raise ValueError("intake_year must be a year (int)")


# --- level-0 values -------------------------------------------------------------------------

def _citizenship(record: SurvivorRecord) -> tuple[str, ...]:
    return tuple(sorted(set(record.citizenship)))


def _exploitation(record: SurvivorRecord) -> tuple[str, ...]:
    order = _vocabularies()["exploitation_types"]
    return tuple(sorted(set(record.exploitation_types), key=order.index))


def _recruited_online(record: SurvivorRecord) -> str:
    if not record.recruitment_methods:
        return UNKNOWN
    return "Yes" if ONLINE_RECRUITMENT.intersection(record.recruitment_methods) else "No"


# --- labels per level -----------------------------------------------------------------------

def _age_label(band: str | None, level: int) -> str:
    if band is None:
        return UNKNOWN
    return band if level == 0 else WIDE_AGE_BANDS[band]


def _citizenship_label(codes: tuple[str, ...], level: int) -> str:
    if not codes:
        return UNKNOWN
    if level == 0:
        return SEPARATOR.join(codes)
    if len(codes) > 1:
        return MULTIPLE
    if level == 1:
        return codes[0]
    climb = (regions.intermediate_region_of, regions.sub_region_of, regions.region_of)
    return climb[level - 2](codes[0])


def _exploitation_label(types: tuple[str, ...], level: int) -> str:
    if not types:
        return UNKNOWN
    if level == 0:
        return SEPARATOR.join(types)
    present = {EXPLOITATION_GROUPS.get(t, OTHER) for t in types}
    groups = [group for group in GROUP_ORDER if group in present]
    if level == 1:
        return SEPARATOR.join(groups)
    return groups[0] if len(groups) == 1 else MULTIPLE


def _year_label(year: int | None, level: int) -> str:
    if year is None:
        return UNKNOWN
    if level == 0:
        return str(year)
    width = (2, 4)[level - 1]
    start = year - year % width
    return f"{start}-{start + width - 1}"


def _value_label(value: str | None, level: int) -> str:
    return UNKNOWN if value is None else value


HIERARCHIES: dict[str, Hierarchy] = {
    h.column: h
    for h in (
        Hierarchy("cw_AgeBand", ("age band", "wide age band", SUPPRESSED),
                  lambda r: r.age_band, _age_label),
        Hierarchy("prs_Gender", ("gender", SUPPRESSED),
                  lambda r: r.gender or "NonSpecifiedUnknown", _value_label),
        Hierarchy("prs_Citizenship",
                  ("countries", "country or Multiple", "M49 intermediate region",
                   "M49 sub-region", "M49 region", SUPPRESSED),
                  _citizenship, _citizenship_label),
        Hierarchy("vic_TypeOfExploitation",
                  ("types", "broad groups", "broad group or Multiple", SUPPRESSED),
                  _exploitation, _exploitation_label),
        Hierarchy("cw_IntakeYear", ("year", "2-year range", "4-year range", SUPPRESSED),
                  lambda r: r.intake_year, _year_label),
        Hierarchy("vic_TraffickingStatus", ("trafficking status", SUPPRESSED),
                  lambda r: r.trafficking_status, _value_label),
        Hierarchy("cw_RecruitedOnline", ("recruited online", SUPPRESSED),
                  _recruited_online, _value_label),
    )
}
CORE_COLUMNS = ("cw_AgeBand", "prs_Gender", "prs_Citizenship", "vic_TypeOfExploitation",
                "cw_IntakeYear")
OPTIONAL_COLUMNS = ("vic_TraffickingStatus", "cw_RecruitedOnline")


@dataclass(frozen=True)
class Result:
    """The released rows and what it took to release them.

    ``rows`` map column → cell text and are sorted by value. ``suppressed_count`` says how
    many survivors were left out. ``generalisation_levels[column][cell]`` is the hierarchy
    level a released cell stands at: 0 is as recorded, and ``HIERARCHIES[column].levels``
    names the levels. It lists only cells that appear in ``rows``, so it says nothing about
    suppressed survivors. ``k`` is the k the rows satisfy; ``columns`` are the exported
    columns, in order.
    """

    rows: tuple[dict[str, str], ...]
    suppressed_count: int
    generalisation_levels: dict[str, dict[str, int]]
    k: int
    columns: tuple[str, ...] = CORE_COLUMNS

    @property
    def generalised(self) -> bool:
        """Whether any released cell stands above level 0."""
        return any(any(levels.values()) for levels in self.generalisation_levels.values())

    def level_names(self) -> dict[str, dict[str, str]]:
        """Column → released cell → the name of its level, e.g. for ``prs_Citizenship``,
        ``{"MM": "countries", "Western Africa": "M49 intermediate region", "*": "*"}``."""
        return {
            column: {cell: HIERARCHIES[column].levels[level] for cell, level in levels.items()}
            for column, levels in self.generalisation_levels.items()
        }


def deidentify(
    records: Iterable[SurvivorRecord | Mapping[str, Any]],
    k: int = DEFAULT_K,
    max_suppression: float = DEFAULT_MAX_SUPPRESSION,
    columns: Sequence[str] = CORE_COLUMNS,
) -> Result:
    """k-anonymise ``records`` (see the module docstring). ``max_suppression`` is the share
    (0 to 1) of the records that may be left out rather than generalising further.
    ``columns`` are the exported columns, all of them quasi-identifiers: ``CORE_COLUMNS`` and,
    if asked for, some of ``OPTIONAL_COLUMNS``."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError("k must be an int")
    if k < 2:
        raise ValueError("k must be at least 2")
    if (isinstance(max_suppression, bool) or not isinstance(max_suppression, int | float)
            or not 0 <= max_suppression <= 1):
        raise ValueError("max_suppression must be a share between 0 and 1")
    columns = tuple(columns)
    if (not set(CORE_COLUMNS) <= set(columns) or not set(columns) <= set(HIERARCHIES)
            or len(set(columns)) != len(columns)):
        raise ValueError("columns: the core columns, and optional ones at most once")
    hierarchies = [HIERARCHIES[column] for column in columns]

    canonical = []
    for record in records:
        if not isinstance(record, SurvivorRecord):
            record = SurvivorRecord.from_mapping(record)
        _validate(record)
        canonical.append(tuple(h.canonical(record) for h in hierarchies))
    n = len(canonical)
    budget = min(n, math.floor(max_suppression * n + 1e-9))

    classes = _Specialiser(hierarchies, canonical, k, budget).run() if n else {}
    released = sorted((key for key, size in classes.items() if size >= k),
                      key=lambda key: [label for _, label in key])
    levels: dict[str, dict[str, int]] = {column: {} for column in columns}
    for key in released:
        for column, (level, label) in zip(columns, key, strict=True):
            levels[column][label] = level
    rows = tuple(
        dict(zip(columns, (label for _, label in key), strict=True))
        for key in released
        for _ in range(classes[key])
    )
    return Result(
        rows=rows,
        suppressed_count=n - len(rows),
        generalisation_levels={c: dict(sorted(v.items())) for c, v in levels.items()},
        k=k,
        columns=columns,
    )


Node = tuple[int, str]  # (level, label) in one column's hierarchy
Key = tuple[Node, ...]  # an equivalence class: its label in each column


class _Specialiser:
    """Top-down specialisation with sibling generalisation (see the module docstring)."""

    def __init__(self, hierarchies: list[Hierarchy], canonical: list[tuple], k: int,
                 budget: int) -> None:
        self.k, self.budget, self.n = k, budget, len(canonical)
        self.width = len(hierarchies)
        weights = Counter(canonical)
        # Distinct records, in an order that depends neither on the input order nor on hashing.
        self.rows = sorted(weights, key=repr)
        self.weights = [weights[row] for row in self.rows]
        self.paths: list[dict[Any, tuple[str, ...]]] = []  # value -> its label at each level
        self.children: list[dict[Node, dict[Node, None]]] = []  # in this caseload
        for column, hierarchy in enumerate(hierarchies):
            paths: dict[Any, tuple[str, ...]] = {}
            children: dict[Node, dict[Node, None]] = {}
            for row in self.rows:
                if row[column] in paths:
                    continue
                path = paths[row[column]] = tuple(
                    hierarchy.generalise(row[column], level)
                    for level in range(hierarchy.height + 1)
                )
                for level in range(1, len(path)):
                    below = (level - 1, path[level - 1])
                    children.setdefault((level, path[level]), {})[below] = None
            self.paths.append(paths)
            self.children.append(children)
        top = tuple(self._settle(c, (h.height, SUPPRESSED)) for c, h in enumerate(hierarchies))
        self.classes: dict[Key, list[int]] = {top: list(range(len(self.rows)))}
        self.size: dict[Key, int] = {top: self.n}
        self.index: list[dict[Node, dict[Key, None]]] = [{node: {top: None}} for node in top]
        self.count: list[dict[Node, int]] = [{node: self.n} for node in top]  # rows per label
        self.suppressed = 0 if self.n >= k else self.n
        self.cache: dict[tuple[int, Node], dict[Node, tuple[float, int]]] = {}
        self.invalid: set[tuple[int, Node, Node]] = set()
        self.below: dict[tuple[int, Node, Any], tuple[Node, ...]] = {}

    def _settle(self, column: int, node: Node) -> Node:
        """Down a chain of only children: the same records, a more specific label."""
        while node[0] > 0 and len(self.children[column][node]) == 1:
            node = next(iter(self.children[column][node]))
        return node

    def _below(self, column: int, node: Node, row: int) -> tuple[Node, ...]:
        """The nodes under ``node`` on the row's path, nearest first. A chain of only
        children holds the same rows, so only its lowest node is listed."""
        value = self.rows[row][column]
        found = self.below.get((column, node, value))
        if found is None:
            path = self.paths[column][value]
            nodes: list[Node] = []
            for level in range(node[0] - 1, -1, -1):
                settled = self._settle(column, (level, path[level]))
                if not nodes or nodes[-1] != settled:
                    nodes.append(settled)
            found = self.below[(column, node, value)] = tuple(nodes)
        return found

    def _info(self, key: Key) -> float:
        """Bits a released row of this class carries: sum over columns of log2(n / |label|)."""
        return sum(math.log2(self.n / self.count[c][node]) for c, node in enumerate(key))

    def _evaluate(self, column: int, node: Node) -> dict[Node, tuple[float, int]]:
        """For each node under the label ``node``: (bits gained, rows newly suppressed) if
        the rows labelled ``node`` under it took it as their label."""
        k, total = self.k, self.count[column][node]
        released = 0  # rows labelled ``node`` in classes of at least k
        under: dict[Node, int] = {}  # rows labelled ``node`` under each candidate
        pieces: dict[Node, list[tuple[int, int, Key]]] = {}  # (rows moved, class size, class)
        for key in self.index[column][node]:
            size = self.size[key]
            by_value: dict[int, int] = {}  # a row standing for its value -> rows with it
            first: dict[Any, int] = {}
            for row in self.classes[key]:
                stand_in = first.setdefault(self.rows[row][column], row)
                by_value[stand_in] = by_value.get(stand_in, 0) + self.weights[row]
            parts: dict[Node, int] = {}
            for stand_in, weight in by_value.items():
                for below in self._below(column, node, stand_in):
                    parts[below] = parts.get(below, 0) + weight
            for below, part in parts.items():
                under[below] = under.get(below, 0) + part
                if size >= k:
                    pieces.setdefault(below, []).append((part, size, key))
            if size >= k:
                released += size
        info: dict[Key, float] = {}
        result = {}
        for below in sorted(under):
            moved_count = under[below]
            rest_count = total - moved_count
            gain, newly, in_classes = 0.0, 0, 0
            for part, size, key in pieces.get(below, ()):
                in_classes += size
                for piece, count in ((part, moved_count), (size - part, rest_count)):
                    if piece >= k:
                        gain += piece * math.log2(total / count)
                    elif piece:
                        newly += piece
                        if key not in info:
                            info[key] = self._info(key)
                        gain -= piece * info[key]
            if rest_count:  # released classes without rows under ``below``: a finer label
                gain += (released - in_classes) * math.log2(total / rest_count)
            result[below] = (round(gain, 9), newly)
        return result

    def _move(self, column: int, node: Node, target: Node) -> None:
        """The rows labelled ``node`` under ``target`` take ``target`` as their label."""
        for key in list(self.index[column][node]):
            members = self.classes.pop(key)
            was_small = self.size.pop(key) < self.k
            for c, part in enumerate(key):
                del self.index[c][part][key]
                if not self.index[c][part]:
                    del self.index[c][part]
                self.cache.pop((c, part), None)
            parts: dict[Node, list[int]] = {}
            for row in members:
                label = target if target in self._below(column, node, row) else node
                parts.setdefault(label, []).append(row)
            for label, rows in parts.items():
                new_key = key[:column] + (label,) + key[column + 1:]
                size = sum(self.weights[row] for row in rows)
                self.classes[new_key], self.size[new_key] = rows, size
                for c, part in enumerate(new_key):
                    self.index[c].setdefault(part, {})[new_key] = None
                if size < self.k and not was_small:
                    self.suppressed += size
                if label == target:
                    self.count[column][target] = self.count[column].get(target, 0) + size
                    self.count[column][node] -= size
        if not self.count[column][node]:
            del self.count[column][node]
        self.cache.pop((column, node), None)
        # The rows left under ``node`` may all lie under one node: same rows, finer label.
        if node in self.index[column]:
            common = self._common(column, node)
            if common:
                self._move(column, node, common[-1])

    def _common(self, column: int, node: Node) -> list[Node]:
        """The nodes under ``node`` that every row labelled ``node`` lies under."""
        common: tuple[Node, ...] | None = None
        for key in self.index[column][node]:
            for row in self.classes[key]:
                below = self._below(column, node, row)
                if common is None:
                    common = below
                    continue
                same = 0
                while same < min(len(common), len(below)) and common[same] == below[same]:
                    same += 1
                common = common[:same]
                if not common:
                    return []
        return list(common or ())

    def run(self) -> dict[Key, int]:
        """Specialise while a move gains information within the suppression budget; the final
        equivalence classes and their sizes."""
        if self.n < self.k:
            return dict(self.size)
        while True:
            best: tuple | None = None
            for column in range(self.width):
                for node in list(self.index[column]):
                    if node[0] == 0:
                        continue
                    if (column, node) not in self.cache:
                        self.cache[(column, node)] = self._evaluate(column, node)
                    for below, (gain, newly) in self.cache[(column, node)].items():
                        if gain <= 0 or (column, node, below) in self.invalid:
                            continue
                        if self.suppressed + newly > self.budget:
                            self.invalid.add((column, node, below))  # only gets worse
                            continue
                        # Equal gains: the first column, then the most specific node.
                        candidate = (-gain, column, below, node)
                        if best is None or candidate < best:
                            best = candidate
            if best is None:
                return dict(self.size)
            _, column, below, node = best
            self._move(column, node, below)


def write_csv(result: Result, fileobj: IO[str]) -> None:
    """Write ``result`` as CSV to a text file opened with ``newline=""``. The header is
    ``result.columns`` (HTCDS names, or ``cw_`` where HTCDS has none), then one line per
    released row. Every cell is neutralised against formula injection."""
    writer = csv.writer(fileobj)
    writer.writerow([neutralise(column) for column in result.columns])
    for row in result.rows:
        writer.writerow([neutralise(str(row.get(column, ""))) for column in result.columns])
