"""The survivor record through its pages and the API: register, view, edit, close, caseload."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from casework.extensions import db
from casework.survivors.models import Survivor
from tests.conftest import login_api, login_web

CASE_NUMBER = re.compile(r"^CW-\d{4}-\d{6}$")


def _survivor(app, survivor_id) -> Survivor:
    with app.app_context():
        survivor = db.session.get(Survivor, survivor_id)
        db.session.expunge(survivor)
        return survivor


def test_register_through_the_page(app, make):
    cw = make.user("caseworker")
    web = login_web(app, cw)
    form = web.get("/survivors/new?step=form")
    assert form.status_code == 200
    assert 'name="narrative"' in form.text and 'name="case_number"' not in form.text
    response = web.post_form("/survivors/new", {
        "status": "Active",
        "lead_caseworker_id": str(cw.id),
        "intake_date": "2026-03-01",
        "first_name": "Mai",
        "last_name": "Example",
        "date_of_birth": "2008-02-01",
        "gender": "Feminine",
        "citizenship": ["VN", "KH"],
        "exploitation_types": ["ForcedLabour", "SexualExploitation"],
        "risk_level": "high",
        "narrative": "Synthetic.",
    })
    assert response.status_code == 302
    page = web.get(response.headers["Location"])
    assert "Mai" in page.text and "Forced labour" in page.text
    with app.app_context():
        survivor = db.session.scalar(select(Survivor))
        assert CASE_NUMBER.match(survivor.case_number)
        assert survivor.case_number.startswith("CW-2026-")
        assert survivor.age_band == "18-24"  # 18 on the day of intake
        assert survivor.lead_caseworker_id == cw.id
        assert survivor.citizenship == ["VN", "KH"]


def test_case_numbers_count_up_per_year(app, make):
    cw = make.user("caseworker")
    first = _survivor(app, make.survivor(cw, intake_date=date(2025, 12, 31)))
    second = _survivor(app, make.survivor(cw, intake_date=date(2026, 1, 2)))
    third = _survivor(app, make.survivor(cw, intake_date=date(2026, 1, 3)))
    assert first.case_number == "CW-2025-000001"
    assert second.case_number == "CW-2026-000001"
    assert third.case_number == "CW-2026-000002"


def test_edit_shows_errors_next_to_fields_and_keeps_the_record(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, first_name="Kept")
    web = login_web(app, cw)
    response = web.post_form(f"/survivors/{sid}/edit", {
        "status": "Active", "lead_caseworker_id": str(cw.id), "intake_date": "2026-01-15",
        "first_name": "Changed", "date_of_birth": "2999-01-01", "email": "not-an-email",
    })
    assert response.status_code == 422
    assert 'id="date_of_birth-error"' in response.text
    assert "in the future" in response.text
    assert _survivor(app, sid).first_name == "Kept"


def test_close_needs_a_reason_and_is_audited(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    web = login_web(app, cw)
    missing = web.post_form(f"/survivors/{sid}/close", {"status": "Closed", "reason": ""})
    assert missing.status_code == 422
    assert _survivor(app, sid).status == "Active"
    done = web.post_form(f"/survivors/{sid}/close",
                         {"status": "ClosedReferred", "reason": "Moved to partner care."})
    assert done.status_code == 302
    survivor = _survivor(app, sid)
    assert survivor.status == "ClosedReferred"
    assert survivor.closure_reason == "Moved to partner care."
    assert survivor.closed_at is not None
    page = web.get(f"/survivors/{sid}")
    assert 'data-action="survivor.closed"' in page.text  # in the access log


def test_closing_through_patch_is_refused(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    response = api.patch(f"/api/v1/survivors/{sid}", json={"status": "Closed"})
    assert response.status_code == 422
    assert "status" in response.json["errors"]
    closed = api.post(f"/api/v1/survivors/{sid}/close", json={"reason": "Support completed."})
    assert closed.status_code == 200 and closed.json["status"] == "Closed"
    again = api.post(f"/api/v1/survivors/{sid}/close", json={"reason": "Twice."})
    assert again.status_code == 409


def test_caseload_filters_and_search(app, make):
    cw = make.user("caseworker")
    high = _survivor(app, make.survivor(cw, risk_level="high", known_as="Highrisk"))
    make.survivor(cw, risk_level="low", known_as="Lowrisk")
    web = login_web(app, cw)
    page = web.get("/survivors/?risk_level=high")
    assert "Highrisk" in page.text and "Lowrisk" not in page.text
    page = web.get(f"/survivors/?q={high.case_number[-6:]}")
    assert "Highrisk" in page.text and "Lowrisk" not in page.text
    page = web.get("/survivors/?status=Closed")
    assert "No survivor matches" in page.text


def test_api_create_list_and_paginate(app, make):
    cw = make.user("caseworker")
    api = login_api(app, cw)
    created = api.post("/api/v1/survivors", json={
        "intake_date": "2026-02-01", "first_name": "Ana", "gender": "Feminine",
        "exploitation_types": ["ForcedLabour"], "citizenship": ["RO"],
    })
    assert created.status_code == 201, created.json
    body = created.json
    assert CASE_NUMBER.match(body["case_number"])
    assert body["lead_caseworker_id"] == str(cw.id)
    assert body["created_at"].endswith("Z")
    for _ in range(4):
        make.survivor(cw)
    first = api.get("/api/v1/survivors?limit=2")
    assert first.status_code == 200
    assert len(first.json["items"]) == 2 and first.json["next_cursor"]
    seen = [item["id"] for item in first.json["items"]]
    cursor = first.json["next_cursor"]
    while cursor:
        page = api.get(f"/api/v1/survivors?limit=2&cursor={cursor}").json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5


def test_counsellor_cannot_filter_on_risk(app, make):
    cw = make.user("caseworker")
    counsellor = make.user("counsellor")
    make.survivor(cw, collaborator_ids=[counsellor.id])
    api = login_api(app, counsellor)
    response = api.get("/api/v1/survivors?risk_level=high")
    assert response.status_code == 403
    assert response.json["fields"] == ["risk_level"]
    assert len(api.get("/api/v1/survivors").json["items"]) == 1


def test_supervisor_reassigns_within_team_only(app, make):
    cw = make.user("caseworker", team="North")
    other = make.user("caseworker", team="North")
    outsider = make.user("caseworker", team="South")
    supervisor = make.user("supervisor", team="North")
    sid = make.survivor(cw)
    api = login_api(app, supervisor)
    refused = api.patch(f"/api/v1/survivors/{sid}", json={"lead_caseworker_id": str(outsider.id)})
    assert refused.status_code == 422
    moved = api.patch(f"/api/v1/survivors/{sid}", json={"lead_caseworker_id": str(other.id)})
    assert moved.status_code == 200
    assert _survivor(app, sid).lead_caseworker_id == other.id
    # The previous lead no longer has the case.
    assert login_api(app, cw).get(f"/api/v1/survivors/{sid}").status_code == 404


def test_break_glass_opens_identifying_fields_for_the_supervisor(app, make):
    cw = make.user("caseworker")
    supervisor = make.user("supervisor")
    sid = make.survivor(cw, first_name="Hidden")
    api = login_api(app, supervisor)
    assert "first_name" not in api.get(f"/api/v1/survivors/{sid}").json
    assert api.post(f"/api/v1/survivors/{sid}/break-glass", json={}).status_code == 400
    opened = api.post(f"/api/v1/survivors/{sid}/break-glass",
                      json={"reason": "Police request for safety check"})
    assert opened.status_code == 200 and opened.json["expires_at"].endswith("Z")
    assert api.get(f"/api/v1/survivors/{sid}").json["first_name"] == "Hidden"
    log = login_api(app, cw).get(f"/api/v1/survivors/{sid}/access-log").json
    glass = [e for e in log if e["action"] == "survivor.break_glass"]
    assert glass and glass[0]["reason"] == "Police request for safety check"


def test_openapi_document_is_generated_and_valid(app):
    from openapi_spec_validator import validate

    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    validate(document)
    survivor = document["components"]["schemas"]["Survivor"]["properties"]
    from casework.access.fields import field_specs

    assert set(survivor) == set(field_specs(Survivor))
    assert "bearerAuth" in document["components"]["securitySchemes"]
    assert "/api/v1/survivors/{survivor_id}" in document["paths"]


def test_seed_demo_prints_logins_and_is_repeatable(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--survivors", "12"])
    assert result.exit_code == 0, result.output
    assert "cw.amara" in result.output and "sup.rosa" in result.output
    with app.app_context():
        assert db.session.query(Survivor).count() == 12
    again = runner.invoke(args=["seed-demo", "--survivors", "12"])
    assert "already present" in again.output
    with app.app_context():
        assert db.session.query(Survivor).count() == 12
