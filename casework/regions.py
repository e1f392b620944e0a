"""UN M49 regions of countries: ISO 3166-1 alpha-2 → region, sub-region, intermediate region.

M49 ("Standard country or area codes for statistical use", UN Statistics Division) groups
countries into five regions (Africa, Americas, Asia, Europe, Oceania), seventeen sub-regions
(e.g. "South-eastern Asia", "Sub-Saharan Africa", "Latin America and the Caribbean") and, inside
three of them, intermediate regions (e.g. "Western Africa", "Central America", "Caribbean").
The mapping ships as ``casework/data/m49/regions.csv`` (see the README there). Unknown or
missing codes answer ``UNKNOWN``.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import NamedTuple

REGIONS_CSV = Path(__file__).parent / "data" / "m49" / "regions.csv"
UNKNOWN = "Unknown"


class M49(NamedTuple):
    region: str
    sub_region: str
    intermediate_region: str  # "" where M49 has none


@cache
def table() -> dict[str, M49]:
    """Every row of ``regions.csv``, by alpha-2 code."""
    with REGIONS_CSV.open(newline="", encoding="utf-8") as handle:
        return {
            row["alpha2"]: M49(row["region"], row["sub_region"], row["intermediate_region"])
            for row in csv.DictReader(handle)
        }


def _row(alpha2: str | None) -> M49 | None:
    if not alpha2:
        return None
    return table().get(alpha2.strip().upper())


def region_of(alpha2: str | None) -> str:
    """The M49 region ("Asia"), or "Unknown"."""
    row = _row(alpha2)
    return (row.region if row else "") or UNKNOWN


def sub_region_of(alpha2: str | None) -> str:
    """The M49 sub-region ("South-eastern Asia", "Sub-Saharan Africa"), or "Unknown"."""
    row = _row(alpha2)
    return (row.sub_region if row else "") or UNKNOWN


def intermediate_region_of(alpha2: str | None) -> str:
    """The finest M49 grouping: the intermediate region ("Western Africa", "Central America")
    where M49 has one, else the sub-region; "Unknown" for unknown codes."""
    row = _row(alpha2)
    if row is None:
        return UNKNOWN
    return row.intermediate_region or row.sub_region or UNKNOWN
