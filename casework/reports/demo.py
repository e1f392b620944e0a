"""Demo impact reports: the demo supervisor publishes the last six whole months of each
programme the demo donor funds, so that the donor's pages have something to show."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from ..extensions import db
from ..programmes.models import Programme
from . import service


def seed_demo(rng, open_cases, users) -> None:
    supervisor, donor = users.get("sup.rosa"), users.get("donor")
    if supervisor is None or donor is None:
        return
    this_month = date.today().replace(day=1)
    end = this_month - timedelta(days=1)
    start = (end.replace(day=1) - timedelta(days=150)).replace(day=1)
    funded = db.session.scalars(select(Programme).where(Programme.donors.contains(donor))
                                .order_by(Programme.name))
    for programme in funded:
        try:
            report = service.create_draft(supervisor, programme.id, start, end)
            service.publish(supervisor, report)
        except service.NotPublishable:  # a demo caseload too small to protect: leave it out
            continue
