"""HTCDS de-identified export (casework/reports/deidentify.py): k-anonymity by generalisation.

Synthetic caseloads only. Hypothesis is derandomised (same examples on every run and worker)."""

from __future__ import annotations

import csv
import io
import math
import random
from collections import Counter

import pycountry
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework import regions, vocab
from casework.reports import deidentify as d
from casework.reports.deidentify import (
    CORE_COLUMNS,
    HIERARCHIES,
    OPTIONAL_COLUMNS,
    Result,
    SurvivorRecord,
    deidentify,
    write_csv,
)

SETTINGS = settings(
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow],
)
ALL_COLUMNS = CORE_COLUMNS + OPTIONAL_COLUMNS

GENDERS = vocab.htcds(vocab.GENDER).values
EXPLOITATION = vocab.htcds(vocab.EXPLOITATION_TYPES).values
STATUSES = vocab.htcds(vocab.TRAFFICKING_STATUS).values
METHODS = vocab.htcds(vocab.RECRUITMENT_METHODS).values
COUNTRIES = tuple(sorted(country.alpha_2 for country in pycountry.countries))
AGE_BANDS = vocab.AGE_BANDS.values

# Identifying fields of the Survivor record, with values that must never reach the export.
IDENTIFYING = {
    "id": "0b7c1c2e-0000-4000-8000-00000000dead",
    "case_number": "CW-2024-000777",
    "first_name": "Sentinelfirst",
    "last_name": "Sentinellast",
    "known_as": "Sentinelknown",
    "date_of_birth": "1999-12-31",
    "phone": "+66 81 000 0000",
    "email": "sentinel@example.org",
    "address": "1 Sentinel Road",
    "narrative": "=Sentinel narrative",
    "risk_notes": "Sentinel risk notes",
    "closure_reason": "Sentinel closure",
    "intake_date": "2024-03-15",
}


def _zipf(rng: random.Random, items, exponent: float):
    """A skewed picker: a few common values, a long tail of rare ones."""
    items = list(items)
    rng.shuffle(items)
    weights = [1 / (rank + 1) ** exponent for rank in range(len(items))]
    return lambda: rng.choices(items, weights)[0]


def _caseload(n: int, seed: int, exponent: float, multi: float) -> list[SurvivorRecord]:
    rng = random.Random(seed)
    country = _zipf(rng, COUNTRIES, exponent)
    exploitation = _zipf(rng, EXPLOITATION, exponent)
    gender = _zipf(rng, (*GENDERS, None), exponent)
    age = _zipf(rng, (*AGE_BANDS, None), exponent / 2)
    year = _zipf(rng, [*range(2010, 2026), None], exponent / 3)
    status = _zipf(rng, (*STATUSES, None), exponent)
    records = []
    for _ in range(n):
        citizenship = [country() for _ in range(rng.choices((0, 1, 2, 3), (3, 90, multi, 1))[0])]
        types = [exploitation() for _ in range(rng.choices((0, 1, 2), (3, 80, multi))[0])]
        records.append(SurvivorRecord(
            age_band=age(),
            gender=gender(),
            citizenship=citizenship,
            exploitation_types=types,
            intake_year=year(),
            trafficking_status=status(),
            recruitment_methods=rng.sample(METHODS, rng.choice((0, 1, 1, 2))),
        ))
    return records


@st.composite
def caseloads(draw) -> list[SurvivorRecord]:
    low, high = draw(st.sampled_from([(0, 30), (30, 300), (300, 1500), (1500, 3000)]))
    n = draw(st.integers(low, high))
    seed = draw(st.integers(0, 2**32 - 1))
    exponent = draw(st.floats(0.3, 3.0))
    multi = draw(st.floats(0, 40))
    return _caseload(n, seed, exponent, multi)


def _cells(result: Result) -> Counter:
    return Counter(tuple(row[column] for column in result.columns) for row in result.rows)


def _path(column: str, record: SurvivorRecord) -> dict[str, int]:
    """Every label the record's value has in the column's hierarchy, with its level."""
    hierarchy = HIERARCHIES[column]
    value = hierarchy.canonical(record)
    labels: dict[str, int] = {}
    for level in range(hierarchy.height + 1):
        labels.setdefault(hierarchy.generalise(value, level), level)
    return labels


def assert_sound(records: list[SurvivorRecord], result: Result, k: int, max_suppression: float):
    n = len(records)
    # k-anonymous on every exported column (all of them quasi-identifiers).
    classes = _cells(result)
    assert all(size >= k for size in classes.values()), classes
    # Every survivor is either released or counted as suppressed.
    assert len(result.rows) + result.suppressed_count == n
    if n < k:
        assert result.rows == () and result.suppressed_count == n
    else:
        assert result.suppressed_count <= max_suppression * n + 1e-9
    # Only the exported columns; the levels describe exactly the released cells.
    for row in result.rows:
        assert tuple(row) == result.columns
    for column in result.columns:
        released = {row[column] for row in result.rows}
        assert set(result.generalisation_levels[column]) == released
    # Truthful and consistent recoding: each survivor's value maps to the most specific
    # released label on its hierarchy path, and no class holds more rows than survivors
    # mapping to it.
    mapped: Counter = Counter()
    for record in records:
        cells = []
        for column in result.columns:
            path = _path(column, record)
            shown = [(level, label) for label, level in path.items()
                     if result.generalisation_levels[column].get(label) == level]
            if not shown:
                break
            cells.append(min(shown)[1])
        else:
            mapped[tuple(cells)] += 1
    for cells, size in classes.items():
        assert mapped[cells] >= size, cells


@SETTINGS
@given(
    caseloads(),
    st.sampled_from([2, 5, 11, 25]),
    st.sampled_from([0.0, 0.01, 0.05, 0.2, 1.0]),
    st.booleans(),
)
def test_export_is_k_anonymous_on_every_column(records, k, max_suppression, optional):
    columns = ALL_COLUMNS if optional else CORE_COLUMNS
    result = deidentify(records, k=k, max_suppression=max_suppression, columns=columns)
    assert result.k == k and result.columns == columns
    assert_sound(records, result, k, max_suppression)


@settings(SETTINGS, max_examples=15)
@given(caseloads(), st.randoms(use_true_random=False))
def test_result_is_deterministic_and_ignores_input_order(records, rng):
    first = deidentify(records)
    assert deidentify(records) == first
    shuffled = list(records)
    rng.shuffle(shuffled)
    assert deidentify(shuffled) == first


def test_recoding_is_global_within_each_column():
    """A recorded value gets one label, the same in every row (no local recoding)."""
    records = _caseload(2500, seed=3, exponent=1.2, multi=10)
    columns = ALL_COLUMNS
    hierarchies = [HIERARCHIES[column] for column in columns]
    canonical = [tuple(h.canonical(r) for h in hierarchies) for r in records]
    specialiser = d._Specialiser(hierarchies, canonical, 11, budget=125)
    specialiser.run()
    labels: list[dict] = [{} for _ in columns]
    for key, members in specialiser.classes.items():
        for row in members:
            for column, node in enumerate(key):
                value = specialiser.rows[row][column]
                assert labels[column].setdefault(value, node) == node
                # and the label is one of the value's own generalisations
                assert specialiser.paths[column][value][node[0]] == node[1]


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from((*AGE_BANDS, None)),
            st.sampled_from(GENDERS),
            st.lists(st.sampled_from(COUNTRIES), max_size=2),
            st.lists(st.sampled_from(EXPLOITATION), max_size=2),
            st.integers(2000, 2030),
        ),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.integers(11, 60), min_size=6, max_size=6),
)
def test_caseload_of_common_profiles_is_released_as_recorded(profiles, sizes):
    records = []
    for (age, gender, citizenship, types, year), size in zip(profiles, sizes, strict=False):
        record = SurvivorRecord(age, gender, citizenship, types, year)
        records.extend([record] * size)
    result = deidentify(records)
    assert result.suppressed_count == 0
    assert not result.generalised
    expected = Counter(
        tuple(HIERARCHIES[c].generalise(HIERARCHIES[c].canonical(r), 0) for c in CORE_COLUMNS)
        for r in records
    )
    assert _cells(result) == expected


def test_big_homogeneous_caseload_is_neither_generalised_nor_suppressed():
    record = SurvivorRecord("18-24", "Feminine", ["TH"], ["SexualExploitation"], 2024,
                            "ActualVictimOfTrafficking", ["ThroughOnlineSocialNetworks"])
    result = deidentify([record] * 1000, columns=ALL_COLUMNS)
    assert result.suppressed_count == 0 and not result.generalised
    assert set(result.generalisation_levels["prs_Citizenship"]) == {"TH"}
    assert result.rows[0] == {
        "cw_AgeBand": "18-24",
        "prs_Gender": "Feminine",
        "prs_Citizenship": "TH",
        "vic_TypeOfExploitation": "SexualExploitation",
        "cw_IntakeYear": "2024",
        "vic_TraffickingStatus": "ActualVictimOfTrafficking",
        "cw_RecruitedOnline": "Yes",
    }
    assert len(result.rows) == 1000


@SETTINGS
@given(caseloads(), st.integers(2, 40), st.sampled_from([0.0, 0.5, 1.0]))
def test_caseload_smaller_than_k_is_entirely_suppressed(records, k, max_suppression):
    records = records[: k - 1]
    result = deidentify(records, k=k, max_suppression=max_suppression)
    assert result.rows == ()
    assert result.suppressed_count == len(records)
    assert all(levels == {} for levels in result.generalisation_levels.values())


def test_rare_categories_are_generalised_and_common_ones_kept():
    common = SurvivorRecord("25-34", "Masculine", ["MM"], ["ForcedLabour"], 2023)
    rare = [
        SurvivorRecord("25-34", "Masculine", ["KH"], ["ForcedLabour"], 2023),
        SurvivorRecord("25-34", "Masculine", ["LA"], ["ForcedLabour"], 2023),
        SurvivorRecord("25-34", "Masculine", ["NG"], ["ForcedLabour"], 2023),
    ]
    records = [common] * 200 + rare * 6  # 6 of each rare citizenship: under k = 11
    result = deidentify(records, max_suppression=0)
    assert result.suppressed_count == 0
    citizenship = result.generalisation_levels["prs_Citizenship"]
    assert citizenship["MM"] == 0  # the common value stays as recorded
    assert not {"KH", "LA", "NG"} & set(citizenship)  # the rare ones are generalised,
    assert _cells(result)[("25-34", "Masculine", "MM", "ForcedLabour", "2023")] == 200
    assert len(_cells(result)) == 2  # together, under one label of at least k rows
    assert all(size >= 11 for size in _cells(result).values())


def test_suppression_budget_is_used_before_generalising():
    common = SurvivorRecord("25-34", "Feminine", ["UA"], ["SexualExploitation"], 2022)
    outlier = SurvivorRecord("50+", "TransgenderFeminine", ["BR"], ["OrganRemoval"], 2015)
    records = [common] * 100 + [outlier]
    kept = deidentify(records, max_suppression=0.05)
    assert kept.suppressed_count == 1 and not kept.generalised
    squeezed = deidentify(records, max_suppression=0)
    assert squeezed.suppressed_count == 0 and squeezed.generalised
    assert_sound(records, squeezed, 11, 0)


def test_identifying_fields_never_reach_the_export():
    records = [{**IDENTIFYING, "age_band": "18-24", "gender": "Feminine", "citizenship": ["VN"],
                "exploitation_types": ["ForcedLabour"], "intake_year": 2021,
                "trafficking_status": "PossibleVictimOfTrafficking",
                "recruitment_methods": ["AtWork"]}] * 30
    result = deidentify(records, columns=ALL_COLUMNS)
    assert len(result.rows) == 30
    out = io.StringIO()
    write_csv(result, out)
    text = out.getvalue()
    for key, value in IDENTIFYING.items():
        assert key not in result.rows[0]
        assert value not in text
        assert value.lstrip("=+") not in text
    assert "-03-" not in text  # a year, never a date
    assert set(result.rows[0]) == set(ALL_COLUMNS)


def test_the_export_only_has_the_documented_columns():
    identifying = {"first_name", "last_name", "known_as", "date_of_birth", "phone", "email",
                   "address", "narrative", "risk_notes", "closure_reason", "case_number"}
    assert not identifying & set(HIERARCHIES)
    assert set(HIERARCHIES) == set(ALL_COLUMNS)
    assert {f for f in SurvivorRecord.__dataclass_fields__} == {
        "age_band", "gender", "citizenship", "exploitation_types", "intake_year",
        "trafficking_status", "recruitment_methods"}


def test_csv_header_uses_htcds_names():
    with vocab.HTCDS_TABLE.open(newline="", encoding="utf-8") as handle:
        htcds_names = {row["Field Name including Prefix"].strip() for row in csv.DictReader(handle)}
    for column in ALL_COLUMNS:
        # an HTCDS field name, or a cw_ name where HTCDS has none
        assert (column in htcds_names) != column.startswith("cw_"), column
    assert {"prs_Gender", "prs_Citizenship", "vic_TypeOfExploitation",
            "vic_TraffickingStatus"} <= htcds_names

    record = SurvivorRecord("12-17", "Masculine", ["KH", "TH"], ["ForcedBegging"], 2020)
    result = deidentify([record] * 12)
    out = io.StringIO(newline="")
    write_csv(result, out)
    lines = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert lines[0] == list(CORE_COLUMNS)
    assert lines[1] == ["12-17", "Masculine", "KH;TH", "ForcedBegging", "2020"]
    assert len(lines) == 13


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("18-24", "18-24"),
        ("35+", "35+"),
        ("*", "*"),
        ("2020-2023", "2020-2023"),
        ("Sub-Saharan Africa", "Sub-Saharan Africa"),
    ],
)
def test_formula_cells_are_neutralised(cell, written):
    result = Result(rows=({column: cell for column in CORE_COLUMNS},), suppressed_count=0,
                    generalisation_levels={}, k=11)
    out = io.StringIO(newline="")
    write_csv(result, out)
    lines = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert lines[1] == [written] * len(CORE_COLUMNS)


@pytest.mark.parametrize("k", [1, 0, -3])
def test_k_below_two_is_refused(k):
    with pytest.raises(ValueError):
        deidentify([], k=k)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError):
        deidentify([], k=11.0)
    with pytest.raises(TypeError):
        deidentify([], k=True)
    for share in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError):
            deidentify([], max_suppression=share)
    with pytest.raises(ValueError):
        deidentify([], columns=("cw_AgeBand",))  # the core columns are always exported
    with pytest.raises(ValueError):
        deidentify([], columns=(*CORE_COLUMNS, "narrative"))
    with pytest.raises(ValueError):
        deidentify([], columns=(*CORE_COLUMNS, "cw_RecruitedOnline", "cw_RecruitedOnline"))
    assert deidentify([], k=2).rows == ()


@pytest.mark.parametrize(
    "record",
    [
        {"gender": "Jane Doe"},  # free text in a coded field
        {"citizenship": ["XX"]},
        {"citizenship": "TH"},  # a single string, not a list
        {"exploitation_types": ["Trafficked by her uncle"]},
        {"age_band": "23"},
        {"intake_year": "2024"},
        {"intake_year": True},
        {"trafficking_status": "Victim"},
        {"recruitment_methods": ["Met him at the bus station"]},
    ],
)
def test_values_outside_their_vocabulary_are_refused(record):
    with pytest.raises(ValueError) as caught:
        deidentify([record])
    assert "Jane" not in str(caught.value) and "uncle" not in str(caught.value)


def test_multi_valued_fields_are_canonical():
    a = SurvivorRecord("18-24", "Feminine", ["TH", "MM", "TH"], ["Servitude", "ForcedLabour"], 2024)
    b = SurvivorRecord("18-24", "Feminine", ("MM", "TH"), ("ForcedLabour", "Servitude"), 2024)
    result = deidentify([a] * 6 + [b] * 6)
    assert result.suppressed_count == 0 and not result.generalised
    assert {row["prs_Citizenship"] for row in result.rows} == {"MM;TH"}
    assert {row["vic_TypeOfExploitation"] for row in result.rows} == {"ForcedLabour;Servitude"}


def _domain(column: str):
    if column == "cw_AgeBand":
        return [SurvivorRecord(age_band=band) for band in (*AGE_BANDS, None)]
    if column == "prs_Gender":
        return [SurvivorRecord(gender=g) for g in (*GENDERS, None)]
    if column == "prs_Citizenship":
        singles = [[code] for code in COUNTRIES]
        return [SurvivorRecord(citizenship=c) for c in [[], *singles, ["MM", "TH"], ["NG", "GB"]]]
    if column == "vic_TypeOfExploitation":
        pairs = [[a, b] for a in EXPLOITATION for b in EXPLOITATION if a < b]
        singles = [[t] for t in EXPLOITATION]
        return [SurvivorRecord(exploitation_types=t) for t in [[], *singles, *pairs]]
    if column == "cw_IntakeYear":
        return [SurvivorRecord(intake_year=y) for y in (*range(1990, 2040), None)]
    if column == "vic_TraffickingStatus":
        return [SurvivorRecord(trafficking_status=s) for s in (*STATUSES, None)]
    return [SurvivorRecord(recruitment_methods=m) for m in ([], ["AtWork"], [*METHODS[3:5]])]


@pytest.mark.parametrize("column", ALL_COLUMNS)
def test_each_hierarchy_is_a_tree_topped_by_a_star(column):
    hierarchy = HIERARCHIES[column]
    parent: list[dict[str, str]] = [{} for _ in range(hierarchy.height)]
    for record in _domain(column):
        value = hierarchy.canonical(record)
        labels = [hierarchy.generalise(value, level) for level in range(hierarchy.height + 1)]
        assert labels[-1] == "*" and "*" not in labels[:-1]
        for level in range(hierarchy.height):
            # each level is a function of the level below: generalising never splits
            assert parent[level].setdefault(labels[level], labels[level + 1]) == labels[level + 1]


def test_hierarchy_labels():
    age = HIERARCHIES["cw_AgeBand"]
    assert [age.generalise("12-17", level) for level in range(3)] == ["12-17", "0-17", "*"]
    citizenship = HIERARCHIES["prs_Citizenship"]
    assert [citizenship.generalise(("NG",), level) for level in range(6)] == [
        "NG", "NG", "Western Africa", "Sub-Saharan Africa", "Africa", "*"]
    assert [citizenship.generalise(("MM", "TH"), level) for level in range(6)] == [
        "MM;TH", "Multiple", "Multiple", "Multiple", "Multiple", "*"]
    exploitation = HIERARCHIES["vic_TypeOfExploitation"]
    assert [exploitation.generalise(("ForcedLabour", "ForcedBegging"), level)
            for level in range(4)] == ["ForcedLabour;ForcedBegging", "Labour exploitation",
                                       "Labour exploitation", "*"]
    assert exploitation.generalise(("SexualExploitation", "ChildLabour"), 1) == (
        "Sexual exploitation;Labour exploitation")
    assert exploitation.generalise(("SexualExploitation", "ChildLabour"), 2) == "Multiple"
    assert exploitation.generalise(("Surrogacy",), 2) == "Other exploitation"
    year = HIERARCHIES["cw_IntakeYear"]
    assert [year.generalise(2023, level) for level in range(4)] == [
        "2023", "2022-2023", "2020-2023", "*"]
    assert regions.intermediate_region_of("TH") == citizenship.generalise(("TH",), 2)


def _profiles() -> list[SurvivorRecord]:
    statuses = (*STATUSES, None)
    return [SurvivorRecord("18-24", "Feminine", ["TH"], ["ForcedLabour"], 2020 + i % 3,
                           statuses[i % 4], [METHODS[i % 5]]) for i in range(12)] * 15


@pytest.mark.parametrize(("seed", "budget"), [(5, 0), (6, 40), (7, 400), (None, 0)])
def test_specialiser_bookkeeping_matches_a_recount_after_every_move(seed, budget):
    """Sizes, label counts and the suppressed count are recounted from scratch after each
    move, and the information gain the search predicted is the gain measured."""
    if seed is None:
        records = _profiles()  # every profile common: specialised down to level 0
    else:
        records = _caseload(800, seed=seed, exponent=1.0, multi=15)
    hierarchies = [HIERARCHIES[column] for column in ALL_COLUMNS]
    canonical = [tuple(h.canonical(r) for h in hierarchies) for r in records]
    specialiser = d._Specialiser(hierarchies, canonical, 11, budget)
    k, n = 11, len(canonical)

    def bits(state) -> float:
        counts = [Counter() for _ in hierarchies]
        for key, size in state.size.items():
            for column, node in enumerate(key):
                counts[column][node] += size
        return sum(size * sum(math.log2(n / counts[c][node]) for c, node in enumerate(key))
                   for key, size in state.size.items() if size >= k)

    def recount(state) -> None:
        assert sum(state.size.values()) == n
        assert state.suppressed == sum(s for s in state.size.values() if s < k)
        assert state.suppressed <= budget
        for key, members in state.classes.items():
            assert state.size[key] == sum(state.weights[row] for row in members)
        for column in range(len(hierarchies)):
            counts = Counter()
            for key, size in state.size.items():
                counts[key[column]] += size
            assert counts == Counter(state.count[column])
            assert set(state.index[column]) == set(counts)

    move = specialiser._move
    moves, relabels = [], []

    def checked_move(column, node, target):
        # A move of every row left under a label (same rows, finer label) gains nothing.
        predicted = specialiser.cache.get((column, node), {}).get(target, (0.0,))[0]
        if (column, node) not in specialiser.cache:
            relabels.append(target)
        before = bits(specialiser)
        move(column, node, target)
        recount(specialiser)
        assert bits(specialiser) - before == pytest.approx(predicted, abs=1e-6)
        moves.append(target)

    specialiser._move = checked_move
    recount(specialiser)
    specialiser.run()
    assert moves  # the search did specialise
    assert any(target[0] == 0 for target in moves)  # down to recorded values somewhere
    if seed is None:
        assert relabels and specialiser.suppressed == 0
        assert all(node[0] == 0 for key in specialiser.classes for node in key)
