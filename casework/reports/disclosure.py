"""Statistical disclosure control for donor impact reports (pure library, no database).

A donor impact report is a set of :class:`Table` s for a :class:`Period` of whole months. Before
publication :func:`protect` decides which figures are shown as ``"<k"`` (k = 11 unless configured,
never below 5, see :func:`threshold`):

* **Primary suppression** — every cell and every published margin whose value *or* number of
  distinct contributing survivors is between 1 and k−1. Zero (value 0, no contributor) is shown
  as 0 and is never suppressed.
* **Complementary suppression** — further figures, chosen by linear programs that minimise the
  total value suppressed (the smallest non-zero cells first, never a zero, a margin only when no
  set of interior cells will do; deterministic), until the attacker below cannot pin anything.

Typical use::

    k = threshold(settings_value)
    report = protect(tables, links, k, period=Period.parse("2024-01..2024-06"),
                     report_id="r-17", title="H1 2024", scope="programme-3",
                     published=already_published)          # frozen reports, same scope
    problems = check_publishable(report, already_published)  # [] when fine
    public_json = report.to_json()      # the donor-facing contract
    frozen = report.to_record()         # everything, incl. true values: store privately

The attacker
------------
What a reader is assumed to know. It is always *true* knowledge, so the real figures are one of
the solutions the attacker considers:

1. every published figure of every report given, and that a margin is the sum of its cells;
2. every :class:`Link` (two figures describe the same population, so they are equal);
3. every figure is a whole number ≥ 0;
4. a figure shown as ``"<k"`` is never 0 (zeros are never suppressed), and whether it really is
   below k (1..k−1) or not (≥ k). Complementary suppressions are also shown as ``"<k"``; a reader
   who knows how suppression works can often tell which is which, so the attacker is simply
   given the answer. This is more than the brief's minimum (non-negativity and "never 0") and
   catches, e.g., two ``"<11"`` cells with a published total of 20 (both must be 10);
5. across reports of one ``scope``: an *additive* table (services, nights, sessions, intakes) is
   the sum of its months, so reports of overlapping periods share unknowns — one per cell per
   *segment*, the segments being the pieces into which all those reports' periods cut the
   months (Jan–Jun and Jan–Jul: Jan–Jun and Jul). A table of unique survivors shares nothing
   with other periods; the same table for the very same period is the same figures.

Exposures (see :class:`Exposure`): a suppressed figure whose range holds fewer than ``width``
+ 1 whole numbers (``width`` = 1: pinned to one value); and figures nobody publishes but the
attacker can work out, when pinned (narrowed below ``width``) to 1..k−1, or pinned and coming
from 1..k−1 survivors: a total a table does not publish, an additive table's figure for one
segment alone (July = Jan–Jul − Jan–Jun), and — option ``nested_unique``, on by default — the
difference of a unique-survivor table between nested periods (survivors new in the extra
months; the brief's model would let "50 served in H1, 51 in Jan–Jul" through).

Ranges come from linear programs (:func:`scipy.optimize.linprog`, HiGHS) over whole components
of the system, rounded inwards to whole numbers; the LP has the last word. Cheaper tests go
first: exact propagation (an equation with one unknown left fixes it), the row-space test (a
figure that is a combination of the known equations is pinned; Gauss–Jordan elimination, the
matrices being small with entries ±1), and feasible directions from known feasible points,
which prove most figures free without an LP. The LP relaxation can in principle be weaker than
an attacker who also uses integrality; for a single two-way table with margins the two agree
(totally unimodular), and the tests check random reports against an integer-programming
attacker.

Across reports: :func:`check_publishable` explains, in sentences, why a report cannot be
published next to the already published ones; :func:`protect` with ``published`` suppresses
enough in the new report to avoid that when it can (published reports are frozen and never
changed), else raises :class:`ProtectionError`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

__all__ = [
    "DEFAULT_K",
    "MIN_K",
    "TOTAL",
    "Cell",
    "Exposure",
    "Link",
    "MissingMonthlyData",
    "Period",
    "Position",
    "ProtectedReport",
    "ProtectionError",
    "Ref",
    "Table",
    "audit",
    "check_publishable",
    "protect",
    "threshold",
]

DEFAULT_K = 11
MIN_K = 5
TOTAL = "Total"
"""Label of the margins: the "Total" row and column of the published JSON. Not a valid label."""

_EPS = 1e-6
_INF = math.inf


# --------------------------------------------------------------------------------------------
# Threshold


def threshold(k_setting: int | str | None = None) -> int:
    """The suppression threshold k from a setting (None → 11); ValueError when below 5."""
    if k_setting is None:
        return DEFAULT_K
    if isinstance(k_setting, bool):
        raise ValueError(f"disclosure threshold must be a whole number, not {k_setting!r}")
    if isinstance(k_setting, str):
        text = k_setting.strip()
        if not text.lstrip("+").isdigit():
            raise ValueError(f"disclosure threshold must be a whole number, not {k_setting!r}")
        k = int(text)
    elif isinstance(k_setting, int):
        k = k_setting
    else:
        raise ValueError(f"disclosure threshold must be a whole number, not {k_setting!r}")
    if k < MIN_K:
        raise ValueError(
            f"disclosure threshold k={k} is too low: it must be at least {MIN_K} "
            f"(counts from 1 to k-1 are suppressed; the default is {DEFAULT_K})"
        )
    return k


# --------------------------------------------------------------------------------------------
# Data model


def _month_ordinal(d: date) -> int:
    return d.year * 12 + d.month - 1


def _month_date(ordinal: int) -> date:
    return date(ordinal // 12, ordinal % 12 + 1, 1)


def _month_text(ordinal: int) -> str:
    return f"{ordinal // 12:04d}-{ordinal % 12 + 1:02d}"


@dataclass(frozen=True, order=True)
class Period:
    """Whole months from ``first`` to ``last`` inclusive (days are ignored)."""

    first: date
    last: date

    def __post_init__(self) -> None:
        for name in ("first", "last"):
            d = getattr(self, name)
            if not isinstance(d, date):
                raise TypeError(f"Period.{name} must be a date, not {d!r}")
            object.__setattr__(self, name, date(d.year, d.month, 1))
        if self.last < self.first:
            raise ValueError(f"period ends ({self.last:%Y-%m}) before it starts ({self.first:%Y-%m})")

    @classmethod
    def parse(cls, text: str) -> Period:
        """``"2024-01..2024-06"`` or a single month ``"2024-07"``."""
        parts = text.split("..")
        if len(parts) not in (1, 2):
            raise ValueError(f"not a period: {text!r} (expected YYYY-MM..YYYY-MM)")
        months = []
        for part in parts:
            try:
                year, month = part.strip().split("-")
                months.append(date(int(year), int(month), 1))
            except ValueError as exc:
                raise ValueError(f"not a period: {text!r} (expected YYYY-MM..YYYY-MM)") from exc
        return cls(months[0], months[-1])

    @classmethod
    def _from_span(cls, first: int, last: int) -> Period:
        return cls(_month_date(first), _month_date(last))

    @property
    def span(self) -> tuple[int, int]:
        """First and last month as ordinals (year * 12 + month − 1)."""
        return _month_ordinal(self.first), _month_ordinal(self.last)

    def months(self) -> tuple[date, ...]:
        """The first day of every month of the period."""
        a, b = self.span
        return tuple(_month_date(o) for o in range(a, b + 1))

    def overlaps(self, other: Period) -> bool:
        return self.first <= other.last and other.first <= self.last

    def contains(self, other: Period) -> bool:
        return self.first <= other.first and other.last <= self.last

    def __str__(self) -> str:
        a, b = self.span
        return _month_text(a) if a == b else f"{_month_text(a)}..{_month_text(b)}"


@dataclass(frozen=True, slots=True)
class Cell:
    """A figure: ``value`` (count, nights, …) and the number of distinct survivors behind it.

    For a count of survivors value == contributors; for shelter nights the value is the nights
    and contributors the survivors who stayed. A value > 0 without contributors is rejected.
    """

    value: int
    contributors: int

    def __post_init__(self) -> None:
        for name in ("value", "contributors"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"Cell.{name} must be an int, not {v!r}")
            if v < 0:
                raise ValueError(f"Cell.{name} must be >= 0, not {v}")
        if self.value > 0 and self.contributors == 0:
            raise ValueError(f"a cell with value {self.value} must have at least one contributor")

    @classmethod
    def count(cls, n: int) -> Cell:
        """A count of survivors: value and contributors are both ``n``."""
        return cls(n, n)

    @property
    def is_zero(self) -> bool:
        return self.value == 0 and self.contributors == 0

    def sensitive(self, k: int) -> bool:
        """Primary-suppressed at threshold k: value or contributors in 1..k−1."""
        return 0 < self.value < k or 0 < self.contributors < k


Matrix = tuple[tuple[Cell, ...], ...]


def _as_cell(x: Any, what: str) -> Cell:
    if isinstance(x, Cell):
        return x
    if isinstance(x, int) and not isinstance(x, bool):
        return Cell(x, x)
    raise TypeError(f"{what} must be a Cell or an int count, not {x!r}")


def _as_matrix(cells: Any, nrows: int, ncols: int, what: str) -> Matrix:
    rows = tuple(tuple(_as_cell(c, what) for c in row) for row in cells)
    if len(rows) != nrows or any(len(r) != ncols for r in rows):
        raise ValueError(f"{what} must be {nrows} rows of {ncols} cells")
    return rows


def _labels(labels: Iterable[str], what: str) -> tuple[str, ...]:
    out = tuple(labels)
    if not out:
        raise ValueError(f"{what}: at least one label is needed")
    for label in out:
        if not isinstance(label, str) or not label:
            raise ValueError(f"{what}: labels must be non-empty strings, not {label!r}")
        if label == TOTAL:
            raise ValueError(f"{what}: {TOTAL!r} is reserved for the margins")
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: duplicate labels")
    return out


@dataclass(frozen=True)
class Table:
    """One table of a report: a matrix of cells and the margins it publishes.

    ``cells[i][j]`` is the figure for ``rows[i]`` × ``columns[j]`` (ints are accepted as counts
    of survivors). Margins are computed (value = sum of the cells); their contributors are the
    caller's ``*_contributors`` (distinct survivors; not additive when one survivor can be in
    several cells) and default to the sum. ``additive`` tables (services, nights, sessions,
    intakes) are sums over months: give ``monthly`` (first day of month → matrix) so that
    reports of overlapping periods can be checked against each other; non-additive tables count
    unique survivors of the period.
    """

    name: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: Matrix
    row_totals: bool = True
    column_totals: bool = True
    grand_total: bool = True
    additive: bool = False
    row_total_contributors: tuple[int, ...] | None = None
    column_total_contributors: tuple[int, ...] | None = None
    grand_total_contributors: int | None = None
    monthly: Mapping[date, Matrix] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a table needs a name")
        rows = _labels(self.rows, f"table {self.name!r} rows")
        columns = _labels(self.columns, f"table {self.name!r} columns")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "columns", columns)
        cells = _as_matrix(self.cells, len(rows), len(columns), f"table {self.name!r} cells")
        object.__setattr__(self, "cells", cells)
        for attr, n in (("row_total_contributors", len(rows)), ("column_total_contributors", len(columns))):
            given = getattr(self, attr)
            if given is not None:
                given = tuple(given)
                if len(given) != n:
                    raise ValueError(f"table {self.name!r}: {attr} needs {n} numbers")
                object.__setattr__(self, attr, given)
        for i in range(len(rows)):
            self._check_margin(self.row_total(i), [cells[i][j] for j in range(len(columns))], f"row {rows[i]!r}")
        for j in range(len(columns)):
            self._check_margin(self.column_total(j), [r[j] for r in cells], f"column {columns[j]!r}")
        self._check_margin(self.total(), [c for r in cells for c in r], "grand total")
        if self.monthly is not None:
            if not self.additive:
                raise ValueError(f"table {self.name!r}: monthly cells only make sense for additive tables")
            monthly: dict[date, Matrix] = {}
            for month, matrix in sorted(self.monthly.items()):
                key = date(month.year, month.month, 1)
                if key in monthly:
                    raise ValueError(f"table {self.name!r}: month {key:%Y-%m} given twice")
                monthly[key] = _as_matrix(matrix, len(rows), len(columns), f"table {self.name!r} month {key:%Y-%m}")
            for i in range(len(rows)):
                for j in range(len(columns)):
                    parts = [m[i][j] for m in monthly.values()]
                    cell = cells[i][j]
                    where = f"table {self.name!r} {rows[i]!r}×{columns[j]!r}"
                    if sum(p.value for p in parts) != cell.value:
                        raise ValueError(f"{where}: monthly values do not add up to the cell")
                    if parts and (max(p.contributors for p in parts) > cell.contributors
                                  or cell.contributors > sum(p.contributors for p in parts)):
                        raise ValueError(f"{where}: monthly contributors are inconsistent with the cell")
            object.__setattr__(self, "monthly", MappingProxyType(monthly))

    def _check_margin(self, margin: Cell, members: list[Cell], where: str) -> None:
        if members and not (max(c.contributors for c in members) <= margin.contributors
                            <= sum(c.contributors for c in members)):
            raise ValueError(
                f"table {self.name!r} {where}: {margin.contributors} contributors is impossible "
                f"(between the largest cell's and the sum of the cells' contributors)"
            )

    @classmethod
    def counts(cls, name: str, rows: Sequence[str], columns: Sequence[str],
               counts: Sequence[Sequence[int]], **options: Any) -> Table:
        """A table of counts of survivors (value == contributors in every cell)."""
        return cls(name, tuple(rows), tuple(columns),
                   tuple(tuple(Cell.count(n) for n in r) for r in counts), **options)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.columns)

    def row_total(self, i: int) -> Cell:
        value = sum(c.value for c in self.cells[i])
        given = self.row_total_contributors
        return Cell(value, given[i] if given is not None else sum(c.contributors for c in self.cells[i]))

    def column_total(self, j: int) -> Cell:
        value = sum(r[j].value for r in self.cells)
        given = self.column_total_contributors
        return Cell(value, given[j] if given is not None else sum(r[j].contributors for r in self.cells))

    def total(self) -> Cell:
        value = sum(c.value for r in self.cells for c in r)
        given = self.grand_total_contributors
        return Cell(value, given if given is not None else sum(c.contributors for r in self.cells for c in r))

    def figure(self, row: str, column: str) -> Cell:
        """The cell or margin at ``row`` × ``column`` (either may be :data:`TOTAL`)."""
        i, j = self._index(row, column)
        if i is None and j is None:
            return self.total()
        if i is None:
            return self.column_total(j)  # type: ignore[arg-type]
        if j is None:
            return self.row_total(i)
        return self.cells[i][j]

    def _index(self, row: str, column: str) -> tuple[int | None, int | None]:
        try:
            i = None if row == TOTAL else self.rows.index(row)
            j = None if column == TOTAL else self.columns.index(column)
        except ValueError:
            raise KeyError(f"table {self.name!r} has no figure {row!r} × {column!r}") from None
        return i, j

    def _members(self, i: int | None, j: int | None) -> list[tuple[int, int]]:
        rows = range(len(self.rows)) if i is None else (i,)
        cols = range(len(self.columns)) if j is None else (j,)
        return [(a, b) for a in rows for b in cols]

    def published_positions(self) -> list[tuple[int | None, int | None]]:
        """Cells then margins that appear in the published table, in display order."""
        out: list[tuple[int | None, int | None]] = []
        for i in range(len(self.rows)):
            out.extend((i, j) for j in range(len(self.columns)))
            if self.row_totals:
                out.append((i, None))
        if self.column_totals:
            out.extend((None, j) for j in range(len(self.columns)))
        if self.grand_total:
            out.append((None, None))
        return out

    def position(self, i: int | None, j: int | None) -> Position:
        return Position(self.name, TOTAL if i is None else self.rows[i], TOTAL if j is None else self.columns[j])


class Position(NamedTuple):
    """A figure of a report: table name, row label, column label (:data:`TOTAL` for margins)."""

    table: str
    row: str
    column: str

    def describe(self) -> str:
        if self.row == TOTAL and self.column == TOTAL:
            return f"table “{self.table}”, grand total"
        if self.row == TOTAL:
            return f"table “{self.table}”, total of column “{self.column}”"
        if self.column == TOTAL:
            return f"table “{self.table}”, total of row “{self.row}”"
        return f"table “{self.table}”, row “{self.row}”, column “{self.column}”"


@dataclass(frozen=True)
class Ref:
    """A figure of a table of the same report: a cell, or a margin when row/column is TOTAL."""

    table: str
    row: str = TOTAL
    column: str = TOTAL


@dataclass(frozen=True)
class Link:
    """Two figures of one report that the reader knows are equal (same population).

    E.g. ``Link.totals("Survivors by gender", "Survivors by age band")`` or
    ``Link(Ref("Survivors by gender"), Ref("Summary", "Survivors served", "Count"))``.
    """

    left: Ref
    right: Ref

    @classmethod
    def totals(cls, table_a: str, table_b: str) -> Link:
        """The grand totals of two tables are equal."""
        return cls(Ref(table_a), Ref(table_b))


class ProtectionError(ValueError):
    """:func:`protect` could not hide every suppressed figure; ``exposures`` says which."""

    def __init__(self, exposures: Sequence[Exposure]) -> None:
        self.exposures = tuple(exposures)
        super().__init__("; ".join(e.explain() for e in self.exposures) or "cannot protect the report")


class MissingMonthlyData(ValueError):
    """An additive table's period is cut by another report's period but it has no monthly cells."""


# --------------------------------------------------------------------------------------------
# Protected report


@dataclass(frozen=True)
class ProtectedReport:
    """A report after disclosure control: the true tables plus which figures are suppressed.

    ``to_json()`` is the donor-facing contract; ``to_record()``/``from_record()`` is the complete
    frozen form (true values included — store it like case data, never publish it).
    """

    tables: tuple[Table, ...]
    links: tuple[Link, ...]
    k: int
    primary: frozenset[Position]
    complementary: frozenset[Position]
    period: Period | None = None
    report_id: str = ""
    title: str = ""
    scope: str = ""
    width: int = 1

    @property
    def suppressed(self) -> frozenset[Position]:
        return self.primary | self.complementary

    @property
    def marker(self) -> str:
        """What a suppressed figure is published as, e.g. ``"<11"``."""
        return f"<{self.k}"

    @property
    def label(self) -> str:
        """How explanations name this report."""
        name = self.title or self.report_id or "this report"
        return f"{name} ({self.period})" if self.period is not None and str(self.period) not in name else name

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r} in report {self.label}")

    def shown(self, position: Position) -> int | str:
        """The figure as published: its value, or the marker when suppressed."""
        if position in self.suppressed:
            return self.marker
        return self.table(position.table).figure(position.row, position.column).value

    def to_json(self) -> dict[str, Any]:
        """``{"tables": [{"name", "rows": [{"label", "values": {...}}]}]}``; margins as "Total"."""
        out = []
        for t in self.tables:
            rows = []
            for i, label in enumerate(t.rows):
                values: dict[str, int | str] = {}
                for j in range(len(t.columns)):
                    values[t.columns[j]] = self.shown(t.position(i, j))
                if t.row_totals:
                    values[TOTAL] = self.shown(t.position(i, None))
                rows.append({"label": label, "values": values})
            if t.column_totals or t.grand_total:
                values = {}
                if t.column_totals:
                    for j in range(len(t.columns)):
                        values[t.columns[j]] = self.shown(t.position(None, j))
                if t.grand_total:
                    values[TOTAL] = self.shown(t.position(None, None))
                rows.append({"label": TOTAL, "values": values})
            out.append({"name": t.name, "rows": rows})
        return {"tables": out}

    def to_record(self) -> dict[str, Any]:
        """Everything needed to re-check later reports against this one (JSON-able, private)."""

        def matrix(m: Matrix) -> list[list[list[int]]]:
            return [[[c.value, c.contributors] for c in r] for r in m]

        tables = []
        for t in self.tables:
            tables.append({
                "name": t.name, "rows": list(t.rows), "columns": list(t.columns),
                "cells": matrix(t.cells), "row_totals": t.row_totals,
                "column_totals": t.column_totals, "grand_total": t.grand_total,
                "additive": t.additive,
                "row_total_contributors": list(t.row_total_contributors) if t.row_total_contributors is not None else None,
                "column_total_contributors": list(t.column_total_contributors) if t.column_total_contributors is not None else None,
                "grand_total_contributors": t.grand_total_contributors,
                "monthly": ({f"{m:%Y-%m}": matrix(v) for m, v in t.monthly.items()}
                            if t.monthly is not None else None),
            })
        return {
            "version": 1, "report_id": self.report_id, "title": self.title, "scope": self.scope,
            "period": str(self.period) if self.period is not None else None,
            "k": self.k, "width": self.width, "tables": tables,
            "links": [[[ln.left.table, ln.left.row, ln.left.column],
                       [ln.right.table, ln.right.row, ln.right.column]] for ln in self.links],
            "primary": sorted(list(p) for p in self.primary),
            "complementary": sorted(list(p) for p in self.complementary),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ProtectedReport:
        """Inverse of :meth:`to_record`."""
        if record.get("version") != 1:
            raise ValueError(f"unknown report record version {record.get('version')!r}")

        def matrix(m: Any) -> Matrix:
            return tuple(tuple(Cell(int(v), int(c)) for v, c in r) for r in m)

        tables = []
        for t in record["tables"]:
            monthly = t.get("monthly")
            tables.append(Table(
                t["name"], tuple(t["rows"]), tuple(t["columns"]), matrix(t["cells"]),
                row_totals=t["row_totals"], column_totals=t["column_totals"],
                grand_total=t["grand_total"], additive=t["additive"],
                row_total_contributors=t.get("row_total_contributors"),
                column_total_contributors=t.get("column_total_contributors"),
                grand_total_contributors=t.get("grand_total_contributors"),
                monthly=({Period.parse(m).first: matrix(v) for m, v in monthly.items()}
                         if monthly is not None else None),
            ))
        return cls(
            tables=tuple(tables),
            links=tuple(Link(Ref(*a), Ref(*b)) for a, b in record["links"]),
            k=threshold(record["k"]),
            primary=frozenset(Position(*p) for p in record["primary"]),
            complementary=frozenset(Position(*p) for p in record["complementary"]),
            period=Period.parse(record["period"]) if record.get("period") else None,
            report_id=record.get("report_id", ""), title=record.get("title", ""),
            scope=record.get("scope", ""), width=int(record.get("width", 1)),
        )


# --------------------------------------------------------------------------------------------
# Exposures


ExposureKind = Literal["suppressed", "margin", "segment", "difference", "unverifiable"]


@dataclass(frozen=True)
class Exposure:
    """A figure the attacker can pin (or narrow below the protection width).

    ``kind``: "suppressed" — a suppressed figure of ``report_label``; "margin" — a total that
    ``report_label`` does not publish but that can be worked out and is small; "segment" — an additive
    table's figure for ``segment`` alone, obtained by subtracting reports; "difference" — the
    difference of a unique-survivor table between two nested periods; "unverifiable" — the
    reports cannot be checked against each other (``detail`` says why). ``low``/``high`` is the
    attacker's whole-number interval (``high`` None: unbounded); it is for the caller's logs of
    the decision and should not be shown to donors.
    """

    kind: ExposureKind
    position: Position | None
    report_label: str = ""
    segment: Period | None = None
    low: int = 0
    high: int | None = None
    by_equations: bool = False
    other_reports: tuple[str, ...] = ()
    detail: str = ""

    def explain(self) -> str:
        """One human sentence naming the figure and the reports combined (never the value)."""
        if self.kind == "unverifiable":
            return self.detail
        assert self.position is not None
        where = self.position.describe()
        where = where[0].upper() + where[1:]
        names = [f"“{o}”" for o in self.other_reports]
        if len(names) > 6:
            names = names[:5] + [f"{len(names) - 5} other reports"]
        others = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""
        result = ("can be worked out exactly" if self.high is not None and self.high == self.low
                  else "can be narrowed down too far")
        markers = "" if self.by_equations else " (using also what the suppression markers imply)"
        if self.kind == "suppressed":
            if others:
                return (f"{where} of report “{self.report_label}” is suppressed but {result} by "
                        f"combining it with report(s) {others}{markers}.")
            return (f"{where} of report “{self.report_label}” is suppressed but {result} from the "
                    f"report's own totals{markers}.")
        if self.kind == "margin":
            via = f" by combining it with report(s) {others}" if others else " from the report's own figures"
            return (f"{where} of report “{self.report_label}” is not published but can be worked out"
                    f"{via}{markers}, and it is below the disclosure threshold or from too few survivors.")
        if self.kind == "segment":
            return (f"Combining reports {others} reveals {where[0].lower() + where[1:]} for "
                    f"{self.segment} alone, a figure below the disclosure threshold or from too few "
                    f"survivors{markers}.")
        return (f"Combining reports {others} reveals how many survivors were added during "
                f"{self.segment} to {where[0].lower() + where[1:]}, a number below the disclosure "
                f"threshold{markers}.")


# --------------------------------------------------------------------------------------------
# The combined linear system of one or more reports

_PUBLISHED, _SUPPRESSED, _DERIVED = "published", "suppressed", "derived"


@dataclass
class _Q:
    """A figure of the combined system, as a sum of atoms (with coefficients ±1)."""

    coefs: dict[int, int]
    report: int  # owning report index, -1 for derived figures
    position: Position
    status: str
    value: int | None  # true value when known
    contributors: int
    k: int
    lo: float = 0.0  # attacker's range for suppressed figures
    hi: float = _INF
    is_margin: bool = False
    is_zero: bool = False
    kind: str = "suppressed"  # for targets: suppressed / segment / difference
    segment: Period | None = None
    reports: tuple[int, ...] = ()  # reports a derived figure comes from


def _band(value: int, k: int) -> tuple[float, float]:
    """What the attacker knows about a suppressed figure: below k or not, and never 0."""
    if value < k:
        return (1.0 if value > 0 else 0.0), float(k - 1)
    return float(k), _INF


class _Inconsistent(Exception):
    pass


class _System:
    """Atoms (unknown whole numbers) and the figures of the given reports over them.

    ``include`` restricts which tables of which report take part (report index → table names).
    With ``focus`` only differences between that report and another are derived (the others
    were checked when published).
    """

    def __init__(self, reports: Sequence[ProtectedReport], include: Mapping[int, set[str]] | None = None,
                 nested_unique: bool = True, focus: int | None = None) -> None:
        self.reports = list(reports)
        self.atoms: dict[tuple[Any, ...], int] = {}
        self.truth: list[int | None] = []
        self.atom_contrib: list[int] = []
        self.atom_reports: list[set[int]] = []
        self.quantities: list[_Q] = []
        self.by_position: dict[tuple[int, Position], int] = {}
        self.links: list[tuple[dict[int, int], int]] = []
        self._coef_cache: dict[tuple[int, str], dict[tuple[int, int], list[int]]] = {}

        def included(r: int, name: str) -> bool:
            return include is None or name in include.get(r, ())

        # additive groups: (scope, table name) → members with a period
        groups: dict[tuple[str, str], list[tuple[int, Table]]] = {}
        for r, rep in enumerate(self.reports):
            for t in rep.tables:
                if included(r, t.name) and t.additive and rep.period is not None:
                    groups.setdefault((rep.scope, t.name), []).append((r, t))
        self.segments: dict[tuple[str, str], list[tuple[int, int]]] = {}
        seg_of: dict[tuple[int, str], list[tuple[int, int]]] = {}
        for key, members in groups.items():
            cuts: set[int] = set()
            covered: set[int] = set()
            for r, _t in members:
                a, b = self.reports[r].period.span  # type: ignore[union-attr]
                cuts.update((a, b + 1))
                covered.update(range(a, b + 1))
            bounds = sorted(cuts)
            segs = [(bounds[i], bounds[i + 1] - 1) for i in range(len(bounds) - 1) if bounds[i] in covered]
            self.segments[key] = segs
            for r, t in members:
                a, b = self.reports[r].period.span  # type: ignore[union-attr]
                seg_of[(r, t.name)] = [s for s in segs if a <= s[0] and s[1] <= b]

        for r, rep in enumerate(self.reports):
            for t in rep.tables:
                if not included(r, t.name):
                    continue
                segs = seg_of.get((r, t.name))
                cell_atoms: dict[tuple[int, int], list[int]] = {}
                for i, row in enumerate(t.rows):
                    for j, col in enumerate(t.columns):
                        cell = t.cells[i][j]
                        if segs is None:
                            # unique counts: the same period of the same table is the same figure
                            key = (("n", rep.scope, t.name, rep.period.span, row, col) if rep.period is not None
                                   else ("n", r, t.name, row, col))
                            cell_atoms[(i, j)] = [self._atom(key, cell.value, cell.contributors, r)]
                            continue
                        ids = []
                        for s in segs:
                            key = ("a", rep.scope, t.name, row, col, s)
                            if len(segs) == 1:
                                truth, contrib = cell.value, cell.contributors
                            elif t.monthly is not None:
                                parts = [t.monthly[_month_date(o)][i][j] for o in range(s[0], s[1] + 1)
                                         if _month_date(o) in t.monthly]
                                truth = sum(p.value for p in parts)
                                contrib = max((p.contributors for p in parts), default=0)
                            else:
                                raise MissingMonthlyData(
                                    f"table “{t.name}” of report “{rep.label}” is additive and its "
                                    f"period is cut by other reports' periods, but it has no monthly cells"
                                )
                            ids.append(self._atom(key, truth, contrib, r))
                        cell_atoms[(i, j)] = ids
                self._coef_cache[(r, t.name)] = cell_atoms
                for i, j in t.published_positions():
                    pos = t.position(i, j)
                    fig = t.figure(pos.row, pos.column)
                    coefs: dict[int, int] = {}
                    for m in t._members(i, j):
                        for a in cell_atoms[m]:
                            coefs[a] = 1
                    suppressed = pos in rep.suppressed
                    lo, hi = _band(fig.value, rep.k) if suppressed else (0.0, _INF)
                    self.by_position[(r, pos)] = len(self.quantities)
                    self.quantities.append(_Q(
                        coefs, r, pos, _SUPPRESSED if suppressed else _PUBLISHED, fig.value,
                        fig.contributors, rep.k, lo, hi, is_margin=i is None or j is None,
                        is_zero=fig.is_zero, reports=(r,),
                    ))
            for link in rep.links:
                if not (included(r, link.left.table) and included(r, link.right.table)):
                    continue
                coefs = dict(self.ref_coefs(r, link.left))
                for a, c in self.ref_coefs(r, link.right).items():
                    coefs[a] = coefs.get(a, 0) - c
                coefs = {a: c for a, c in coefs.items() if c}
                if coefs:
                    self.links.append((coefs, r))

        self._unpublished_margins(included)
        self._derived_segments()
        if nested_unique:
            self._nested_differences(included, focus)

    def _atom(self, key: tuple[Any, ...], truth: int | None, contrib: int, report: int) -> int:
        idx = self.atoms.get(key)
        if idx is None:
            idx = len(self.truth)
            self.atoms[key] = idx
            self.truth.append(truth)
            self.atom_contrib.append(contrib)
            self.atom_reports.append({report})
        else:
            self.atom_reports[idx].add(report)
            if self.truth[idx] is None:
                self.truth[idx] = truth
        return idx

    def ref_coefs(self, r: int, ref: Ref) -> dict[int, int]:
        t = self.reports[r].table(ref.table)
        i, j = t._index(ref.row, ref.column)
        cell_atoms = self._coef_cache[(r, t.name)]
        return {a: 1 for m in t._members(i, j) for a in cell_atoms[m]}

    def _unpublished_margins(self, included: Any) -> None:
        """Row, column and grand totals a table does not publish: the attacker may still work
        them out, and a small one is a small category like any other."""
        existing = {frozenset(q.coefs.items()) for q in self.quantities}
        for r, rep in enumerate(self.reports):
            for t in rep.tables:
                if not included(r, t.name):
                    continue
                cell_atoms = self._coef_cache[(r, t.name)]
                margins: list[tuple[int | None, int | None]] = []
                if not t.row_totals:
                    margins.extend((i, None) for i in range(len(t.rows)))
                if not t.column_totals:
                    margins.extend((None, j) for j in range(len(t.columns)))
                if not t.grand_total:
                    margins.append((None, None))
                for i, j in margins:
                    coefs = {a: 1 for m in t._members(i, j) for a in cell_atoms[m]}
                    key = frozenset(coefs.items())
                    if key in existing:
                        continue
                    existing.add(key)
                    pos = t.position(i, j)
                    fig = t.figure(pos.row, pos.column)
                    self.quantities.append(_Q(
                        coefs, -1, pos, _DERIVED, fig.value, fig.contributors, rep.k, kind="margin",
                        segment=rep.period, reports=(r,), is_margin=True,
                    ))

    def _derived_segments(self) -> None:
        if all(len(segs) < 2 for segs in self.segments.values()):
            return
        existing = {frozenset(q.coefs.items()) for q in self.quantities}
        for (scope, name), segs in self.segments.items():
            if len(segs) < 2:
                continue
            members = [r for r, rep in enumerate(self.reports) if rep.scope == scope and rep.period is not None
                       and any(t.name == name and t.additive for t in rep.tables) and (r, name) in self._coef_cache]
            k = max(self.reports[r].k for r in members)
            rows: list[str] = []
            cols: list[str] = []
            for r in members:
                t = self.reports[r].table(name)
                rows.extend(x for x in t.rows if x not in rows)
                cols.extend(x for x in t.columns if x not in cols)
            for s in segs:
                period = Period._from_span(*s)
                src = tuple(r for r in members if self.reports[r].period.overlaps(period))  # type: ignore[union-attr]
                grid = {(row, col): self.atoms.get(("a", scope, name, row, col, s)) for row in rows for col in cols}
                figures: list[tuple[Position, list[int]]] = []
                for row in rows:
                    for col in cols:
                        if grid[(row, col)] is not None:
                            figures.append((Position(name, row, col), [grid[(row, col)]]))  # type: ignore[list-item]
                for row in rows:
                    figures.append((Position(name, row, TOTAL), [a for c in cols if (a := grid[(row, c)]) is not None]))
                for col in cols:
                    figures.append((Position(name, TOTAL, col), [a for rr in rows if (a := grid[(rr, col)]) is not None]))
                figures.append((Position(name, TOTAL, TOTAL), [a for a in grid.values() if a is not None]))
                for pos, atoms in figures:
                    coefs = {a: 1 for a in atoms}
                    key = frozenset(coefs.items())
                    if not atoms or key in existing:
                        continue
                    existing.add(key)
                    truths = [self.truth[a] for a in atoms]
                    value = sum(truths) if all(v is not None for v in truths) else None  # type: ignore[misc]
                    contrib = max(self.atom_contrib[a] for a in atoms)
                    self.quantities.append(_Q(
                        coefs, -1, pos, _DERIVED, value, contrib, k, kind="segment", segment=period,
                        reports=src, is_margin=pos.row == TOTAL or pos.column == TOTAL,
                    ))

    def _nested_differences(self, included: Any, focus: int | None) -> None:
        by_name: dict[tuple[str, str], list[int]] = {}
        for r, rep in enumerate(self.reports):
            if rep.period is None:
                continue
            for t in rep.tables:
                if not t.additive and included(r, t.name):
                    by_name.setdefault((rep.scope, t.name), []).append(r)
        for (_scope, name), reps in by_name.items():
            for a in reps:
                for b in reps:
                    pa, pb = self.reports[a].period, self.reports[b].period
                    assert pa is not None and pb is not None
                    if a == b or pa == pb or not pb.contains(pa) or focus not in (None, a, b):
                        continue
                    k = max(self.reports[a].k, self.reports[b].k)
                    seen: set[frozenset[tuple[int, int]]] = set()
                    for pos in self.reports[b].table(name).published_positions():
                        position = self.reports[b].table(name).position(*pos)
                        qa = self.by_position.get((a, position))
                        qb = self.by_position.get((b, position))
                        if qa is None or qb is None:
                            continue
                        fa, fb = self.quantities[qa], self.quantities[qb]
                        coefs = dict(fb.coefs)
                        for atom, c in fa.coefs.items():
                            coefs[atom] = coefs.get(atom, 0) - c
                        key = frozenset(coefs.items())
                        if key in seen:
                            continue
                        seen.add(key)
                        value = (fb.value or 0) - (fa.value or 0)
                        self.quantities.append(_Q(
                            coefs, -1, position, _DERIVED, value, max(value, 0), k, kind="difference",
                            segment=_difference_period(pa, pb), reports=(a, b),
                            is_margin=position.row == TOTAL or position.column == TOTAL,
                        ))

    # -- constraints -----------------------------------------------------------------------

    def constraints(self) -> tuple[list[tuple[dict[int, int], float, int]], list[tuple[dict[int, int], float, float, int]]]:
        """Equalities (coefs, rhs, report) and ranges (coefs, lo, hi, report) the attacker knows."""
        eqs: list[tuple[dict[int, int], float, int]] = []
        bands: list[tuple[dict[int, int], float, float, int]] = []
        for q in self.quantities:
            if q.status == _PUBLISHED:
                eqs.append((q.coefs, float(q.value), q.report))  # type: ignore[arg-type]
            elif q.status == _SUPPRESSED:
                bands.append((q.coefs, q.lo, q.hi, q.report))
        for coefs, r in self.links:
            eqs.append((coefs, 0.0, r))
        return eqs, bands

    def targets(self) -> list[int]:
        return [n for n, q in enumerate(self.quantities) if q.status != _PUBLISHED]


def _difference_period(inner: Period, outer: Period) -> Period:
    """The months of ``outer`` not in ``inner`` when they form one run, else ``outer``."""
    a, b = outer.span
    c, d = inner.span
    if c == a and d < b:
        return Period._from_span(d + 1, b)
    if d == b and c > a:
        return Period._from_span(a, c - 1)
    return outer


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union_all(self, items: Iterable[int]) -> None:
        it = iter(items)
        first = next(it, None)
        if first is None:
            return
        root = self.find(first)
        for x in it:
            other = self.find(x)
            if other != root:
                if other < root:
                    root, other = other, root
                self.parent[other] = root


# --------------------------------------------------------------------------------------------
# The attacker: intervals of the targets of one component

_Range = tuple[float, float, bool | None]  # low, high, pinned by the equations alone (None: undecided)
# Attacker's answers per component, keyed by the component's whole content (so a component
# that did not change between two protect() rounds, or a published report's tables checked
# again for the next report, is not solved twice). Least recently used entries go first.
_CACHE: OrderedDict[Any, list[_Range | None]] = OrderedDict()
_CACHE_LIMIT = 512
_CACHE_LOCK = threading.Lock()


def _int_width(lo: float, hi: float) -> float:
    if hi == _INF or lo == -_INF:
        return _INF
    return math.floor(hi + _EPS) - math.ceil(lo - _EPS)


def _lp(c: np.ndarray, A_ub: np.ndarray | None, b_ub: np.ndarray | None, A_eq: np.ndarray | None,
        b_eq: np.ndarray | None, bounds: np.ndarray) -> tuple[float, np.ndarray | None]:
    """min c·x; returns (value, x); (−inf, None) when unbounded; raises _Inconsistent."""
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status == 0:
        return float(res.fun), res.x
    if res.status == 3:
        return -_INF, None
    if res.status == 2:
        raise _Inconsistent()
    raise RuntimeError(f"linear program failed: {res.message}")  # pragma: no cover


def _solve(n: int, eqs: Sequence[tuple[tuple[tuple[int, int], ...], float]],
           bands: Sequence[tuple[tuple[tuple[int, int], ...], float, float]],
           targets: Sequence[tuple[tuple[int, int], ...]], width: int,
           base: Sequence[float | None], hints: Sequence[np.ndarray] = (), quick: bool = False) -> list[_Range | None]:
    """The attacker's interval of each target, or None when it is certainly wider than ``width``.

    Atoms are whole numbers ≥ 0. First exact propagation: an equation with one unknown left
    fixes it, a known range of one unknown bounds it. What stays unknown splits into
    independent blocks; a target's range is the sum of the ranges of its parts in each block
    (:func:`_solve_block`). With ``quick`` a part that the cheap tests cannot certify gets its
    observed range (a sub-range of the true one) instead of two LPs: conservative.
    """
    lb = [0.0] * n
    ub = [_INF] * n
    fixed: dict[int, float] = {}
    tainted: set[int] = set()  # fixed with the help of a known range, not equations alone
    rows: list[tuple[list[tuple[int, int]], float, float, bool]] = [
        (list(c), rhs, rhs, True) for c, rhs in eqs] + [(list(c), lo, hi, False) for c, lo, hi in bands]
    _propagate(rows, lb, ub, fixed, tainted)

    red: list[tuple[list[tuple[int, int]], float, float, bool]] = []
    for coefs, lo, hi, is_eq in rows:
        free = [(a, c) for a, c in coefs if a not in fixed]
        if len(free) >= 2:
            s = sum(c * fixed[a] for a, c in coefs if a in fixed)
            red.append((free, lo - s, hi - s, is_eq))
    uf = _UnionFind(n)
    for free, *_ in red:
        uf.union_all(a for a, _c in free)
    results: list[_Range | None] = [None] * len(targets)
    split: list[tuple[int, float, bool, list[int]]] = []  # target, constant, by equations, part ids
    block_parts: dict[int, list[tuple[int, list[tuple[int, int]]]]] = {}
    n_parts = 0
    for t, coefs in enumerate(targets):
        const = sum(c * fixed[a] for a, c in coefs if a in fixed)
        by_eq = not any(a in tainted for a, _c in coefs)
        groups: dict[int, list[tuple[int, int]]] = {}
        for a, c in coefs:
            if a not in fixed:
                groups.setdefault(uf.find(a), []).append((a, c))
        if not groups:
            results[t] = (const, const, by_eq)
            continue
        ids = []
        for root, free in groups.items():
            block_parts.setdefault(root, []).append((n_parts, free))
            ids.append(n_parts)
            n_parts += 1
        split.append((t, const, by_eq, ids))
    if not split:
        return results
    block_atoms: dict[int, list[int]] = {}
    for a in range(n):
        if a not in fixed:
            block_atoms.setdefault(uf.find(a), []).append(a)
    block_rows: dict[int, list[Any]] = {}
    for row in red:
        block_rows.setdefault(uf.find(row[0][0][0]), []).append(row)
    part_ranges: dict[int, _Range | None] = {}
    for root, parts in block_parts.items():
        part_ranges.update(_solve_block(block_atoms[root], block_rows.get(root, []), parts,
                                        lb, ub, width, base, hints, quick))
    for t, const, by_eq, ids in split:
        got = [part_ranges[i] for i in ids]
        if any(g is None for g in got):
            continue  # one part alone already moves by width: independent blocks add up
        lo = const + sum(g[0] for g in got)  # type: ignore[index]
        hi = const + sum(g[1] for g in got)  # type: ignore[index]
        if _int_width(lo, hi) < width:
            undecided = any(g[2] is None for g in got)  # type: ignore[index]
            results[t] = (lo, hi, None if undecided else by_eq and all(g[2] for g in got))  # type: ignore[index]
    return results


def _propagate(rows: list[tuple[list[tuple[int, int]], float, float, bool]], lb: list[float],
               ub: list[float], fixed: dict[int, float], tainted: set[int]) -> None:
    """Exact propagation: a row lo ≤ Σ c·x ≤ hi with one unknown left bounds it (fixes it when
    lo = hi); repeated until nothing changes. ``tainted``: fixed atoms that needed a range."""
    watch: dict[int, list[int]] = {}
    for idx, (coefs, *_rest) in enumerate(rows):
        for a, _c in coefs:
            watch.setdefault(a, []).append(idx)
    queue = list(range(len(rows)))
    queued = set(queue)
    while queue:
        idx = queue.pop()
        queued.discard(idx)
        coefs, lo_r, hi_r, is_eq = rows[idx]
        s = 0.0
        free = None
        n_free = 0
        row_tainted = not is_eq
        for a, c in coefs:
            if a in fixed:
                s += c * fixed[a]
                row_tainted = row_tainted or a in tainted
            else:
                n_free += 1
                free = (a, c)
                if n_free > 1:
                    break
        if n_free > 1:
            continue
        lo_r, hi_r = lo_r - s, hi_r - s
        if free is None:
            if lo_r > _EPS or hi_r < -_EPS:
                raise _Inconsistent()
            continue
        a, c = free
        new_lo, new_hi = (lo_r / c, hi_r / c) if c > 0 else (hi_r / c, lo_r / c)
        if is_eq and abs(new_lo - round(new_lo)) > _EPS:
            raise _Inconsistent()
        new_lo = max(lb[a], math.ceil(new_lo - _EPS)) if new_lo != -_INF else lb[a]
        new_hi = min(ub[a], math.floor(new_hi + _EPS)) if new_hi != _INF else ub[a]
        if new_lo > new_hi:
            raise _Inconsistent()
        lb[a], ub[a] = new_lo, new_hi
        if new_lo == new_hi:
            fixed[a] = float(new_lo)
            if row_tainted:
                tainted.add(a)
            for other in watch[a]:
                if other not in queued:
                    queued.add(other)
                    queue.append(other)


def _solve_block(atoms: list[int], rows: list[Any], parts: list[tuple[int, list[tuple[int, int]]]],
                 lb: list[float], ub: list[float], width: int, base: Sequence[float | None],
                 hints: Sequence[np.ndarray], quick: bool = False) -> dict[int, _Range | None]:
    """Ranges of target parts over one block of unknowns (None: wider than ``width``).

    In order: the row-space test (a part that is a combination of the equations is pinned);
    feasible directions (the null-space basis vectors and each part's gradient projected on the
    null space, followed from a feasible point to the first bound); known feasible points
    (``hints``) and a few bulk LPs that push many parts at once, then the directions again from
    the average of the points seen (an interior point); and finally, per part still undecided,
    LPs for its maximum and minimum, which decide. Every point found is used for all parts.
    """
    local = {a: i for i, a in enumerate(atoms)}
    n = len(atoms)
    eq_rows = [r for r in rows if r[3]]
    band_rows = [r for r in rows if not r[3]]

    def matrix(rs: list[Any]) -> sparse.csr_array:
        ri, ci, vals = [], [], []
        for r, (free, *_rest) in enumerate(rs):
            for a, c in free:
                ri.append(r)
                ci.append(local[a])
                vals.append(float(c))
        return sparse.csr_array((vals, (ri, ci)), shape=(len(rs), n))

    A = matrix(eq_rows)
    b = np.array([r[1] for r in eq_rows], dtype=float)
    G = matrix(band_rows)
    glo = np.array([r[1] for r in band_rows], dtype=float)
    ghi = np.array([r[2] for r in band_rows], dtype=float)
    lo_b = np.array([lb[a] for a in atoms], dtype=float)
    hi_b = np.array([ub[a] for a in atoms], dtype=float)
    C = matrix([(free,) for _pid, free in parts])
    finite_hi = np.nonzero(ghi != _INF)[0]
    A_ub = sparse.vstack([G[finite_hi], -G], format="csr") if len(band_rows) else None
    b_ub = np.concatenate([ghi[finite_hi], -glo]) if len(band_rows) else None
    A_eq = A if len(eq_rows) else None
    b_eq = b if len(eq_rows) else None
    bounds = np.column_stack([lo_b, hi_b])

    def feasible(x: np.ndarray) -> bool:
        if np.any(x < lo_b - 1e-7) or np.any(x > hi_b + 1e-7):
            return False
        if len(eq_rows) and np.max(np.abs(A @ x - b)) > 1e-7:
            return False
        if len(band_rows):
            gx = G @ x
            if np.any(gx < glo - 1e-7) or np.any(gx > ghi + 1e-7):
                return False
        return True

    x0 = None
    if all(base[a] is not None for a in atoms):
        cand = np.array([float(base[a]) for a in atoms])  # type: ignore[arg-type]
        if feasible(cand):
            x0 = cand
    if x0 is None:
        _, x0 = _lp(np.zeros(n), A_ub, b_ub, A_eq, b_eq, bounds)
        if x0 is None:  # pragma: no cover - a zero objective is never unbounded
            raise _Inconsistent()

    out: dict[int, _Range | None] = {}
    N = _null_space(A.toarray())
    t0 = C @ x0
    CN = C @ N if N.shape[1] else np.zeros((len(parts), 0))
    pinned = np.max(np.abs(CN), axis=1) < 1e-9 if N.shape[1] else np.ones(len(parts), dtype=bool)
    for r in np.nonzero(pinned)[0]:
        out[parts[r][0]] = (float(t0[r]), float(t0[r]), True)

    def directions(x: np.ndarray, rs: list[int]) -> list[int]:
        """Parts still undecided after following feasible directions from x (a feasible point):
        the null-space basis vectors and each part's projected gradient."""
        gx = G @ x if len(band_rows) else None
        tx = C @ x

        def reach(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            up = _ratios(x, V, lo_b, hi_b)
            down = _ratios(x, -V, lo_b, hi_b)
            if gx is not None:
                GV = G @ V
                up = np.minimum(up, _ratios(gx, GV, glo, ghi))
                down = np.minimum(down, _ratios(gx, -GV, glo, ghi))
            return up, down

        up_b, down_b = reach(N)
        left = []
        for chunk in range(0, len(rs), 256):
            sel = np.array(rs[chunk:chunk + 256])
            cn = CN[sel]
            with np.errstate(invalid="ignore"):
                gain_up = np.where(cn > 1e-12, cn * up_b, np.where(cn < -1e-12, -cn * down_b, 0.0))
                gain_down = np.where(cn > 1e-12, cn * down_b, np.where(cn < -1e-12, -cn * up_b, 0.0))
            best_hi = gain_up.max(axis=1, initial=0.0)
            best_lo = gain_down.max(axis=1, initial=0.0)
            V = N @ cn.T
            rate = np.einsum("ij,ji->i", C[sel].toarray(), V)
            up, down = reach(V)
            best_hi = np.maximum(best_hi, up * rate)
            best_lo = np.maximum(best_lo, down * rate)
            for pos, r in enumerate(sel):
                if _int_width(float(tx[r] - best_lo[pos]), float(tx[r] + best_hi[pos])) >= width:
                    out[parts[r][0]] = None
                else:
                    left.append(int(r))
        return left

    todo = directions(x0, [int(r) for r in np.nonzero(~pinned)[0]])
    if not todo:
        return out
    seen_lo = t0.astype(float).copy()
    seen_hi = t0.astype(float).copy()
    remaining = list(todo)
    points = [x0]

    def observe(x: np.ndarray) -> None:
        nonlocal remaining
        points.append(x)
        vals = C[remaining] @ x
        seen_lo[remaining] = np.minimum(seen_lo[remaining], vals)
        seen_hi[remaining] = np.maximum(seen_hi[remaining], vals)
        still = []
        for r in remaining:
            if _int_width(seen_lo[r], seen_hi[r]) >= width:
                out[parts[r][0]] = None
            else:
                still.append(r)
        remaining = still

    for hint in hints:
        x = hint[atoms]
        if remaining and not np.any(np.isnan(x)) and feasible(x):
            observe(x)
    if len(remaining) > 3:
        # two bulk LPs push all remaining parts at once, then the directions are followed
        # again from the average of the feasible points known so far (an interior point)
        rng = np.random.default_rng(len(atoms))  # deterministic
        for attempt in range(8):
            if not remaining:
                break
            before = len(remaining)
            signs = np.ones(len(remaining)) if attempt < 2 else rng.choice([-1.0, 1.0], len(remaining))
            objective = np.asarray(C[remaining].T @ signs).ravel() * (1.0 if attempt % 2 else -1.0)
            _, x = _lp(objective, A_ub, b_ub, A_eq, b_eq, bounds)
            if x is not None:
                observe(x)
            if attempt >= 2 and len(remaining) > 0.9 * before:
                break
        if remaining:
            x_mid = np.mean(points, axis=0)
            if feasible(x_mid):
                left = set(directions(x_mid, remaining))
                remaining = [r for r in remaining if r in left]
    if quick:
        for r in remaining:
            out[parts[r][0]] = (float(seen_lo[r]), float(seen_hi[r]), None)  # undecided
        return out
    for r in list(remaining):
        if r not in remaining:
            continue
        c = C[[r]].toarray().ravel()
        neg_hi, x_hi = _lp(-c, A_ub, b_ub, A_eq, b_eq, bounds)
        hi = _INF if x_hi is None else -neg_hi
        if x_hi is not None:
            observe(x_hi)
        if r not in remaining or _int_width(float(seen_lo[r]), hi) >= width:
            out[parts[r][0]] = None
            remaining = [x for x in remaining if x != r]
            continue
        lo_val, x_lo = _lp(c, A_ub, b_ub, A_eq, b_eq, bounds)
        lo = -_INF if x_lo is None else lo_val
        if x_lo is not None:
            observe(x_lo)
        remaining = [x for x in remaining if x != r]
        out[parts[r][0]] = None if _int_width(lo, hi) >= width else (float(lo), float(hi), False)
    return out


def _null_space(A: np.ndarray) -> np.ndarray:
    """A basis of {x : A x = 0} by Gauss–Jordan elimination (columns: one per free unknown).

    Plain numpy row operations rather than LAPACK: the matrices are small and sparse with
    entries ±1, and multi-threaded BLAS competes badly with the caller's other work.
    """
    m, n = A.shape
    if m == 0:
        return np.eye(n)
    R = np.array(A, dtype=float)
    pivots: list[int] = []
    r = 0
    for col in range(n):
        if r == m:
            break
        column = np.abs(R[r:, col])
        p = int(np.argmax(column))
        if column[p] < 1e-9:
            continue
        p += r
        if p != r:
            R[[r, p]] = R[[p, r]]
        R[r] /= R[r, col]
        factors = R[:, col].copy()
        factors[r] = 0.0
        rows = np.nonzero(np.abs(factors) > 1e-12)[0]
        if len(rows):
            block = R[rows] - np.outer(factors[rows], R[r])
            block[np.abs(block) < 1e-12] = 0.0
            R[rows] = block
        pivots.append(col)
        r += 1
    free = np.setdiff1d(np.arange(n), pivots)
    N = np.zeros((n, len(free)))
    N[free, np.arange(len(free))] = 1.0
    if pivots and len(free):
        N[pivots, :] = -R[: len(pivots)][:, free]
    return N


def _ratios(x: np.ndarray, V: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each column v of V, the largest λ ≥ 0 with lo ≤ x + λ v ≤ hi."""
    up = V > 1e-12
    down = V < -1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        r_up = np.where(up, (hi[:, None] - x[:, None]) / np.where(up, V, 1.0), _INF)
        r_dn = np.where(down, (lo[:, None] - x[:, None]) / np.where(down, V, 1.0), _INF)
    lam = np.minimum(r_up.min(axis=0, initial=_INF), r_dn.min(axis=0, initial=_INF))
    return np.maximum(lam, 0.0)


# --------------------------------------------------------------------------------------------
# Audit


@dataclass
class _Component:
    atoms: list[int]
    eqs: list[int]
    bands: list[int]
    targets: list[int]


def _components(system: _System) -> tuple[list[_Component], list[Any], list[Any]]:
    eqs, bands = system.constraints()
    n = len(system.truth)
    uf = _UnionFind(n)
    for coefs, *_ in eqs:
        uf.union_all(coefs)
    for coefs, *_ in bands:
        uf.union_all(coefs)
    targets = system.targets()
    for t in targets:
        uf.union_all(system.quantities[t].coefs)
    comps: dict[int, _Component] = {}
    for a in range(n):
        comps.setdefault(uf.find(a), _Component([], [], [], [])).atoms.append(a)
    for i, (coefs, *_) in enumerate(eqs):
        if coefs:
            comps[uf.find(next(iter(coefs)))].eqs.append(i)
    for i, (coefs, *_) in enumerate(bands):
        if coefs:
            comps[uf.find(next(iter(coefs)))].bands.append(i)
    for t in targets:
        coefs = system.quantities[t].coefs
        if coefs:
            comps[uf.find(next(iter(coefs)))].targets.append(t)
    # a component without targets still needs a consistency check when several reports' figures
    # meet in it (the same period published twice with different numbers, say)
    keep = [c for c in comps.values() if c.targets or len({eqs[i][2] for i in c.eqs}) > 1]
    return keep, eqs, bands


def _audit_system(system: _System, focus: int | None = None, width: int | None = None) -> list[Exposure]:
    return [e for e, _t, _u in _audit_targets(system, focus, width)]


def _audit_targets(system: _System, focus: int | None, width: int | None,
                   hints: Sequence[np.ndarray] = (), quick: bool = False) -> list[tuple[Exposure, int | None, bool]]:
    """Exposures of the components that touch report ``focus`` (all when None), with the
    index of the exposed figure in ``system.quantities`` and whether it is only undecided.
    ``hints``: points over all atoms that may be feasible (they only save work). ``quick``:
    figures not certified by the cheap tests count as exposed, flagged undecided (no
    per-figure LPs); an empty answer is as good as a full audit's."""
    comps, eqs, bands = _components(system)
    exposures: list[tuple[Exposure, int | None, bool]] = []
    for comp in comps:
        if focus is not None and not any(focus in system.atom_reports[a] for a in comp.atoms):
            continue
        local = {a: i for i, a in enumerate(comp.atoms)}
        key_eqs = tuple((tuple(sorted((local[a], c) for a, c in eqs[i][0].items())), eqs[i][1]) for i in comp.eqs)
        key_bands = tuple((tuple(sorted((local[a], c) for a, c in bands[i][0].items())), bands[i][1], bands[i][2])
                          for i in comp.bands)
        key_targets = tuple(tuple(sorted((local[a], c) for a, c in system.quantities[t].coefs.items()))
                            for t in comp.targets)
        involved = sorted({eqs[i][2] for i in comp.eqs} | {bands[i][3] for i in comp.bands}
                          | {r for t in comp.targets for r in system.quantities[t].reports})
        w = width if width is not None else max(system.reports[r].width for r in involved) if involved else 1
        key = (len(comp.atoms), key_eqs, key_bands, key_targets, w, quick)
        with _CACHE_LOCK:
            ranges = _CACHE.get(key)
            if ranges is not None:
                _CACHE.move_to_end(key)
        if ranges is None:
            try:
                ranges = _solve(len(comp.atoms), key_eqs, key_bands, key_targets, w,
                                [system.truth[a] for a in comp.atoms],
                                [h[comp.atoms] for h in hints if len(h) == len(system.truth)], quick)
            except _Inconsistent:
                labels = ", ".join(f"“{system.reports[r].label}”" for r in involved)
                exposures.append((Exposure(
                    "unverifiable", None, detail=(
                        f"The published figures of reports {labels} do not agree with each other "
                        f"(data corrected after publication?), so differencing cannot be checked; "
                        f"choose a period that does not overlap them or review by hand."),
                    other_reports=tuple(system.reports[r].label for r in involved)), None, False))
                continue
            with _CACHE_LOCK:
                _CACHE[key] = ranges
                if not quick or not any(r is not None and r[2] is None for r in ranges):
                    # exact answers serve both modes
                    _CACHE[key[:-1] + (not quick,)] = ranges
                while len(_CACHE) > _CACHE_LIMIT:
                    _CACHE.popitem(last=False)
        for t, rng in zip(comp.targets, ranges, strict=True):
            if rng is None:
                continue
            q = system.quantities[t]
            lo, hi, by_eq_or_none = rng
            undecided = by_eq_or_none is None
            by_eq = bool(by_eq_or_none)
            qw = width if width is not None else (system.reports[q.report].width if q.report >= 0 else w)
            if _int_width(lo, hi) >= qw:
                continue
            lo_i = math.ceil(lo - _EPS)
            hi_i = None if hi == _INF else math.floor(hi + _EPS)
            if q.status == _DERIVED:
                top = _INF if hi_i is None else hi_i
                small_value = lo_i <= q.k - 1
                small_contrib = q.kind in ("segment", "margin") and 0 < q.contributors < q.k
                if top < 1 or not (small_value or small_contrib):
                    continue
                src = q.reports if q.kind == "difference" else involved
                if q.kind == "margin":
                    own = q.reports[0]
                    others = tuple(system.reports[r].label for r in involved if r != own)
                    exposures.append((Exposure("margin", q.position, system.reports[own].label, None,
                                               lo_i, hi_i, by_eq, others), t, undecided))
                    continue
                others = tuple(system.reports[r].label for r in src)
                exposures.append((Exposure(q.kind, q.position, "", q.segment, lo_i, hi_i, by_eq, others),  # type: ignore[arg-type]
                                  t, undecided))
            else:
                # the reports sharing figures with this one, else all whose figures took part
                sharing = sorted({r for a in q.coefs for r in system.atom_reports[a]} - {q.report})
                others = tuple(system.reports[r].label
                               for r in (sharing or [r for r in involved if r != q.report]))
                exposures.append((Exposure("suppressed", q.position, system.reports[q.report].label, None,
                                           lo_i, hi_i, by_eq, others), t, undecided))
    return exposures


def audit(reports: ProtectedReport | Sequence[ProtectedReport], *, width: int | None = None,
          nested_unique: bool = True) -> list[Exposure]:
    """Everything the attacker can pin when all ``reports`` are published together.

    ``width`` overrides each report's protection width. ``nested_unique`` also checks the
    difference of unique-survivor tables between nested periods. Empty list: nothing exposed.
    """
    reps = [reports] if isinstance(reports, ProtectedReport) else list(reports)
    try:
        system = _System(reps, nested_unique=nested_unique)
    except MissingMonthlyData as exc:
        return [Exposure("unverifiable", None, detail=str(exc))]
    return _audit_system(system, None, width)


# --------------------------------------------------------------------------------------------
# Publishing against already published reports


def _relevant(new: ProtectedReport, published: Sequence[ProtectedReport],
              nested_unique: bool) -> tuple[list[ProtectedReport], dict[int, set[str]]]:
    """The published reports' tables that can combine with ``new`` (transitively)."""
    reps = [new, *published]
    include: dict[int, set[str]] = {0: {t.name for t in new.tables}}
    kinds = {(r, t.name): t.additive for r, rep in enumerate(reps) for t in rep.tables}
    work = [(0, t.name) for t in new.tables]
    while work:
        r, name = work.pop()
        rep = reps[r]
        partners: list[int] = []
        if rep.period is not None:
            for o, other in enumerate(reps):
                if o == r or other.period is None or other.scope != rep.scope:
                    continue
                if (o, name) not in kinds or kinds[(o, name)] != kinds[(r, name)]:
                    continue
                if kinds[(r, name)]:
                    if other.period.overlaps(rep.period):
                        partners.append(o)
                elif other.period == rep.period or (nested_unique and (
                        other.period.contains(rep.period) or rep.period.contains(other.period))):
                    partners.append(o)
        linked = [n2 for ln in rep.links for a, n2 in ((ln.left.table, ln.right.table), (ln.right.table, ln.left.table))
                  if a == name]
        for o, n2 in [(o, name) for o in partners] + [(r, n2) for n2 in linked]:
            if n2 not in include.setdefault(o, set()):
                include[o].add(n2)
                work.append((o, n2))
    order = sorted(include)
    remap = {old: new_i for new_i, old in enumerate(order)}
    return [reps[r] for r in order], {remap[r]: names for r, names in include.items()}


def check_publishable(new_report: ProtectedReport, published_reports: Sequence[ProtectedReport], *,
                      nested_unique: bool = True, limit: int | None = None,
                      explain: Callable[[Exposure], str] | None = None) -> list[str]:
    """Why ``new_report`` must not be published next to ``published_reports`` ([] when fine).

    Each sentence names the table, row and column and the reports whose figures combine. Only
    figures that the new report can affect are considered (the published reports were checked
    when they were published). ``limit``: at most that many sentences, which saves proving the
    remaining ones when a report is clearly refused. ``explain`` words an exposure (default:
    ``Exposure.explain``, English; casework/reports/explain.py says it in the reader's language).
    """
    reps, include = _relevant(new_report, published_reports, nested_unique)
    try:
        system = _System(reps, include, nested_unique, focus=0)
    except MissingMonthlyData as exc:
        if explain is not None:
            return [explain(Exposure("unverifiable", None, detail=str(exc)))]
        return [str(exc) + "; differencing cannot be checked."]
    if limit is not None:
        # cheap pass first: what it proves is exact, and may already be enough sentences
        found = _audit_targets(system, 0, None, quick=True)
        sure = _explain([e for e, _t, undecided in found if not undecided], explain)
        if len(sure) >= limit or not any(undecided for _e, _t, undecided in found):
            return sure[:limit]
    return _explain(_audit_system(system, focus=0), explain)[:limit]


def _explain(exposures: Sequence[Exposure],
             explain: Callable[[Exposure], str] | None = None) -> list[str]:
    out: list[str] = []
    for e in exposures:
        sentence = explain(e) if explain is not None else e.explain()

        if sentence not in out:
            out.append(sentence)
    return out


# --------------------------------------------------------------------------------------------
# Protection


def _validate(tables: Sequence[Table], links: Sequence[Link], period: Period | None) -> None:
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        raise ValueError("table names must be unique within a report")
    by_name = {t.name: t for t in tables}
    for link in links:
        figures = []
        for ref in (link.left, link.right):
            if ref.table not in by_name:
                raise ValueError(f"link refers to unknown table {ref.table!r}")
            figures.append(by_name[ref.table].figure(ref.row, ref.column))
        if figures[0].value != figures[1].value:
            raise ValueError(
                f"link {link.left} = {link.right} is false for these figures "
                f"({figures[0].value} ≠ {figures[1].value}); the attacker would be misled and "
                f"the check would be wrong"
            )
    for t in tables:
        if t.monthly is not None:
            if period is None:
                raise ValueError(f"table {t.name!r} has monthly cells but the report has no period")
            outside = [m for m in t.monthly if not period.contains(Period(m, m))]
            if outside:
                raise ValueError(f"table {t.name!r}: month {outside[0]:%Y-%m} is outside the period {period}")


def _primary(tables: Sequence[Table], k: int) -> frozenset[Position]:
    out = set()
    for t in tables:
        for i, j in t.published_positions():
            pos = t.position(i, j)
            if t.figure(pos.row, pos.column).sensitive(k):
                out.add(pos)
    return frozenset(out)


def protect(report_tables: Sequence[Table], links: Sequence[Link] = (), k: int = DEFAULT_K, *,
            period: Period | None = None, report_id: str = "", title: str = "", scope: str = "",
            published: Sequence[ProtectedReport] = (), width: int = 1,
            nested_unique: bool = True) -> ProtectedReport:
    """Primary and complementary suppression of one report; deterministic.

    ``period``/``scope`` place the report among others (additive tables of the same scope and
    name are compared across reports). With ``published`` the complementary suppression also
    hides what combining with those reports would reveal (only figures of this report are
    suppressed; published reports are frozen). Raises :class:`ProtectionError` when some figure
    cannot be hidden, :class:`MissingMonthlyData` when an additive table needs monthly cells.
    """
    k = threshold(k)
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError("protection width must be a whole number >= 1")
    tables = tuple(report_tables)
    links = tuple(links)
    _validate(tables, links, period)
    primary = _primary(tables, k)
    report = ProtectedReport(tables, links, k, primary, frozenset(), period, report_id, title, scope, width)
    complementary: set[Position] = set()
    hints: list[np.ndarray] = []
    quick = True
    # Each round suppresses at least one more figure, or (after a quick audit) only finds
    # movements proving figures free, which the next, full audit uses: so this ends.
    while True:
        reps, include = _relevant(report, published, nested_unique) if published else ([report], None)
        system = _System(reps, include, nested_unique, focus=0)
        found = _audit_targets(system, 0, None, hints, quick=quick)
        if not found:
            return report
        unverifiable = [e for e, t, _u in found if t is None]
        if unverifiable:
            raise ProtectionError(unverifiable)
        added, new_hints = _complement(system, found, width)
        hints = (new_hints + hints)[:200]
        if not added:
            if quick:
                quick = False
                continue
            raise ProtectionError([e for e, _t, _u in found])
        quick = True
        complementary |= added
        report = ProtectedReport(tables, links, k, primary, frozenset(complementary), period,
                                 report_id, title, scope, width)


def _complement(system: _System, found: Sequence[tuple[Exposure, int | None, bool]],
                width: int) -> tuple[set[Position], list[np.ndarray]]:
    """Suppress further figures of report 0 so that each exposed figure can move by ``width``.

    The exposed figures of one region are protected together by one LP; when that is
    infeasible the set is halved (and a single figure tries the other direction). Returns the
    new suppressions and the solutions found (feasible points of the attacker's new system,
    all atoms), which the next audit uses to skip LPs.
    """
    n = len(system.truth)
    uf = _UnionFind(n)
    for q in system.quantities:
        uf.union_all(q.coefs)
    for coefs, _r in system.links:
        uf.union_all(coefs)
    region_atoms: dict[int, list[int]] = {}
    for a in range(n):
        region_atoms.setdefault(uf.find(a), []).append(a)
    region_qs: dict[int, list[int]] = {}
    for qi, q in enumerate(system.quantities):
        if q.coefs:
            region_qs.setdefault(uf.find(next(iter(q.coefs))), []).append(qi)
    region_links: dict[int, list[dict[int, int]]] = {}
    for coefs, _r in system.links:
        region_links.setdefault(uf.find(next(iter(coefs))), []).append(coefs)
    by_region: dict[int, list[tuple[Exposure, int, bool]]] = {}
    for e, t, undecided in found:
        assert t is not None
        by_region.setdefault(uf.find(next(iter(system.quantities[t].coefs))), []).append((e, t, undecided))
    added: set[Position] = set()
    unprotectable: list[Exposure] = []
    truth = np.array([np.nan if v is None else float(v) for v in system.truth])
    hints: list[np.ndarray] = []
    for root, items in by_region.items():
        region = _Region.build(system, region_atoms[root], region_qs[root], region_links.get(root, []))
        if region is None:
            unprotectable.extend(e for e, _t, _u in items)
            continue
        # undecided figures first: most move freely without any new suppression
        still = region.free([t for _e, t, u in items if u], width)
        failed = region.protect_all([t for _e, t, u in items if not u or t in still], width)
        unprotectable.extend(e for e, t, _u in items if t in failed)
        added.update(system.quantities[qi].position for qi in region.suppressed)
        for point in region.points:
            full = truth.copy()
            full[region_atoms[root]] = point
            hints.append(full)
    if unprotectable:
        raise ProtectionError(unprotectable)
    return added, hints


class _Region:
    """Figures tied together by any equation; the protection LPs of its exposed figures.

    A movement d of the atoms keeps every equation the attacker knows, keeps suppressed
    figures inside their known ranges, and moves each exposed figure by at least ``width`` up
    (or down). Moving a published figure of report 0 costs its value (a margin costs more than
    any set of cells) and suppresses it; published figures of other reports, zeros and links
    cannot move. The cheapest movement is an LP.
    """

    def __init__(self, system: _System, atoms: list[int], qs: list[int], links: list[dict[int, int]],
                 base: np.ndarray) -> None:
        self.system = system
        self.qs = qs
        self.pos = {qi: r for r, qi in enumerate(qs)}
        local = {a: i for i, a in enumerate(atoms)}
        self.nd = len(atoms)
        rows, cols, vals = [], [], []
        for r, qi in enumerate(qs):
            for a, c in system.quantities[qi].coefs.items():
                rows.append(r)
                cols.append(local[a])
                vals.append(c)
        self.Q = sparse.csr_array((vals, (rows, cols)), shape=(len(qs), self.nd))
        rows, cols, vals = [], [], []
        for r, coefs in enumerate(links):
            for a, c in coefs.items():
                rows.append(r)
                cols.append(local[a])
                vals.append(c)
        self.L = sparse.csr_array((vals, (rows, cols)), shape=(len(links), self.nd))
        self.base = base
        self.qb = self.Q @ base  # the figures at the base point
        self.moves: list[np.ndarray] = []  # figure movements (Q @ d) found so far
        self.points: list[np.ndarray] = []  # base + d
        self.suppressed: list[int] = []  # quantities newly suppressed

    @classmethod
    def build(cls, system: _System, atoms: list[int], qs: list[int],
              links: list[dict[int, int]]) -> _Region | None:
        """The region with a feasible base point: the true figures, or (when data were corrected
        after an overlapping report was frozen) any point satisfying what the attacker knows."""
        truth = np.array([np.nan if system.truth[a] is None else float(system.truth[a]) for a in atoms])  # type: ignore[arg-type]
        region = cls(system, atoms, qs, links, np.nan_to_num(truth))
        if not np.any(np.isnan(truth)) and region._feasible():
            return region
        quantities = system.quantities
        pub = [r for r, qi in enumerate(qs) if quantities[qi].status == _PUBLISHED]
        supp = [r for r, qi in enumerate(qs) if quantities[qi].status == _SUPPRESSED]
        finite = [r for r in supp if quantities[qs[r]].hi != _INF]
        A_eq = sparse.vstack([region.Q[pub], region.L], format="csr")
        b_eq = np.concatenate([[float(quantities[qs[r]].value) for r in pub], np.zeros(region.L.shape[0])])  # type: ignore[arg-type]
        A_ub = sparse.vstack([region.Q[finite], -region.Q[supp]], format="csr")
        b_ub = np.concatenate([[quantities[qs[r]].hi for r in finite], [-quantities[qs[r]].lo for r in supp]])
        try:
            _, x = _lp(np.zeros(region.nd), A_ub if A_ub.shape[0] else None, b_ub if A_ub.shape[0] else None,
                       A_eq if A_eq.shape[0] else None, b_eq if A_eq.shape[0] else None,
                       np.column_stack([np.zeros(region.nd), np.full(region.nd, np.inf)]))
        except _Inconsistent:
            return None
        return None if x is None else cls(system, atoms, qs, links, x)

    def _feasible(self) -> bool:
        for r, qi in enumerate(self.qs):
            q = self.system.quantities[qi]
            v = self.qb[r]
            if q.status == _PUBLISHED and abs(v - q.value) > _EPS:  # type: ignore[operator]
                return False
            if q.status == _SUPPRESSED and not (q.lo - _EPS <= v <= q.hi + _EPS):
                return False
        return bool(np.all(np.abs(self.L @ self.base) <= _EPS))

    def moved(self, target: int, width: int) -> bool:
        """Some movement found so far shifts ``target`` by ``width`` (it stays feasible)."""
        r = self.pos[target]
        return any(abs(m[r]) >= width - _EPS for m in self.moves)

    def free(self, targets: list[int], width: int) -> set[int]:
        """Those of ``targets`` that cannot move by ``width`` unless more is suppressed."""
        todo = [t for t in targets if not self.moved(t, width)]
        if not todo:
            return set()
        signs = self._signs(todo, width)
        if self._solve(todo, signs, width, new=False):
            return set()
        if len(todo) == 1:
            return set() if self._solve(todo, [-signs[0]], width, new=False) else set(todo)
        half = len(todo) // 2
        return self.free(todo[:half], width) | self.free(todo[half:], width)

    def _signs(self, targets: list[int], width: int) -> list[int]:
        """Move each figure up, unless its known range stops it."""
        signs = []
        for t in targets:
            q = self.system.quantities[t]
            value = self.qb[self.pos[t]]
            signs.append(-1 if q.status == _SUPPRESSED and value + width > q.hi else 1)
        return signs

    def protect_all(self, targets: list[int], width: int) -> set[int]:
        """Protect ``targets`` (in order); returns those that cannot be protected."""
        todo = [t for t in targets if not self.moved(t, width)]
        if not todo:
            return set()
        signs = self._signs(todo, width)
        if self._solve(todo, signs, width):
            return set()
        if len(todo) == 1:
            return set() if self._solve(todo, [-signs[0]], width) else set(todo)
        half = len(todo) // 2
        return self.protect_all(todo[:half], width) | self.protect_all(todo[half:], width)

    def _solve(self, targets: list[int], signs: list[int], width: int, new: bool = True) -> bool:
        """One LP: move every target by ``width`` in its sign's direction, suppressing (when
        ``new``) the cheapest published figures of report 0 needed. False when impossible."""
        quantities = self.system.quantities
        qs = self.qs
        status = [quantities[qi].status for qi in qs]
        cand = [r for r, qi in enumerate(qs)
                if new and status[r] == _PUBLISHED and quantities[qi].report == 0
                and not quantities[qi].is_zero and (quantities[qi].value or 0) > 0]
        cand_set = set(cand)
        fixed = [r for r in range(len(qs)) if status[r] == _PUBLISHED and r not in cand_set]
        supp = [r for r in range(len(qs)) if status[r] == _SUPPRESSED]
        nc = len(cand)
        nd = self.nd
        Q = self.Q
        values = np.array([float(quantities[qs[r]].value) for r in cand])  # type: ignore[arg-type]
        margin = np.array([quantities[qs[r]].is_margin for r in cand], dtype=bool)
        big = 2.0 * (float(values[~margin].sum()) + 1.0) * (width + 1)
        cost_c = values + np.where(margin, big, 0.0) + 1e-3 * (np.arange(nc) + 1) / (nc + 1)
        cost = np.concatenate([np.zeros(nd), cost_c, cost_c])
        pad = sparse.csr_array((0, nd + 2 * nc))

        def wide(M: Any) -> Any:
            return sparse.hstack([M, sparse.csr_array((M.shape[0], 2 * nc))]) if nc else M

        eye = sparse.identity(nc, format="csr")
        A_eq = sparse.vstack([wide(Q[fixed]), sparse.hstack([Q[cand], -eye, eye]) if nc else pad,
                              wide(self.L)], format="csr")
        b_eq = np.zeros(A_eq.shape[0])
        kvals = np.array([float(quantities[qs[r]].k) for r in cand])
        finite = [r for r in supp if quantities[qs[r]].hi != _INF]
        hi_f = np.array([quantities[qs[r]].hi for r in finite])
        lo = np.array([quantities[qs[r]].lo for r in supp])
        rows_t = [self.pos[t] for t in targets]
        sign = sparse.diags(np.array(signs, dtype=float))
        A_ub = sparse.vstack([wide(-Q[cand]), wide(Q[finite]), wide(-Q[supp]), wide(-(sign @ Q[rows_t]))],
                             format="csr")
        b_ub = np.concatenate([self.qb[cand] - kvals, hi_f - self.qb[finite], self.qb[supp] - lo,
                               np.full(len(targets), -float(width))])
        bounds = np.column_stack([np.concatenate([-self.base, np.zeros(2 * nc)]),
                                  np.full(nd + 2 * nc, np.inf)])
        try:
            _, x = _lp(cost, A_ub, b_ub, A_eq if A_eq.shape[0] else None, b_eq if A_eq.shape[0] else None,
                       bounds)
        except _Inconsistent:
            return False
        if x is None:  # pragma: no cover - costs are non-negative, never unbounded
            return False
        d = x[:nd]
        self.moves.append(Q @ d)
        self.points.append(self.base + d)
        delta = x[nd:nd + nc] - x[nd + nc:]
        for i in range(nc):
            if abs(delta[i]) > 1e-7:
                qi = qs[cand[i]]
                q = quantities[qi]
                q.status = _SUPPRESSED
                q.lo, q.hi = _band(q.value, q.k)  # type: ignore[arg-type]
                self.suppressed.append(qi)
        return True
