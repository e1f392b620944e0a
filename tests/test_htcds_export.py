"""The HTCDS de-identified export through the API: supervisors only, audited, k-anonymous,
no identifying value, refusals of anonymised statistics left out."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from datetime import date

from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.extensions import db
from tests.conftest import login_api
from tests.report_data import seed_caseload

URL = "/api/v1/exports/htcds.csv"


def _seed(app, lead, survivors=600, opt_out=0.1):
    with app.app_context(), db.engine.begin() as conn:
        return seed_caseload(conn, rng=random.Random(3), survivors=survivors,
                             records_per_survivor=0, first_day=date(2024, 1, 1),
                             last_day=date(2025, 12, 31), lead_id=lead.id,
                             opt_out_share=opt_out)


def test_export_is_k_anonymous_and_carries_no_identifying_value(app, make):
    sup = make.user("supervisor", team="North")
    lead = make.user("caseworker", team="North")
    canary = make.survivor(lead, first_name="Canaryxq", last_name="Wobblethorpe",
                           phone="+15550199", narrative="Canary narrative text")
    caseload = _seed(app, lead)
    response = login_api(app, sup).get(URL)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    for value in ("Canaryxq", "Wobblethorpe", "5550199", "Canary narrative", "CW-",
                  str(canary)):
        assert value not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and set(rows[0]) == {"cw_AgeBand", "prs_Gender", "prs_Citizenship",
                                     "vic_TypeOfExploitation", "cw_IntakeYear"}
    k = int(response.headers["X-Casework-K"])
    classes = Counter(tuple(sorted(r.items())) for r in rows)
    assert min(classes.values()) >= k
    suppressed = int(response.headers["X-Casework-Suppressed-Rows"])
    # Everyone in the team but those who refused anonymised statistics, released or counted.
    assert len(rows) + suppressed == len(caseload.survivor_ids) - len(caseload.opted_out) + 1
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "export.htcds")).all()
        assert event.actor_id == sup.id and str(len(rows)) in event.reason


def test_only_supervisors_export_and_only_their_team(app, make):
    lead = make.user("caseworker", team="North")
    _seed(app, lead, survivors=200)
    for role in ("caseworker", "counsellor", "admin", "donor"):
        response = login_api(app, make.user(role, team="North")).get(URL)
        assert response.status_code in (403, 404), role
    other = make.user("supervisor", team="South")
    response = login_api(app, other).get(URL)
    assert response.status_code == 200
    assert list(csv.DictReader(io.StringIO(response.get_data(as_text=True)))) == []


def test_supervisors_download_it_from_the_reports_page(app, make):
    from tests.conftest import login_web

    sup = make.user("supervisor", team="North")
    lead = make.user("caseworker", team="North")
    _seed(app, lead, survivors=300)
    web = login_web(app, sup)
    page = web.get("/reports").text
    assert "/reports/htcds-export.csv" in page
    response = web.get("/reports/htcds-export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.get_data(as_text=True).startswith("cw_AgeBand")
    caseworker = login_web(app, lead)
    assert caseworker.get("/reports/htcds-export.csv").status_code in (403, 404)
