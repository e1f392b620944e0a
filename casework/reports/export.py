"""The HTCDS de-identified export of a supervisor's team, for data collaboratives.

One row per survivor who can be released, k-anonymous on every column (see deidentify.py);
survivors who refused anonymised statistics are left out before anything is computed.
Only the non-identifying columns the export carries are read from the database.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from sqlalchemy import not_, select

from .. import access, audit
from ..extensions import db
from ..survivors.models import Survivor
from . import deidentify
from .builder import opted_out
from .service import threshold


@dataclass
class Export:
    csv: str
    rows: int
    suppressed: int
    k: int


def htcds_export(user) -> Export:
    """The team's de-identified export as CSV; audited with its row counts."""
    access.require(user, "reports.htcds_export")
    rows = db.session.execute(
        select(Survivor.age_band, Survivor.gender, Survivor.citizenship,
               Survivor.exploitation_types, Survivor.intake_date)
        .where(access.scope_clause(user), not_(opted_out()))
    ).all()
    records = [
        deidentify.SurvivorRecord(
            age_band=age_band, gender=gender, citizenship=tuple(citizenship or ()),
            exploitation_types=tuple(exploitation or ()),
            intake_year=intake.year if intake else None)
        for age_band, gender, citizenship, exploitation, intake in rows
    ]
    k = threshold()
    result = deidentify.deidentify(records, k=k)
    out = io.StringIO()
    deidentify.write_csv(result, out)
    audit.record(user, "export.htcds", fields=list(result.columns),
                 reason=f"{len(result.rows)} rows, {result.suppressed_count} suppressed, k={k}")
    return Export(out.getvalue(), len(result.rows), result.suppressed_count, k)
