"""Statistical disclosure control of donor impact reports (casework/reports/disclosure.py).

Pure unit tests on synthetic numbers. The property tests are derandomised (same examples on every
run and every xdist worker). The attacker written here is independent of the module's: it reads
the published JSON, knows the true tables only for what the module's attacker model grants (is a
suppressed figure below k or not) and uses integer programming (scipy ``milp``), which is at
least as strong as the module's LP relaxation.
"""

from __future__ import annotations

import itertools
import math
from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from casework.reports import disclosure as dc
from casework.reports.disclosure import (
    TOTAL,
    Cell,
    Link,
    Period,
    Position,
    ProtectedReport,
    ProtectionError,
    Ref,
    Table,
    audit,
    check_publishable,
    protect,
    threshold,
)

K = 11
SETTINGS = settings(derandomize=True, deadline=None, database=None, max_examples=40,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------
# Independent attacker


class Attacker:
    """Integer unknowns for every suppressed published figure (and, for additive tables, one
    per cell per month segment); equations from every published total and link."""

    def __init__(self) -> None:
        self.names: dict[tuple, int] = {}
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.rows: list[tuple[dict[int, float], float, float]] = []

    def var(self, key: tuple, lo: float = 0.0, hi: float = math.inf) -> int:
        if key not in self.names:
            self.names[key] = len(self.lo)
            self.lo.append(lo)
            self.hi.append(hi)
        return self.names[key]

    def add(self, coefs: dict[int, float], lo: float, hi: float) -> None:
        self.rows.append((coefs, lo, hi))

    def range(self, coefs: dict[int, float]) -> tuple[float, float]:
        n = len(self.lo)
        cap = 10 * sum(abs(r[1]) for r in self.rows if r[1] != -math.inf and r[1] != math.inf) + 1000
        A = np.zeros((len(self.rows), n))
        lo = np.zeros(len(self.rows))
        hi = np.zeros(len(self.rows))
        for i, (cs, a, b) in enumerate(self.rows):
            for v, c in cs.items():
                A[i, v] += c
            lo[i], hi[i] = a, b
        cons = [LinearConstraint(A, lo, hi)] if len(self.rows) else []
        bounds = Bounds(np.array(self.lo), np.minimum(np.array(self.hi), cap))
        c = np.zeros(n)
        for v, w in coefs.items():
            c[v] += w
        out = []
        for sign in (1, -1):
            res = milp(sign * c, constraints=cons, integrality=np.ones(n), bounds=bounds)
            assert res.status == 0, res.message  # the true figures are always a solution
            out.append(sign * res.fun)
        return out[0], out[1]


def figure_expr(att: Attacker, rid: str, table: Table, row: str, column: str,
                months: tuple[int, ...] | None, segments: list[tuple[int, int]] | None) -> dict[int, float]:
    """The figure as a sum of interior unknowns (cells, or cells per segment)."""
    rows = table.rows if row == TOTAL else (row,)
    cols = table.columns if column == TOTAL else (column,)
    expr: dict[int, float] = {}
    for r in rows:
        for c in cols:
            if segments is None:
                keys = [(rid, table.name, r, c)]
            else:
                keys = [(table.name, r, c, s) for s in segments if months[0] <= s[0] and s[1] <= months[1]]
            for key in keys:
                v = att.var(key)
                expr[v] = expr.get(v, 0) + 1
    return expr


def build_attacker(reports: list[ProtectedReport]) -> tuple[Attacker, list[tuple[ProtectedReport, Position, dict[int, float]]], dict]:
    """Everything published by ``reports`` as the attacker sees it (from the JSON)."""
    att = Attacker()
    cuts: dict[str, set[int]] = {}
    for rep in reports:
        for t in rep.tables:
            if t.additive and rep.period is not None:
                a, b = rep.period.span
                cuts.setdefault(t.name, set()).update((a, b + 1))
    segments = {name: [(x, y - 1) for x, y in itertools.pairwise(sorted(c))] for name, c in cuts.items()}
    suppressed = []
    for n, rep in enumerate(reports):
        published = rep.to_json()
        marker = f"<{rep.k}"
        for t, tj in zip(rep.tables, published["tables"], strict=True):
            assert tj["name"] == t.name
            segs = segments.get(t.name) if t.additive and rep.period is not None else None
            months = rep.period.span if segs is not None else None
            for row in tj["rows"]:
                for column, shown in row["values"].items():
                    expr = figure_expr(att, f"r{n}", t, row["label"], column, months, segs)
                    true = t.figure(row["label"], column)
                    if shown == marker:
                        # attacker knowledge: never 0 (unless truly 0), below k or not
                        lo, hi = ((1 if true.value else 0), rep.k - 1) if true.value < rep.k else (rep.k, math.inf)
                        att.add(expr, lo, hi)
                        suppressed.append((rep, Position(t.name, row["label"], column), expr))
                    else:
                        assert isinstance(shown, int)
                        att.add(expr, shown, shown)
        for link in rep.links:
            left = figure_expr(att, f"r{n}", rep.table(link.left.table), link.left.row, link.left.column, None, None)
            right = figure_expr(att, f"r{n}", rep.table(link.right.table), link.right.row, link.right.column, None, None)
            expr = dict(left)
            for v, c in right.items():
                expr[v] = expr.get(v, 0) - c
            att.add(expr, 0, 0)
    return att, suppressed, segments


def assert_not_pinned(reports: list[ProtectedReport], width: int = 1) -> None:
    """No suppressed figure, and no small total that a table does not publish, is pinned."""
    att, suppressed, _ = build_attacker(reports)
    for rep, pos, expr in suppressed:
        lo, hi = att.range(expr)
        assert hi - lo >= width - 1e-6, f"{pos} of {rep.label} pinned to [{lo}, {hi}]"
    for n, rep in enumerate(reports):
        for t in rep.tables:
            segs = None
            if t.additive and rep.period is not None:
                continue  # per-segment totals are checked by the differencing test
            unpublished = ([(r, TOTAL) for r in t.rows] if not t.row_totals else []) + \
                ([(TOTAL, c) for c in t.columns] if not t.column_totals else []) + \
                ([(TOTAL, TOTAL)] if not t.grand_total else [])
            for row, column in unpublished:
                true = t.figure(row, column)
                if true.sensitive(rep.k):
                    lo, hi = att.range(figure_expr(att, f"r{n}", t, row, column, None, segs))
                    assert hi - lo >= width - 1e-6, f"unpublished {row}×{column} of {t.name} pinned to {lo}"


def published_ints(report: ProtectedReport) -> list[int]:
    return [v for t in report.to_json()["tables"] for row in t["rows"] for v in row["values"].values()
            if isinstance(v, int)]


# ---------------------------------------------------------------------------------------------
# Strategies


def counts(small_weight: int = 4) -> st.SearchStrategy[int]:
    return st.one_of(
        *([st.just(0)] * 3),
        *([st.integers(1, K - 1)] * small_weight),
        st.integers(K, 40),
        st.integers(41, 400),
    )


@st.composite
def tables(draw: st.DrawFn, name: str = "T", max_rows: int = 5, max_cols: int = 4) -> Table:
    nr = draw(st.integers(1, max_rows))
    nc = draw(st.integers(1, max_cols))
    nights = draw(st.booleans())
    cells = []
    for _ in range(nr):
        row = []
        for _ in range(nc):
            value = draw(counts())
            if nights and value:
                # shelter nights: the value is nights, contributors the survivors who stayed
                row.append(Cell(value, draw(st.integers(1, value))))
            else:
                row.append(Cell.count(value))
        cells.append(row)
    return Table(name, tuple(f"row {i}" for i in range(nr)), tuple(f"col {j}" for j in range(nc)),
                 tuple(map(tuple, cells)), row_totals=draw(st.booleans()),
                 column_totals=draw(st.booleans()), grand_total=draw(st.booleans()))


AGE_BANDS = ("0-11", "12-17", "18-24", "25-39", "40+")
GENDERS = ("female", "male", "non-binary")
SERVICES = ("shelter", "legal", "medical", "counselling", "repatriation")


@st.composite
def caseloads(draw: st.DrawFn) -> tuple[list[Table], list[Link]]:
    """A synthetic caseload of survivors and the tables a donor report makes of it."""
    n = draw(st.integers(0, 60))
    people = []
    for _ in range(n):
        age = draw(st.sampled_from(AGE_BANDS[: draw(st.integers(2, len(AGE_BANDS)))]))
        gender = draw(st.sampled_from(GENDERS))
        services = draw(st.lists(st.sampled_from(SERVICES), max_size=3, unique=True))
        sessions = {s: draw(st.integers(1, 6)) for s in services}
        nights = draw(st.integers(0, 90)) if "shelter" in services else 0
        people.append((age, gender, sessions, nights))
    by_age_gender = [[sum(1 for p in people if p[0] == a and p[1] == g) for g in GENDERS] for a in AGE_BANDS]
    by_gender = [[sum(1 for p in people if p[1] == g)] for g in GENDERS]
    sessions = [[Cell(sum(p[2].get(s, 0) for p in people), sum(1 for p in people if s in p[2]))]
                for s in SERVICES]
    with_service = sum(1 for p in people if p[2])
    nights = [[Cell(sum(p[3] for p in people if p[0] == a), sum(1 for p in people if p[0] == a and p[3]))]
              for a in AGE_BANDS]
    stayed = sum(1 for p in people if p[3])
    out = [
        Table.counts("Survivors by age band and gender", AGE_BANDS, GENDERS, by_age_gender),
        Table.counts("Survivors by gender", GENDERS, ("Survivors",), by_gender, row_totals=False),
        Table("Service sessions by kind", SERVICES, ("Sessions",), tuple(map(tuple, sessions)),
              row_totals=False, column_total_contributors=(with_service,),
              grand_total_contributors=with_service, additive=True),
        Table("Shelter nights by age band", AGE_BANDS, ("Nights",), tuple(map(tuple, nights)),
              row_totals=False, column_total_contributors=(stayed,), grand_total_contributors=stayed,
              additive=True),
    ]
    links = [Link.totals("Survivors by age band and gender", "Survivors by gender")]
    if draw(st.booleans()):
        links.append(Link(Ref("Survivors by age band and gender", TOTAL, "female"),
                          Ref("Survivors by gender", "female", "Survivors")))
    return out, links


@st.composite
def random_reports(draw: st.DrawFn) -> tuple[list[Table], list[Link]]:
    """Random tables of random sizes, some linked by equal totals."""
    out = [draw(tables(name=f"T{i}")) for i in range(draw(st.integers(1, 3)))]
    links = []
    for i in range(1, len(out)):
        if draw(st.booleans()):
            # make table i describe the same population as table 0 (equal grand totals)
            t0, ti = out[0], out[i]
            diff = t0.total().value - ti.total().value
            cells = [list(r) for r in ti.cells]
            if diff > 0:
                c = cells[0][0]
                cells[0][0] = Cell(c.value + diff, c.contributors + diff)
            elif diff < 0:
                continue
            out[i] = Table(ti.name, ti.rows, ti.columns, tuple(map(tuple, cells)), ti.row_totals,
                           ti.column_totals, ti.grand_total)
            links.append(Link.totals(t0.name, ti.name))
    return out, links


# ---------------------------------------------------------------------------------------------
# Properties of protect()


def check_protected(report: ProtectedReport, k: int = K) -> None:
    # no published figure (cells and margins) in 1..k-1
    assert all(v == 0 or v >= k for v in published_ints(report))
    for t in report.tables:
        for i, j in t.published_positions():
            pos = t.position(i, j)
            fig = t.figure(pos.row, pos.column)
            if 0 < fig.contributors < k or 0 < fig.value < k:
                assert pos in report.primary
            if fig.is_zero:
                assert pos not in report.suppressed, "zeros are published as 0"
    assert audit(report) == []


@SETTINGS
@given(caseloads())
def test_caseload_reports_are_protected(data):
    tables_, links = data
    report = protect(tables_, links, K)
    check_protected(report)
    assert_not_pinned([report])


@SETTINGS
@given(random_reports(), st.sampled_from([5, 11]))
def test_random_tables_are_protected(data, k):
    tables_, links = data
    report = protect(tables_, links, k)
    check_protected(report, k)
    assert_not_pinned([report])


@settings(derandomize=True, deadline=None, database=None, max_examples=15)
@given(random_reports())
def test_protection_width(data):
    tables_, links = data
    report = protect(tables_, links, K, width=3)
    assert audit(report) == []
    assert_not_pinned([report], width=3)


@settings(derandomize=True, deadline=None, database=None, max_examples=15)
@given(caseloads())
def test_protect_is_deterministic(data):
    tables_, links = data
    first = protect(tables_, links, K)
    dc._CACHE.clear()
    second = protect(tables_, links, K)
    assert first.to_json() == second.to_json()
    assert first.primary == second.primary and first.complementary == second.complementary


def brute_force_values(report: ProtectedReport) -> dict[Position, set[int]]:
    """Every whole-number completion of one small published table, by enumeration.

    Unknowns: the suppressed interior cells, each within what its marker and nature give away
    (1..k-1, or k and more, capped well above any total); a completion must reproduce every
    published figure and keep every suppressed margin within its range too.
    """
    (t,) = report.tables
    marker = report.marker
    published = {(row["label"], c): v for row in report.to_json()["tables"][0]["rows"]
                 for c, v in row["values"].items()}
    cap = sum(c.value for row in t.cells for c in row) + K

    def domain(true: int) -> np.ndarray:
        return np.arange(1, K) if 0 < true < K else np.arange(K, cap + 1)

    cells = [(r, c) for r in t.rows for c in t.columns]
    unknown = [p for p in cells if published[p] == marker]
    grids = np.meshgrid(*[domain(t.figure(*p).value) for p in unknown], indexing="ij") if unknown else []
    x = {p: (grids[unknown.index(p)].ravel() if p in unknown else np.full(1, published[p])) for p in cells}
    size = max((g.size for g in grids), default=1)
    figures = {p: np.broadcast_to(v, size) for p, v in x.items()}
    for r in t.rows:
        figures[(r, TOTAL)] = sum(figures[(r, c)] for c in t.columns)
    for c in t.columns:
        figures[(TOTAL, c)] = sum(figures[(r, c)] for r in t.rows)
    figures[(TOTAL, TOTAL)] = sum(figures[(r, TOTAL)] for r in t.rows)
    ok = np.ones(size, dtype=bool)
    for p, v in published.items():
        if v == marker:
            true = t.figure(*p).value
            ok &= (figures[p] >= 1) & (figures[p] <= K - 1) if true < K else figures[p] >= K
        else:
            ok &= figures[p] == v
    return {Position(t.name, *p): set(figures[p][ok].tolist()) for p, v in published.items() if v == marker}


@settings(derandomize=True, deadline=None, database=None, max_examples=40)
@given(st.lists(st.lists(st.one_of(st.just(0), st.integers(1, 6), st.integers(11, 14)), min_size=2, max_size=2),
                min_size=2, max_size=2), st.booleans(), st.booleans())
def test_brute_force_attacker_on_tiny_tables(cells, rows, cols):
    t = Table.counts("Tiny", ("a", "b"), ("x", "y"), cells, row_totals=rows, column_totals=cols)
    report = protect([t], k=K)
    for pos, vals in brute_force_values(report).items():
        true = t.figure(pos.row, pos.column).value
        assert true in vals
        assert len(vals) >= 2, f"{pos} pinned to {vals}"


def test_threshold():
    assert threshold(None) == 11
    assert threshold(11) == 11
    assert threshold("7") == 7
    assert threshold(5) == 5
    for bad in (4, 0, -3, "4", "abc", 5.5, True):
        with pytest.raises(ValueError):
            threshold(bad)
    with pytest.raises(ValueError, match="at least 5"):
        threshold(4)
    with pytest.raises(ValueError, match="at least 5"):
        protect([Table.counts("T", ["a"], ["b"], [[3]])], k=4)


@SETTINGS
@given(st.integers(-5, 4))
def test_threshold_below_five_refused(k):
    with pytest.raises(ValueError):
        threshold(k)


# ---------------------------------------------------------------------------------------------
# Classic hand-written examples


def shown(report: ProtectedReport, table: str) -> dict[str, dict[str, int | str]]:
    (t,) = [t for t in report.to_json()["tables"] if t["name"] == table]
    return {row["label"]: row["values"] for row in t["rows"]}


def test_json_contract_and_rectangle_of_complements():
    t = Table.counts("Survivors by age band and gender", ["0-17", "18-24", "25+"], ["female", "male"],
                     [[3, 20], [15, 30], [25, 40]])
    report = protect([t])
    assert report.to_json() == {"tables": [{"name": "Survivors by age band and gender", "rows": [
        {"label": "0-17", "values": {"female": "<11", "male": "<11", "Total": 23}},
        {"label": "18-24", "values": {"female": "<11", "male": "<11", "Total": 45}},
        {"label": "25+", "values": {"female": 25, "male": 40, "Total": 65}},
        {"label": "Total", "values": {"female": 43, "male": 90, "Total": 133}},
    ]}]}
    assert report.primary == {Position(t.name, "0-17", "female")}
    assert report.complementary == {Position(t.name, "0-17", "male"), Position(t.name, "18-24", "female"),
                                    Position(t.name, "18-24", "male")}


def test_single_suppressed_cell_in_a_row_with_total_gets_a_complement():
    t = Table.counts("Services", ["all"], ["legal", "medical", "shelter"], [[4, 30, 50]],
                     column_totals=False, grand_total=False)
    report = protect([t])
    assert shown(report, "Services")["all"] == {"legal": "<11", "medical": "<11", "shelter": 50, "Total": 84}
    assert report.complementary == {Position("Services", "all", "medical")}  # the smaller neighbour


def test_two_small_cells_whose_sum_pins_both():
    # "<11" + "<11" = 20 would mean 10 and 10: a third cell must go
    t = Table.counts("Pair", ["a"], ["x", "y", "z"], [[10, 10, 30]], column_totals=False, grand_total=False)
    report = protect([t])
    assert shown(report, "Pair")["a"] == {"x": "<11", "y": "<11", "z": "<11", "Total": 50}


def test_zeros_published_and_never_used_as_complements():
    t = Table.counts("Z", ["a", "b"], ["x", "y", "z"], [[3, 0, 40], [0, 0, 25]])
    report = protect([t])
    values = shown(report, "Z")
    assert values["a"]["y"] == 0 and values["b"]["x"] == 0 and values["b"]["y"] == 0
    assert all(t.figure(p.row, p.column).value > 0 for p in report.suppressed)
    assert audit(report) == []


def test_margin_only_when_no_cell_will_do():
    # a one-column table: the row total equals the cell, so it has to go with it
    t = Table.counts("One column", ["a", "b"], ["n"], [[3, ], [50]], column_totals=True)
    report = protect([t])
    assert Position("One column", "a", TOTAL) in report.primary
    assert audit(report) == []
    # with a second column a cell does the job and the margins stay published
    t2 = Table.counts("Two columns", ["a", "b"], ["n", "m"], [[3, 12], [50, 60]])
    report2 = protect([t2])
    assert not any(p.row == TOTAL or p.column == TOTAL for p in report2.complementary)


def test_linked_tables_sharing_a_total():
    by_gender = Table.counts("By gender", ["female", "male"], ["n"], [[40], [3]],
                             row_totals=False, column_totals=False, grand_total=False)
    served = Table.counts("Served", ["all"], ["n"], [[43]], row_totals=False, column_totals=False,
                          grand_total=False)
    alone = protect([by_gender, served])
    assert shown(alone, "By gender") == {"female": {"n": 40}, "male": {"n": "<11"}}
    linked = protect([by_gender, served], [Link(Ref("By gender"), Ref("Served", "all", "n"))])
    # 43 − 40 would give the 3 away: one more figure goes (the cheaper one, 40)
    assert shown(linked, "By gender") == {"female": {"n": "<11"}, "male": {"n": "<11"}}
    assert shown(linked, "Served") == {"all": {"n": 43}}
    assert audit(linked) == []
    assert_not_pinned([linked])
    assert audit(ProtectedReport(alone.tables, (Link(Ref("By gender"), Ref("Served", "all", "n")),),
                                 K, alone.primary, alone.complementary))


def test_links_across_tables_with_margins():
    a = Table.counts("By age", ["minor", "adult"], ["n"], [[3], [130]])
    g = Table.counts("By gender", ["female", "male"], ["n"], [[43], [90]])
    report = protect([a, g], [Link.totals("By age", "By gender")])
    assert shown(report, "By age")["Total"] == {"n": 133, "Total": 133}
    assert audit(report) == []
    assert_not_pinned([report])


def test_unpublished_total_must_not_be_pinned_either():
    # no row or column totals, only the grand total: 2 and 1 are each hidden, but together they
    # are 43 − 0 − 40 = 3, the (unpublished) total of column "x": a small category
    t = Table.counts("Sessions", ["a", "b"], ["x", "y"], [[2, 0], [1, 40]], row_totals=False,
                     column_totals=False)
    primary_only = ProtectedReport((t,), (), K, dc._primary([t], K), frozenset())
    (exposure,) = audit(primary_only)
    assert exposure.kind == "margin" and exposure.position == Position("Sessions", TOTAL, "x")
    assert "total of column “x”" in exposure.explain() and "not published" in exposure.explain()
    report = protect([t])
    assert Position("Sessions", "b", "y") in report.complementary
    assert audit(report) == []
    assert_not_pinned([report])


def test_shelter_nights_suppressed_for_few_survivors():
    t = Table("Shelter nights", ("0-17", "18+"), ("nights",), ((Cell(120, 3),), (Cell(400, 25),)))
    report = protect([t])
    assert Position("Shelter nights", "0-17", "nights") in report.primary
    check_protected(report)


def test_invalid_input_rejected():
    with pytest.raises(ValueError):
        Cell(3, 0)
    with pytest.raises(ValueError):
        Cell(-1, 0)
    with pytest.raises(ValueError, match="contributors"):
        Table("T", ("a",), ("x", "y"), ((Cell(5, 5), Cell(5, 5)),), row_total_contributors=(11,))
    with pytest.raises(ValueError, match="reserved"):
        Table.counts("T", [TOTAL], ["x"], [[1]])
    with pytest.raises(ValueError, match="false"):
        protect([Table.counts("A", ["a"], ["x"], [[5]]), Table.counts("B", ["a"], ["x"], [[6]])],
                [Link.totals("A", "B")])
    with pytest.raises(ValueError, match="add up"):
        Table.counts("S", ["a"], ["x"], [[5]], additive=True, monthly={date(2024, 1, 1): [[4]]})


def test_record_round_trip():
    monthly = {date(2024, m, 1): [[Cell.count(m), Cell(3 * m, m)]] for m in range(1, 4)}
    t = Table("S", ("a",), ("x", "y"), ((Cell.count(6), Cell(18, 6)),), additive=True, monthly=monthly,
              row_total_contributors=(6,), grand_total_contributors=6, column_totals=False)
    report = protect([t, Table.counts("U", ["a"], ["x"], [[6]])], [Link(Ref("S", "a", "x"), Ref("U"))], K,
                     period=Period.parse("2024-01..2024-03"), report_id="r1", title="Q1", scope="p")
    again = ProtectedReport.from_record(report.to_record())
    assert again == report
    assert again.to_json() == report.to_json()


def test_period():
    p = Period.parse("2024-01..2024-06")
    assert str(p) == "2024-01..2024-06" and len(p.months()) == 6
    assert Period(date(2024, 7, 15), date(2024, 7, 31)) == Period.parse("2024-07")
    assert p.contains(Period.parse("2024-03")) and not p.overlaps(Period.parse("2024-07..2024-12"))
    with pytest.raises(ValueError):
        Period.parse("2024-06..2024-01")


# ---------------------------------------------------------------------------------------------
# Differencing between reports of overlapping periods


def services(months: dict[int, list[list[int]]], name: str = "Service sessions") -> Table:
    cells = [[sum(m[i][j] for m in months.values()) for j in range(2)] for i in range(2)]
    return Table.counts(name, ["adults", "minors"], ["legal", "medical"], cells, additive=True,
                        monthly={date(2024, m, 1): v for m, v in months.items()})


H1 = {m: [[12, 20], [15, 30]] for m in range(1, 7)}
JAN_JUL = {**H1, 7: [[3, 25], [14, 30]]}  # July alone: 3 legal sessions for adults


def test_differencing_refused_with_explanation():
    first = protect([services(H1)], period=Period.parse("2024-01..2024-06"), title="H1 2024", scope="p1")
    second = protect([services(JAN_JUL)], period=Period.parse("2024-01..2024-07"), title="Jan-Jul 2024",
                     scope="p1")
    assert first.suppressed == second.suppressed == frozenset()  # every figure is large
    problems = check_publishable(second, [first])
    assert len(problems) == 1
    (sentence,) = problems
    for part in ("Service sessions", "adults", "legal", "2024-07", "H1 2024", "Jan-Jul 2024"):
        assert part in sentence
    # the protected version hides July and passes
    fixed = protect([services(JAN_JUL)], period=Period.parse("2024-01..2024-07"), title="Jan-Jul 2024",
                    scope="p1", published=[first])
    assert Position("Service sessions", "adults", "legal") in fixed.complementary
    assert check_publishable(fixed, [first]) == []
    assert audit([first, fixed]) == []


def test_check_publishable_limit():
    first = protect([services(H1, "A"), services(H1, "B")], period=Period.parse("2024-01..2024-06"),
                    title="H1", scope="p1")
    second = protect([services(JAN_JUL, "A"), services(JAN_JUL, "B")], period=Period.parse("2024-01..2024-07"),
                     title="Jan-Jul", scope="p1")
    everything = check_publishable(second, [first])
    assert len(everything) == 2
    assert check_publishable(second, [first], limit=1) == everything[:1]


def test_non_overlapping_periods_and_other_scopes_are_fine():
    first = protect([services(H1)], period=Period.parse("2024-01..2024-06"), title="H1", scope="p1")
    h2 = {m: [[3, 25], [14, 30]] for m in range(7, 13)}
    second = protect([services(h2)], period=Period.parse("2024-07..2024-12"), title="H2", scope="p1")
    assert check_publishable(second, [first]) == []
    other_scope = protect([services(JAN_JUL)], period=Period.parse("2024-01..2024-07"), title="X", scope="p2")
    assert check_publishable(other_scope, [first]) == []


def test_published_report_exposed_by_a_new_one():
    # the same period published twice with two suppression patterns, each safe on its own
    cells = [[4, 30, 50], [25, 40, 60], [35, 45, 70]]
    t = Table.counts("Referrals", ["legal", "medical", "housing"], ["accepted", "refused", "pending"], cells)
    period = Period.parse("2024-01..2024-03")
    first = protect([t], period=period, title="Q1", scope="p")
    assert first.complementary == {Position("Referrals", "legal", "refused"), Position("Referrals", "medical", "accepted"),
                                   Position("Referrals", "medical", "refused")}
    other = ProtectedReport(first.tables, (), K, first.primary,
                            frozenset({Position("Referrals", "legal", "pending"), Position("Referrals", "housing", "accepted"),
                                       Position("Referrals", "housing", "pending")}),
                            period, title="Q1 again", scope="p")
    assert audit(other) == []
    problems = check_publishable(other, [first])
    assert any(p.startswith("Table “Referrals”, row “legal”, column “accepted” of report “Q1 (2024-01..2024-03)”")
               and "“Q1 again (2024-01..2024-03)”" in p for p in problems), problems
    # the same holds for tables of unique survivors (the same period is the same figures)
    unique = Table.counts("Survivors", t.rows, t.columns, cells)
    first_u = protect([unique], period=period, title="Q1", scope="p")
    other_u = ProtectedReport((unique,), (), K, first_u.primary,
                              frozenset(Position("Survivors", p.row, p.column) for p in other.complementary),
                              period, title="Q1 again", scope="p")
    assert check_publishable(other_u, [first_u])


def test_missing_monthly_data_is_refused():
    t = Table.counts("Service sessions", ["a"], ["x"], [[90]], additive=True)
    first = protect([t], period=Period.parse("2024-01..2024-06"), title="H1", scope="p")
    t2 = Table.counts("Service sessions", ["a"], ["x"], [[120]], additive=True)
    second = protect([t2], period=Period.parse("2024-04..2024-09"), title="Q2-Q3", scope="p")
    (problem,) = check_publishable(second, [first])
    assert "monthly" in problem


def test_nested_unique_counts():
    served = lambda n: Table.counts("Survivors served", ["all"], ["n"], [[n]],  # noqa: E731
                                    row_totals=False, column_totals=False, grand_total=False)
    first = protect([served(50)], period=Period.parse("2024-01..2024-06"), title="U1", scope="p")
    second = protect([served(51)], period=Period.parse("2024-01..2024-07"), title="U2", scope="p")
    (problem,) = check_publishable(second, [first])
    assert "2024-07" in problem and "Survivors served" in problem
    assert check_publishable(second, [first], nested_unique=False) == []
    assert check_publishable(protect([served(80)], period=Period.parse("2024-01..2024-07"), title="U3",
                                     scope="p"), [first]) == []
    fixed = protect([served(51)], period=Period.parse("2024-01..2024-07"), title="U2", scope="p",
                    published=[first])
    assert fixed.shown(Position("Survivors served", "all", "n")) == "<11"
    assert check_publishable(fixed, [first]) == []


def test_unprotectable_report_raises():
    first = protect([services(H1)], period=Period.parse("2024-01..2024-06"), title="H1", scope="p")
    # the published report's figures alone do not pin anything; but a second copy of H1 with
    # one cell changed cannot be reconciled with it
    changed = {**H1, 6: [[13, 20], [15, 30]]}
    problems = check_publishable(protect([services(changed)], period=Period.parse("2024-01..2024-06"),
                                         title="H1 corrected", scope="p"), [first])
    assert problems and "do not agree" in problems[0]
    with pytest.raises(ProtectionError):
        protect([services(changed)], period=Period.parse("2024-01..2024-06"), title="H1 corrected",
                scope="p", published=[first])


def test_data_corrected_after_publication():
    # H1 was frozen; later two legal sessions of March were entered late. FY − H1 is what a reader
    # computes for July to December: the figures do not add up to the truth, and still must not
    # reveal a small count.
    first = protect([services(H1)], period=Period.parse("2024-01..2024-06"), title="H1", scope="p")
    corrected = {**H1, 3: [[14, 20], [15, 30]]}
    second_half = {m: [[1 if m == 9 else 0, 12], [0, 20]] for m in range(7, 13)}
    fy = {**corrected, **second_half}
    report = protect([services(fy)], period=Period.parse("2024-01..2024-12"), title="FY", scope="p",
                     published=[first])
    assert Position("Service sessions", "adults", "legal") in report.suppressed
    assert check_publishable(report, [first]) == []
    naive = protect([services(fy)], period=Period.parse("2024-01..2024-12"), title="FY", scope="p")
    assert check_publishable(naive, [first])  # FY − H1 = 1 + 2 legal sessions for adults


@st.composite
def monthly_series(draw: st.DrawFn) -> tuple[dict[int, list[list[int]]], list[tuple[int, int]]]:
    nr, nc = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    months = {m: [[draw(st.one_of(st.just(0), st.integers(1, 6), st.integers(8, 30))) for _ in range(nc)]
                  for _ in range(nr)] for m in range(1, 7)}
    periods = []
    for _ in range(draw(st.integers(2, 3))):
        a = draw(st.integers(1, 6))
        periods.append((a, draw(st.integers(a, 6))))
    return months, periods


@settings(derandomize=True, deadline=None, database=None, max_examples=30)
@given(monthly_series(), st.booleans())
def test_differencing_property(data, margins):
    """Reports published one after another with protect(published=...): the independent attacker,
    with one unknown per cell per month segment, pins no suppressed figure and no small segment."""
    months, periods = data
    published: list[ProtectedReport] = []
    for n, (a, b) in enumerate(periods):
        ms = {m: v for m, v in months.items() if a <= m <= b}
        nr, nc = len(ms[a]), len(ms[a][0])
        cells = [[sum(v[i][j] for v in ms.values()) for j in range(nc)] for i in range(nr)]
        t = Table.counts("Sessions", [f"r{i}" for i in range(nr)], [f"c{j}" for j in range(nc)], cells,
                         additive=True, monthly={date(2024, m, 1): v for m, v in ms.items()},
                         row_totals=margins, column_totals=margins, grand_total=True)
        period = Period(date(2024, a, 1), date(2024, b, 1))
        try:
            report = protect([t], period=period, title=f"R{n}", scope="p", published=published)
        except ProtectionError:
            continue  # nothing in this report could hide it: it is simply not published
        assert check_publishable(report, published) == []
        published.append(report)
    assert audit(published) == []
    assert_not_pinned(published)
    att, _, segments = build_attacker(published)
    by_segment: dict[tuple[int, int], dict[tuple[int, int], int]] = {}
    for (_name, row, col, seg), v in list(att.names.items()):
        by_segment.setdefault(seg, {})[(int(row[1:]), int(col[1:]))] = v
    for seg, cells in by_segment.items():
        ms = range(seg[0] % 12 + 1, seg[1] % 12 + 2)
        groups = [[p] for p in cells]  # each cell, each row, each column and everything
        groups += [[p for p in cells if p[0] == i] for i in {p[0] for p in cells}]
        groups += [[p for p in cells if p[1] == j] for j in {p[1] for p in cells}]
        groups.append(list(cells))
        for group in groups:
            true = sum(months[m][i][j] for m in ms for i, j in group)
            if 0 < true < K:
                lo, hi = att.range({cells[p]: 1 for p in group})
                assert hi - lo >= 1 - 1e-6, f"segment {seg} figure {group} pinned to {lo}"


def test_performance_of_a_full_report():
    import random
    import time

    rnd = random.Random(7)
    tables_ = []
    for i in range(15):
        nr, nc = 12, 8
        tables_.append(Table.counts(f"T{i}", [f"r{r}" for r in range(nr)], [f"c{c}" for c in range(nc)],
                                    [[rnd.choice([0, 0, 1, 2, 3, 5, 8, 12, 15, 30, 80, 200]) for _ in range(nc)]
                                     for _ in range(nr)]))
    start = time.process_time()
    report = protect(tables_)
    dc._CACHE.clear()
    assert audit(report) == []
    # well under a second on a quiet machine; generous here for loaded CI workers
    assert time.process_time() - start < 5
