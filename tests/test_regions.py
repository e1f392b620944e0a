"""UN M49 regions of ISO 3166 countries (casework/regions.py, casework/data/m49)."""

from __future__ import annotations

import csv

import pycountry
import pytest

from casework import regions

M49_REGIONS = {"Africa", "Americas", "Asia", "Europe", "Oceania"}
M49_SUB_REGIONS = {
    "Northern Africa", "Sub-Saharan Africa",
    "Latin America and the Caribbean", "Northern America",
    "Central Asia", "Eastern Asia", "South-eastern Asia", "Southern Asia", "Western Asia",
    "Eastern Europe", "Northern Europe", "Southern Europe", "Western Europe",
    "Australia and New Zealand", "Melanesia", "Micronesia", "Polynesia",
}
M49_INTERMEDIATE = {
    "Eastern Africa", "Middle Africa", "Southern Africa", "Western Africa",
    "Caribbean", "Central America", "South America", "Channel Islands",
}


def test_every_pycountry_country_has_exactly_one_row():
    with regions.REGIONS_CSV.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["alpha2", "region", "sub_region", "intermediate_region"]
        codes = [row["alpha2"] for row in reader]
    assert len(codes) == len(set(codes))
    assert set(codes) == {country.alpha_2 for country in pycountry.countries}


def test_values_are_m49_names_and_nest():
    sub_regions_of_region: dict[str, set[str]] = {}
    for code, row in regions.table().items():
        if code == "AQ":  # M49 gives Antarctica no region
            assert row == ("", "", "")
            continue
        assert row.region in M49_REGIONS, code
        assert row.sub_region in M49_SUB_REGIONS, code
        assert row.intermediate_region in M49_INTERMEDIATE | {""}, code
        sub_regions_of_region.setdefault(row.sub_region, set()).add(row.region)
    # A tree: every sub-region lies in one region, and all seventeen are used.
    assert all(len(parents) == 1 for parents in sub_regions_of_region.values())
    assert set(sub_regions_of_region) == M49_SUB_REGIONS


@pytest.mark.parametrize(
    ("alpha2", "sub_region", "region", "intermediate"),
    [
        ("TH", "South-eastern Asia", "Asia", "South-eastern Asia"),
        ("UA", "Eastern Europe", "Europe", "Eastern Europe"),
        # M49: Nigeria is in Western Africa, an intermediate region of Sub-Saharan Africa.
        ("NG", "Sub-Saharan Africa", "Africa", "Western Africa"),
        # M49: Mexico is in Central America, under Latin America and the Caribbean.
        ("MX", "Latin America and the Caribbean", "Americas", "Central America"),
        ("AU", "Australia and New Zealand", "Oceania", "Australia and New Zealand"),
        ("US", "Northern America", "Americas", "Northern America"),
        ("JE", "Northern Europe", "Europe", "Channel Islands"),
    ],
)
def test_spot_checks(alpha2, sub_region, region, intermediate):
    assert regions.sub_region_of(alpha2) == sub_region
    assert regions.region_of(alpha2) == region
    assert regions.intermediate_region_of(alpha2) == intermediate


@pytest.mark.parametrize("code", [None, "", "XX", "ZZZ", "AQ"])
def test_unknown_codes_answer_unknown(code):
    assert regions.region_of(code) == "Unknown"
    assert regions.sub_region_of(code) == "Unknown"
    assert regions.intermediate_region_of(code) == "Unknown"


def test_lookup_tolerates_case_and_spaces():
    assert regions.region_of(" th ") == "Asia"
