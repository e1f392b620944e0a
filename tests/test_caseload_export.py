"""The caseload's CSV export: exactly the fields the user may read, formulas neutralised."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.extensions import db

from .conftest import login_web

IDENTIFYING = ("first_name", "last_name", "known_as", "date_of_birth", "phone", "email",
               "address")


def _rows(response):
    assert response.status_code == 200, response.text[:300]
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.fixture
def team(make):
    cw = make.user("caseworker", team="North")
    other_cw = make.user("caseworker", team="North")
    south_cw = make.user("caseworker", team="South")
    sup = make.user("supervisor", team="North")
    mine = make.survivor(cw, first_name="Mira", known_as="=HYPERLINK(\"http://x\",\"y\")",
                         narrative="+SUM(A1:A9)", risk_level="high")
    colleague = make.survivor(other_cw, first_name="Noor", narrative="-2+3",
                              status="FollowUp")
    elsewhere = make.survivor(south_cw, first_name="Sabine")
    return {"cw": cw, "other_cw": other_cw, "sup": sup, "mine": mine,
            "colleague": colleague, "elsewhere": elsewhere}


def test_caseworker_exports_their_own_caseload_with_every_readable_field(app, team):
    rows = _rows(login_web(app, team["cw"]).get("/survivors/export.csv"))
    assert [row["id"] for row in rows] == [str(team["mine"])]
    row = rows[0]
    assert row["first_name"] == "Mira" and row["risk_level"] == "high"
    assert row["case_number"].startswith("CW-")
    assert row["intake_date"] == "2026-01-15"


def test_a_cell_that_a_spreadsheet_would_run_is_neutralised(app, team):
    text = login_web(app, team["cw"]).get("/survivors/export.csv").text
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["known_as"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert row["narrative"] == "'+SUM(A1:A9)"
    for line in text.splitlines()[1:]:
        for cell in next(csv.reader([line])):
            assert not cell.startswith(("=", "+", "-", "@")), cell


def test_supervisor_export_has_no_identifying_field(app, team):
    rows = _rows(login_web(app, team["sup"]).get("/survivors/export.csv"))
    assert {row["id"] for row in rows} == {str(team["mine"]), str(team["colleague"])}
    header = rows[0].keys()
    for name in IDENTIFYING:
        assert name not in header
    assert "Mira" not in str(rows) and "Noor" not in str(rows)
    assert "risk_level" in header and "narrative" in header  # sensitive: team supervisors read
    colleague = next(row for row in rows if row["id"] == str(team["colleague"]))
    assert colleague["narrative"] == "'-2+3"


def test_break_glass_opens_identifying_columns_for_that_survivor_only(app, team):
    client = login_web(app, team["sup"])
    response = client.post_form(f"/survivors/{team['mine']}/break-glass",
                                {"reason": "Safety check requested by the shelter"},
                                page=f"/survivors/{team['mine']}")
    assert response.status_code in (200, 302)
    rows = {row["id"]: row for row in _rows(client.get("/survivors/export.csv"))}
    assert rows[str(team["mine"])]["first_name"] == "Mira"
    assert rows[str(team["colleague"])]["first_name"] == ""


def test_filters_apply_and_a_case_elsewhere_never_appears(app, team):
    client = login_web(app, team["sup"])
    rows = _rows(client.get("/survivors/export.csv?status=FollowUp"))
    assert [row["id"] for row in rows] == [str(team["colleague"])]
    everything = client.get("/survivors/export.csv").text
    assert str(team["elsewhere"]) not in everything and "Sabine" not in everything


def test_each_exported_survivor_is_audited_with_the_fields_that_went_out(app, team):
    login_web(app, team["sup"]).get("/survivors/export.csv")
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "survivor.exported")))
    assert {e.subject_id for e in events} == {team["mine"], team["colleague"]}
    for event in events:
        assert event.actor_id == team["sup"].id
        assert "first_name" not in event.fields and "narrative" in event.fields


@pytest.mark.parametrize("role", ["donor", "admin"])
def test_roles_without_a_caseload_cannot_export(app, make, team, role):
    response = login_web(app, make.user(role)).get("/survivors/export.csv")
    assert response.status_code in (403, 404)
    assert "Mira" not in response.text


def test_the_caseload_page_links_to_the_export_with_its_filters(app, team):
    html = login_web(app, team["cw"]).get("/survivors/?status=Active").text
    assert "/survivors/export.csv?status=Active" in html
