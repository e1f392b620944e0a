"""Legal aid: legal matters, their partner, hearings and outcome, through the pages and the API.

Kind, status, partner, dates and outcome are operational; notes are sensitive (counsellors do
not read them, supervisors read but do not write them). ``next_hearing_on`` is derived.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from babel.dates import format_date
from markupsafe import escape
from sqlalchemy import delete, event, func, select, text

from casework import access
from casework.access.fields import field_specs
from casework.access.policy import READ, WRITE, permissions
from casework.audit.models import AuditEvent
from casework.auth.models import User
from casework.encryption import decrypt_row
from casework.extensions import db, limiter
from casework.legal import service as legal
from casework.legal.models import LegalHearing, LegalMatter
from casework.referrals.models import Partner
from casework.survivors.models import Survivor
from tests.conftest import Factory, _empty_all_tables, login_api, login_web

TODAY = date.today()
TOMORROW = (TODAY + timedelta(days=1)).isoformat()
NEXT_MONTH = TODAY + timedelta(days=30)
KB10 = "x" * (10 * 1024)
CONTROL_STRINGS = ["a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f", "lone \ud800 surrogate"]
WRONG_TYPES = [5, -1.5, True, {"value": "x"}, ["x"], []]
BAD_DATES = [5, True, {"y": 2026}, ["2026-02-01"], "2026-02-30", "01/02/2026", "2026-1-1",
             "2026-02-01T10:00:00", "1899-12-31", "0001-01-01", "2026-02-01\x00", "\ud800",
             KB10]
MATTER_NOTES = "MATTER-NOTES-MARKER-31 synthetic: the partner needs pay slips."
HEARING_NOTES = "HEARING-NOTES-MARKER-62 synthetic: survivor gave evidence behind a screen."
TABLES = ["legal_matters", "legal_hearings", "partners", "survivors"]


def db_state(app) -> dict:
    with app.app_context():
        state = {table: sorted(repr(tuple(row)) for row in
                               db.session.execute(text(f'SELECT * FROM "{table}"')).all())
                 for table in TABLES}
        db.session.rollback()
    return state


def problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:400])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json()
    assert body["status"] == status and body["detail"]
    if field is not None and status in (400, 422):
        assert field in body.get("errors", {}), body
    if field is not None and status == 403:
        assert field in body.get("fields", []), body
    return body


_CONTROL_NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"', re.I)


def control_names(html: str) -> set[str]:
    return set(_CONTROL_NAME.findall(html))


def add_partner(app, name: str, services: list[str]) -> uuid.UUID:
    with app.app_context():
        partner = Partner(name=name, services=services, languages=["en"],
                          accepting_referrals=True)
        db.session.add(partner)
        db.session.commit()
        return partner.id


@pytest.fixture
def case(app, make):
    ns = SimpleNamespace(
        cw=make.user("caseworker", team="North"),
        counsellor=make.user("counsellor", team="North"),
        supervisor=make.user("supervisor", team="North"),
        outsider=make.user("caseworker", team="South"),
    )
    ns.sid = make.survivor(ns.cw, collaborator_ids=[ns.counsellor.id])
    ns.partner = add_partner(app, "Lantern Test Clinic", ["legal_aid", "other"])
    ns.shelter = add_partner(app, "Shelter Only Test House", ["shelter"])
    return ns


def open_matter(api, sid, **fields):
    return api.post(f"/api/v1/survivors/{sid}/legal-matters",
                    json={"kind": "immigration", "opened_on": "2026-02-01", **fields})


def add_hearing(api, mid, /, **fields):
    return api.post(f"/api/v1/legal-matters/{mid}/hearings",
                    json={"scheduled_on": "2026-03-01", "kind": "hearing", **fields})


# --- workflows ---------------------------------------------------------------------------------------


def test_api_workflow_matter_hearings_outcome(app, case):
    api = login_api(app, case.cw)
    response = open_matter(api, case.sid, partner_id=str(case.partner), notes=MATTER_NOTES)
    assert response.status_code == 201, response.json
    matter = response.json
    assert (matter["kind"], matter["status"], matter["outcome"]) == ("immigration", "open",
                                                                      "pending")
    assert matter["partner_id"] == str(case.partner) and matter["next_hearing_on"] is None
    assert matter["created_at"].endswith("Z")
    mid = matter["id"]

    past = add_hearing(api, mid, scheduled_on="2026-03-01", kind="interview",
                       notes=HEARING_NOTES)
    assert past.status_code == 201 and past.json["notes"] == HEARING_NOTES
    later = (TODAY + timedelta(days=60)).isoformat()
    sooner = NEXT_MONTH.isoformat()
    for day in (later, sooner):
        assert add_hearing(api, mid, scheduled_on=day, kind="hearing").status_code == 201
    body = api.get(f"/api/v1/legal-matters/{mid}").json
    assert body["next_hearing_on"] == sooner  # the earliest from today on
    hearings = api.get(f"/api/v1/legal-matters/{mid}/hearings").json["items"]
    assert [h["scheduled_on"] for h in hearings] == ["2026-03-01", sooner, later]

    response = api.patch(f"/api/v1/legal-matters/{mid}", json={"status": "awaiting_hearing"})
    assert response.status_code == 200 and response.json["status"] == "awaiting_hearing"
    response = api.patch(f"/api/v1/legal-matters/{mid}",
                         json={"status": "decided", "outcome": "granted"})
    assert response.status_code == 200 and response.json["outcome"] == "granted"
    # An appeal: back to a hearing, outcome pending again.
    response = api.patch(f"/api/v1/legal-matters/{mid}",
                         json={"status": "awaiting_hearing", "outcome": "pending"})
    assert response.status_code == 200
    response = api.patch(f"/api/v1/legal-matters/{mid}",
                         json={"status": "closed", "outcome": "withdrawn"})
    assert response.status_code == 200 and response.json["status"] == "closed"

    items = api.get(f"/api/v1/survivors/{case.sid}/legal-matters").json
    assert [i["id"] for i in items["items"]] == [mid] and items["next_cursor"] is None

    # Counsellors read the operational fields, never the notes; supervisors read the notes.
    seen = login_api(app, case.counsellor).get(f"/api/v1/legal-matters/{mid}")
    assert seen.status_code == 200 and "notes" not in seen.json and "MARKER" not in seen.text
    assert seen.json["outcome"] == "withdrawn"
    hearings = login_api(app, case.counsellor).get(f"/api/v1/legal-matters/{mid}/hearings")
    assert all("notes" not in h for h in hearings.json["items"])
    assert "MARKER" not in hearings.text
    assert login_api(app, case.supervisor).get(
        f"/api/v1/legal-matters/{mid}").json["notes"] == MATTER_NOTES
    assert login_api(app, case.outsider).get(f"/api/v1/legal-matters/{mid}").status_code == 404


def test_page_workflow(app, case):
    web = login_web(app, case.cw)
    page = web.get(f"/survivors/{case.sid}/legal")
    assert page.status_code == 200 and "Open a legal matter" in page.text
    url = f"/survivors/{case.sid}/legal/new"
    form = web.get(url)
    assert control_names(form.text) == {"csrf_token", "kind", "status", "partner_id",
                                        "opened_on", "outcome", "notes"}
    assert "Lantern Test Clinic" in form.text and "Shelter Only Test House" not in form.text
    response = web.post_form(url, {"kind": "labour_claim", "status": "open",
                                   "partner_id": str(case.partner), "opened_on": "2026-02-01",
                                   "outcome": "pending", "notes": MATTER_NOTES})
    assert response.status_code == 302, response.text[:3000]
    with app.app_context():
        mid = db.session.scalar(select(LegalMatter.id))
    hearing_url = f"/legal/matters/{mid}/hearings/new"
    form = web.get(hearing_url)
    assert control_names(form.text) == {"csrf_token", "scheduled_on", "kind", "notes"}
    response = web.post_form(hearing_url, {"scheduled_on": NEXT_MONTH.isoformat(),
                                           "kind": "mediation", "notes": HEARING_NOTES})
    assert response.status_code == 302, response.text[:3000]
    page = web.get(f"/survivors/{case.sid}/legal").text
    assert "Labour claim" in page and "Lantern Test Clinic" in page and "Mediation" in page
    assert format_date(NEXT_MONTH, "medium", locale="en") in page and "Upcoming" in page
    assert str(escape(MATTER_NOTES)) in page and str(escape(HEARING_NOTES)) in page

    edit_url = f"/legal/matters/{mid}/edit"
    form = web.get(edit_url)
    assert control_names(form.text) == {"csrf_token", "kind", "status", "partner_id",
                                        "opened_on", "outcome", "notes"}
    response = web.post_form(edit_url, {"kind": "labour_claim", "status": "decided",
                                        "partner_id": str(case.partner),
                                        "opened_on": "2026-02-01", "outcome": "settled",
                                        "notes": MATTER_NOTES})
    assert response.status_code == 302
    page = web.get(f"/survivors/{case.sid}/legal").text
    assert "Decided" in page and "Settled" in page

    # The counsellor sees the matter and its hearings, not their notes; no form for them.
    co = login_web(app, case.counsellor)
    page = co.get(f"/survivors/{case.sid}/legal").text
    assert "Labour claim" in page and "Mediation" in page
    assert "MARKER" not in page and "Open a legal matter" not in page
    assert co.get(edit_url).status_code == 403 and co.get(hearing_url).status_code == 403
    assert co.get(url).status_code == 403
    # The supervisor edits operational fields only.
    sup = login_web(app, case.supervisor)
    form = sup.get(edit_url)
    assert control_names(form.text) == {"csrf_token", "kind", "status", "partner_id",
                                        "opened_on", "outcome"}
    assert login_web(app, case.outsider).get(f"/survivors/{case.sid}/legal").status_code == 404


def test_partner_must_offer_legal_aid(app, case):
    api = login_api(app, case.cw)
    before = db_state(app)
    body = problem(open_matter(api, case.sid, partner_id=str(case.shelter)), 422, "partner_id")
    assert "does not offer legal aid" in body["errors"]["partner_id"][0]
    problem(open_matter(api, case.sid, partner_id=str(uuid.uuid4())), 422, "partner_id")
    assert db_state(app) == before
    mid = open_matter(api, case.sid).json["id"]
    before = db_state(app)
    problem(api.patch(f"/api/v1/legal-matters/{mid}", json={"partner_id": str(case.shelter)}),
            422, "partner_id")
    assert db_state(app) == before
    response = api.patch(f"/api/v1/legal-matters/{mid}", json={"partner_id": str(case.partner)})
    assert response.status_code == 200
    response = api.patch(f"/api/v1/legal-matters/{mid}", json={"partner_id": None})
    assert response.status_code == 200 and response.json["partner_id"] is None


def test_who_may_write(app, case):
    cw_api = login_api(app, case.cw)
    mid = open_matter(cw_api, case.sid).json["id"]
    before = db_state(app)
    co_api = login_api(app, case.counsellor)
    problem(open_matter(co_api, case.sid), 403, "kind")
    problem(co_api.patch(f"/api/v1/legal-matters/{mid}", json={"status": "closed"}), 403,
            "status")
    problem(add_hearing(co_api, mid), 403, "scheduled_on")
    sup_api = login_api(app, case.supervisor)
    body = problem(sup_api.patch(f"/api/v1/legal-matters/{mid}",
                                 json={"status": "awaiting_hearing", "notes": "x"}), 403, "notes")
    assert body["fields"] == ["notes"]
    problem(add_hearing(sup_api, mid, notes="x"), 403, "notes")
    problem(open_matter(sup_api, case.sid, notes="x"), 403, "notes")
    problem(cw_api.patch(f"/api/v1/legal-matters/{mid}", json={"next_hearing_on": "2027-01-01"}),
            403, "next_hearing_on")
    assert db_state(app) == before
    assert add_hearing(sup_api, mid).status_code == 201
    assert open_matter(sup_api, case.sid, kind="other").status_code == 201


# --- invalid transitions: a clear error, nothing changed ---------------------------------------------


def test_invalid_transitions_change_nothing(app, case):
    api = login_api(app, case.cw)
    mid = open_matter(api, case.sid, opened_on="2026-02-01").json["id"]
    add_hearing(api, mid, scheduled_on="2026-03-01")
    url = f"/api/v1/legal-matters/{mid}"
    before = db_state(app)
    body = problem(add_hearing(api, mid, scheduled_on="2026-01-31"), 422, "scheduled_on")
    assert "opened on Feb 1, 2026" in body["errors"]["scheduled_on"][0]
    problem(api.patch(url, json={"opened_on": "2026-03-02"}), 422, "opened_on")
    body = problem(api.patch(url, json={"status": "decided"}), 422, "outcome")
    assert "outcome" in body["errors"]["outcome"][0]
    problem(api.patch(url, json={"outcome": "granted"}), 422, "outcome")
    problem(api.patch(url, json={"status": "closed"}), 422, "outcome")
    problem(open_matter(api, case.sid, status="decided"), 422, "outcome")
    assert db_state(app) == before

    assert api.patch(url, json={"status": "decided", "outcome": "denied"}).status_code == 200
    before = db_state(app)
    body = problem(api.patch(url, json={"status": "open", "outcome": "pending"}), 409)
    assert "decided cannot become open" in body["detail"]
    assert db_state(app) == before

    assert api.patch(url, json={"status": "closed"}).status_code == 200
    before = db_state(app)
    body = problem(api.patch(url, json={"notes": "late note"}), 409)
    assert "closed" in body["detail"]
    problem(api.patch(url, json={"status": "awaiting_hearing", "outcome": "pending"}), 409)
    body = problem(add_hearing(api, mid, scheduled_on=NEXT_MONTH.isoformat()), 409)
    assert "closed" in body["detail"]
    assert db_state(app) == before
    # The pages say so and change nothing.
    web = login_web(app, case.cw)
    response = web.get(f"/legal/matters/{mid}/edit", follow_redirects=True)
    assert "closed and can no longer change" in response.text
    response = web.get(f"/legal/matters/{mid}/hearings/new", follow_redirects=True)
    assert "no hearing can be added" in response.text
    page = web.get(f"/survivors/{case.sid}/legal").text
    assert f"/legal/matters/{mid}/edit" not in page
    assert db_state(app) == before


def test_page_transition_errors_are_shown(app, case):
    api = login_api(app, case.cw)
    mid = open_matter(api, case.sid, opened_on="2026-02-01").json["id"]
    web = login_web(app, case.cw)
    before = db_state(app)
    response = web.post_form(f"/legal/matters/{mid}/hearings/new",
                             {"scheduled_on": "2026-01-02", "kind": "trial"})
    assert response.status_code == 422 and 'id="scheduled_on-error"' in response.text
    assert "a hearing cannot be before it" in response.text
    response = web.post_form(f"/legal/matters/{mid}/edit", {
        "kind": "immigration", "status": "decided", "partner_id": "", "opened_on": "2026-02-01",
        "outcome": "pending"})
    assert response.status_code == 422 and 'id="outcome-error"' in response.text
    assert db_state(app) == before


def test_no_new_matter_on_a_closed_case(app, case):
    api = login_api(app, case.cw)
    api.post(f"/api/v1/survivors/{case.sid}/close", json={"reason": "Support completed."})
    before = db_state(app)
    body = problem(open_matter(api, case.sid), 409)
    assert "closed" in body["detail"]
    response = login_web(app, case.cw).get(f"/survivors/{case.sid}/legal/new",
                                           follow_redirects=True)
    assert "no new legal matter can be opened" in response.text
    assert db_state(app) == before


def test_the_database_refuses_unknown_vocabulary(app, case):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        for values in ({"kind": "divorce"}, {"status": "limbo"}, {"outcome": "maybe"}):
            db.session.add(LegalMatter(survivor_id=case.sid, opened_on=date(2026, 2, 1),
                                       **{"kind": "immigration", **values}))
            with pytest.raises(IntegrityError):
                db.session.commit()
            db.session.rollback()


# --- bad input on every field -------------------------------------------------------------------------


def matter_bad_values(field: str, c) -> list:
    vocab_bad = [*WRONG_TYPES, None, "", "   ", "NotAValue", "IMMIGRATION", KB10,
                 *CONTROL_STRINGS]
    return {
        "kind": vocab_bad,
        "status": vocab_bad,
        "outcome": vocab_bad,
        "partner_id": [5, True, "not-a-uuid", str(uuid.uuid4()), str(c.shelter), [str(c.partner)],
                       {"id": 1}, KB10, "\x00"],
        "opened_on": [*BAD_DATES, None, "", TOMORROW, "2999-01-01"],
        "notes": [5, True, ["x"], {"a": 1}, "x" * 5001, *CONTROL_STRINGS],
    }[field]


@pytest.mark.parametrize("field", ["kind", "status", "outcome", "partner_id", "opened_on",
                                   "notes"])
def test_matter_writes_refuse_bad_values(app, case, field):
    api = login_api(app, case.cw)
    mid = open_matter(api, case.sid).json["id"]
    before = db_state(app)
    for value in matter_bad_values(field, case):
        problem(open_matter(api, case.sid, **{field: value}), 422, field)
        problem(api.patch(f"/api/v1/legal-matters/{mid}", json={field: value}), 422, field)
    assert db_state(app) == before


@pytest.mark.parametrize("field", ["scheduled_on", "kind", "notes"])
def test_hearing_writes_refuse_bad_values(app, case, field):
    api = login_api(app, case.cw)
    mid = open_matter(api, case.sid).json["id"]
    before = db_state(app)
    values = {
        "scheduled_on": [*BAD_DATES, None, "", "2999-01-01", "2026-01-31"],
        "kind": [*WRONG_TYPES, None, "", "duel", "TRIAL", KB10, *CONTROL_STRINGS],
        "notes": [5, True, ["x"], {"a": 1}, "x" * 5001, *CONTROL_STRINGS],
    }[field]
    for value in values:
        problem(add_hearing(api, mid, **{field: value}), 422, field)
    assert db_state(app) == before


def test_bodies_that_are_not_objects_unknown_or_system_fields(app, case):
    api = login_api(app, case.cw)
    mid = open_matter(api, case.sid).json["id"]
    before = db_state(app)
    headers = api._headers({"Content-Type": "application/json"})
    for url in (f"/api/v1/survivors/{case.sid}/legal-matters",
                f"/api/v1/legal-matters/{mid}/hearings"):
        for body in ([], "text", 5, None):
            problem(api.client.post(url, data=json.dumps(body), headers=headers), 400)
        problem(api.client.post(url, data=b"{nope", headers=headers), 400)
    problem(api.client.patch(f"/api/v1/legal-matters/{mid}", data=b"[]", headers=headers), 400)
    problem(open_matter(api, case.sid, colour="x"), 422, "colour")
    problem(add_hearing(api, mid, colour="x"), 422, "colour")
    problem(api.patch(f"/api/v1/legal-matters/{mid}", json={"colour": "x"}), 422, "colour")
    for name in ("id", "survivor_id", "created_at", "updated_at", "next_hearing_on"):
        problem(open_matter(api, case.sid, **{name: "2026-01-01"}), 403, name)
    for name in ("id", "survivor_id", "matter_id", "created_at"):
        problem(add_hearing(api, mid, **{name: str(uuid.uuid4())}), 403, name)
    assert api.get(f"/api/v1/legal-matters/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/legal-matters/nope").status_code == 404
    problem(api.get(f"/api/v1/survivors/{case.sid}/legal-matters?cursor=bogus"), 400)
    problem(api.get(f"/api/v1/survivors/{case.sid}/legal-matters?limit=500"), 422)
    assert db_state(app) == before


def test_page_forms_show_errors_next_to_fields(app, case):
    web = login_web(app, case.cw)
    url = f"/survivors/{case.sid}/legal/new"
    good = {"kind": "immigration", "status": "open", "partner_id": "", "opened_on": "2026-02-01",
            "outcome": "pending", "notes": ""}
    before = db_state(app)
    for field, value in [("kind", "divorce"), ("kind", ""), ("status", "limbo"),
                         ("outcome", "maybe"), ("partner_id", str(case.shelter)),
                         ("opened_on", "2999-01-01"), ("opened_on", "nope"),
                         ("notes", "bell\x07"), ("notes", "x" * 5001)]:
        response = web.post_form(url, {**good, field: value})
        assert response.status_code == 422, (field, value)
        assert f'id="{field}-error"' in response.text, (field, value)
    assert db_state(app) == before


def test_pagination(app, case):
    api = login_api(app, case.cw)
    for day in range(1, 6):
        open_matter(api, case.sid, opened_on=f"2026-02-0{day}")
    first = api.get(f"/api/v1/survivors/{case.sid}/legal-matters?limit=2").json
    second = api.get(f"/api/v1/survivors/{case.sid}/legal-matters?limit=2"
                     f"&cursor={first['next_cursor']}").json
    third = api.get(f"/api/v1/survivors/{case.sid}/legal-matters?limit=2"
                    f"&cursor={second['next_cursor']}").json
    days = [m["opened_on"] for page in (first, second, third) for m in page["items"]]
    assert days == [f"2026-02-0{d}" for d in (5, 4, 3, 2, 1)] and third["next_cursor"] is None
    mid = first["items"][0]["id"]
    for day in (7, 3, 5):
        add_hearing(api, mid, scheduled_on=f"2026-03-0{day}")
    page = api.get(f"/api/v1/legal-matters/{mid}/hearings?limit=2").json
    rest = api.get(f"/api/v1/legal-matters/{mid}/hearings?limit=2"
                   f"&cursor={page['next_cursor']}").json
    assert [h["scheduled_on"] for h in page["items"] + rest["items"]] == [
        "2026-03-03", "2026-03-05", "2026-03-07"]
    assert rest["next_cursor"] is None
    problem(api.get(f"/api/v1/legal-matters/{mid}/hearings?cursor=bogus"), 400)


# --- audit ---------------------------------------------------------------------------------------------


def test_audited_with_field_names_only(app, case):
    api = login_api(app, case.cw)
    mid = open_matter(api, case.sid, notes=MATTER_NOTES).json["id"]
    add_hearing(api, mid, notes=HEARING_NOTES)
    api.patch(f"/api/v1/legal-matters/{mid}", json={"status": "awaiting_hearing"})
    login_api(app, case.counsellor).get(f"/api/v1/survivors/{case.sid}/legal-matters")
    with app.app_context():
        events = {e.action: e for e in db.session.scalars(select(AuditEvent))}
        assert "legal_matter.notes" in events["legal.matter_opened"].fields
        assert events["legal.hearing_added"].subject_id == case.sid
        assert events["legal.matter_updated"].fields == ["legal_matter.status"]
        listed = events["legal.matters_viewed"]
        assert listed.actor_id == case.counsellor.id
        assert "legal_matter.notes" not in listed.fields and "legal_matter.kind" in listed.fields
        for row in db.session.execute(text("SELECT * FROM audit_events")).all():
            assert "MARKER" not in repr(tuple(row))


# --- demo ----------------------------------------------------------------------------------------------


def test_demo_creates_legal_aid_partners_only_when_none_exist(app, make):
    import random

    from casework.legal.demo import seed_demo

    lead = make.user("caseworker", team="North")
    admin = make.user("admin", username="admin")
    sids = [make.survivor(lead, intake_date=date(2025, 3, 1) + timedelta(days=i))
            for i in range(6)]
    with app.test_request_context("/"):
        users = {"admin": db.session.get(User, admin.id)}
        survivors = [db.session.get(Survivor, sid) for sid in sids]
        seed_demo(random.Random(3), survivors, users)
        db.session.commit()
        names = db.session.scalars(select(Partner.name).order_by(Partner.name)).all()
        assert names == ["Harbour Rights Advocates (demo)", "Lantern Legal Clinic (demo)"]
        assert db.session.scalar(select(func.count()).select_from(LegalMatter)) == 6
        for matter in db.session.scalars(select(LegalMatter)):
            assert matter.partner.offers("legal_aid")
            assert all(h.scheduled_on >= matter.opened_on for h in matter.hearings)
            legal._check_consistent(matter.status, matter.outcome)
        seed_demo(random.Random(4), survivors, users)  # partners exist: none added
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Partner)) == 2


def test_openapi_documents_the_legal_paths(app):
    document = app.test_client().get("/api/v1/openapi.json").json
    for path in ("/api/v1/survivors/{survivor_id}/legal-matters",
                 "/api/v1/legal-matters/{matter_id}",
                 "/api/v1/legal-matters/{matter_id}/hearings"):
        assert path in document["paths"], path
    matter = document["components"]["schemas"]["LegalMatter"]["properties"]
    assert set(matter) == set(field_specs(LegalMatter))
    assert {"id", "kind", "status", "partner_id", "next_hearing_on", "outcome"} <= set(matter)
    assert [v for v in matter["kind"]["enum"] if v] == [
        "immigration", "criminal_witness", "civil_compensation", "labour_claim",
        "identity_documents", "other"]
    assert matter["next_hearing_on"].get("readOnly") is True


# =====================================================================================================
# The matrix: role × relationship × field × surface for every tiered field of both models.
# =====================================================================================================

MATRIX_USERS = {
    "lead": ("caseworker", "North"),
    "cw_collab": ("caseworker", "North"),
    "cw_other": ("caseworker", "South"),
    "co_collab": ("counsellor", "North"),
    "co_none": ("counsellor", "North"),
    "sup": ("supervisor", "North"),
    "sup_other": ("supervisor", "South"),
    "admin": ("admin", None),
    "donor": ("donor", None),
}


@dataclass(frozen=True)
class Ctx:
    key: str
    user: str
    role: str
    relationship: str


CONTEXTS = [
    Ctx("caseworker-assigned_lead", "lead", "caseworker", "assigned"),
    Ctx("caseworker-assigned_collaborator", "cw_collab", "caseworker", "assigned"),
    Ctx("caseworker-none", "cw_other", "caseworker", "none"),
    Ctx("counsellor-assigned_collaborator", "co_collab", "counsellor", "assigned"),
    Ctx("counsellor-none", "co_none", "counsellor", "none"),
    Ctx("supervisor-team", "sup", "supervisor", "team"),
    Ctx("supervisor-none", "sup_other", "supervisor", "none"),
    Ctx("admin-none", "admin", "admin", "none"),
    Ctx("donor-none", "donor", "donor", "none"),
]
MODELS = {"matter": LegalMatter, "hearing": LegalHearing}
SURFACES = ("page", "form", "api_read", "api_write", "timeline_page", "timeline_api")
TIMELINE_FIELDS = {"matter": set(legal.MATTER_EVENT_FIELDS),
                   "hearing": set(legal.HEARING_EVENT_FIELDS)}


def expected(ctx: Ctx, model_key: str, permission: str) -> set[str]:
    return {name for name, spec in field_specs(MODELS[model_key]).items()
            if permission in permissions(ctx.role, ctx.relationship, spec.tier)
            and not (permission == WRITE and spec.read_only)}


class World:
    def __init__(self, app):
        self.app = app
        self.users, self.ids, self.web, self.api, self.cache = {}, {}, {}, {}, {}

    def alive(self) -> bool:
        with self.app.app_context():
            found = db.session.get(LegalMatter, self.matter_id) is not None
            db.session.rollback()
        return found

    def record_id(self, model_key):
        return self.matter_id if model_key == "matter" else self.hearing_id

    def get(self, ctx: Ctx, what: str):
        key = (ctx.user, what)
        if key not in self.cache:
            web, api, sid, mid = self.web[ctx.user], self.api[ctx.user], self.sid, self.matter_id
            urls = {
                "page": lambda: web.get(f"/survivors/{sid}/legal"),
                "form:matter": lambda: web.get(f"/legal/matters/{mid}/edit"),
                "form:hearing": lambda: web.get(f"/legal/matters/{mid}/hearings/new"),
                "api:matter": lambda: api.get(f"/api/v1/legal-matters/{mid}"),
                "list:matter": lambda: api.get(f"/api/v1/survivors/{sid}/legal-matters"),
                "api:hearing": lambda: api.get(f"/api/v1/legal-matters/{mid}/hearings"),
                "timeline_page": lambda: web.get(f"/survivors/{sid}/timeline"),
                "timeline_api": lambda: api.get(f"/api/v1/survivors/{sid}/timeline"),
            }
            self.cache[key] = urls[what]()
        return self.cache[key]

    def snapshot(self) -> dict:
        matters, hearings = LegalMatter.__table__, LegalHearing.__table__
        with self.app.app_context():
            snap = {
                "matter": dict(db.session.execute(select(matters).where(
                    matters.c.id == self.matter_id)).mappings().one()),
                "hearings": sorted(repr(tuple(r)) for r in db.session.execute(select(hearings))),
            }
            db.session.rollback()
        return snap

    def restore(self, snap: dict) -> None:
        matters, hearings = LegalMatter.__table__, LegalHearing.__table__
        with self.app.app_context():
            values = {k: v for k, v in snap["matter"].items() if k != "id"}
            db.session.execute(matters.update().where(matters.c.id == self.matter_id)
                               .values(**values))
            db.session.execute(delete(hearings).where(hearings.c.id.not_in(self.hearing_ids)))
            db.session.commit()
        assert self.snapshot() == snap

    @contextlib.contextmanager
    def preserved(self):
        snap = self.snapshot()
        try:
            yield snap
        finally:
            if self.snapshot() != snap:
                self.restore(snap)


def build_world(app) -> World:
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    make = Factory(app)
    w = World(app)
    for key, (role, team) in MATRIX_USERS.items():
        user = make.user(role, team=team, username=f"l-{key.replace('_', '-')}")
        w.users[key], w.ids[key] = user, user.id
    w.sid = make.survivor(w.users["lead"],
                          collaborator_ids=[w.ids["cw_collab"], w.ids["co_collab"]])
    w.partner = add_partner(app, "Lantern Test Clinic", ["legal_aid"])
    w.partner2 = add_partner(app, "Harbour Test Advocates", ["legal_aid"])
    for key, user in w.users.items():
        w.web[key] = login_web(app, user)
        w.api[key] = login_api(app, user)
    lead = w.api["lead"]
    response = open_matter(lead, w.sid, kind="criminal_witness", partner_id=str(w.partner),
                           opened_on="2026-01-20", notes=MATTER_NOTES)
    assert response.status_code == 201, response.json
    w.matter_id = uuid.UUID(response.json["id"])
    response = add_hearing(lead, w.matter_id, scheduled_on="2026-02-10", kind="trial",
                           notes=HEARING_NOTES)
    w.hearing_id = uuid.UUID(response.json["id"])
    future = add_hearing(lead, w.matter_id, scheduled_on=NEXT_MONTH.isoformat(), kind="appeal")
    w.hearing_ids = [w.hearing_id, uuid.UUID(future.json["id"])]
    assert lead.patch(f"/api/v1/legal-matters/{w.matter_id}",
                      json={"status": "decided", "outcome": "granted"}).status_code == 200
    w.new = {
        "matter": {
            "kind": ("labour_claim", "labour_claim"),
            "status": ("closed", "closed"),
            "partner_id": (str(w.partner2), w.partner2),
            "opened_on": ("2026-01-25", date(2026, 1, 25)),
            "outcome": ("denied", "denied"),
            "notes": ("Changed synthetic notes.", "Changed synthetic notes."),
        },
    }
    return w


_WORLD: dict = {}


@pytest.fixture(autouse=True)
def _clean_state(request):
    """conftest's per-test wipe, except for the matrix tests, which share one world."""
    if "world" in request.fixturenames or "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    _WORLD.clear()
    yield


@pytest.fixture
def world(app):
    w = _WORLD.get("world")
    if w is None or w.app is not app or not w.alive():
        w = _WORLD["world"] = build_world(app)
    return w


def test_world_relationships(world):
    with world.app.test_request_context("/"):
        survivor = db.session.get(Survivor, world.sid)
        for ctx in CONTEXTS:
            user = db.session.get(User, world.ids[ctx.user])
            assert access.relationship(user, survivor) == ctx.relationship, ctx.key


PAGE_MARKERS = {
    "matter": {"kind": "Criminal case (as witness)", "status": "Decided",
               "partner_id": "Lantern Test Clinic", "opened_on": "Jan 20, 2026",
               "next_hearing_on": format_date(NEXT_MONTH, "medium", locale="en"),
               "outcome": "Granted", "notes": str(escape(MATTER_NOTES))},
    "hearing": {"scheduled_on": "Feb 10, 2026", "kind": "Trial",
                "notes": str(escape(HEARING_NOTES))},
}


def check_page(world, ctx, model_key, name):
    response = world.get(ctx, "page")
    readable = expected(ctx, model_key, READ)
    assert response.status_code == (200 if readable else 404), ctx.key
    marker = PAGE_MARKERS[model_key].get(name)
    if marker is not None:
        assert (marker in response.text) == (name in readable), f"{ctx.key}: {name} on the page"


def check_form(world, ctx, model_key, name):
    """Matter: its edit form. Hearing: the form adding one (hearings are not edited)."""
    response = world.get(ctx, f"form:{model_key}")
    readable = expected(ctx, model_key, READ)
    writable = expected(ctx, model_key, WRITE)
    if not readable:
        assert response.status_code == 404, ctx.key
    elif not writable:
        assert response.status_code == 403, ctx.key
    else:
        assert response.status_code == 200, ctx.key
    controls = control_names(response.text)
    assert (name in controls) == (name in writable), f"{ctx.key}: control for {name}"
    if name == "notes" and name not in readable:
        assert "MARKER" not in response.text, ctx.key


def check_api_read(world, ctx, model_key, name):
    readable = expected(ctx, model_key, READ)
    responses = [world.get(ctx, f"api:{model_key}")]
    if model_key == "matter":
        responses.append(world.get(ctx, "list:matter"))
    for response in responses:
        if not readable:
            assert response.status_code == 404, ctx.key
            continue
        assert response.status_code == 200, ctx.key
        body = response.json
        item = body if "items" not in body else next(
            i for i in body["items"] if i["id"] == str(world.record_id(model_key)))
        assert (name in item) == (name in readable), f"{ctx.key}: {name} in the API"
        if name == "notes" and name not in readable:
            assert "MARKER" not in response.text, ctx.key


def check_api_write(world, ctx, model_key, name):
    readable = expected(ctx, model_key, READ)
    writable = expected(ctx, model_key, WRITE)
    where = f"{ctx.key}: write {model_key}.{name}"
    api = world.api[ctx.user]
    with world.preserved() as before:
        if model_key == "matter":
            sent, stored = world.new["matter"].get(name, ("2026-01-01", None))
            response = api.patch(f"/api/v1/legal-matters/{world.matter_id}", json={name: sent})
            body = {name: sent}
        else:
            body = {"scheduled_on": "2026-05-05", "kind": "hearing"}
            body[name] = {"scheduled_on": "2026-05-06", "kind": "mediation",
                          "notes": "Synthetic note."}.get(name, str(uuid.uuid4()))
            response = api.post(f"/api/v1/legal-matters/{world.matter_id}/hearings", json=body)
        after = world.snapshot()
        forbidden = sorted(set(body) - writable)
        if not readable:
            assert response.status_code == 404, where
            assert after == before, where
        elif forbidden:
            assert response.status_code == 403, f"{where}: {response.status_code}"
            assert response.json["fields"] == forbidden, where
            assert after == before, where
        elif model_key == "matter":
            assert response.status_code == 200, f"{where}: {response.text[:300]}"
            matter = decrypt_row(LegalMatter.__table__, after["matter"], world.app)
            assert matter[name] == stored, where
        else:
            assert response.status_code == 201, f"{where}: {response.text[:300]}"
            assert response.json[name] == body[name], where
            assert len(after["hearings"]) == len(before["hearings"]) + 1, where


def check_timeline_page(world, ctx, model_key, name):
    response = world.get(ctx, "timeline_page")
    readable = expected(ctx, model_key, READ)
    assert response.status_code == (200 if readable else 404), ctx.key
    if readable:
        kind = "legal.matter_opened" if model_key == "matter" else "legal.hearing"
        assert f'data-kind="{kind}"' in response.text, ctx.key
    if name == "notes":
        marker = MATTER_NOTES if model_key == "matter" else HEARING_NOTES
        assert (str(escape(marker)) in response.text) == (name in readable), ctx.key


def check_timeline_api(world, ctx, model_key, name):
    response = world.get(ctx, "timeline_api")
    readable = expected(ctx, model_key, READ)
    if not readable:
        assert response.status_code == 404, ctx.key
        return
    event_ = next(i for i in response.json["items"]
                  if i["record_id"] == str(world.record_id(model_key)))
    want = name in readable and name in TIMELINE_FIELDS[model_key]
    assert (name in event_["fields"]) == want, f"{ctx.key}: {name} on the timeline"


CHECKS = {"page": check_page, "form": check_form, "api_read": check_api_read,
          "api_write": check_api_write, "timeline_page": check_timeline_page,
          "timeline_api": check_timeline_api}
MATRIX = [
    pytest.param(ctx, model_key, name, surface, id=f"{model_key}-{ctx.key}-{name}-{surface}")
    for model_key, model in MODELS.items()
    for ctx in CONTEXTS
    for name in field_specs(model)
    for surface in SURFACES
]


@pytest.mark.parametrize(("ctx", "model_key", "name", "surface"), MATRIX)
def test_field_matrix(world, ctx, model_key, name, surface):
    CHECKS[surface](world, ctx, model_key, name)


@pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
def test_api_keys_are_exactly_the_readable_fields(world, ctx):
    readable = expected(ctx, "matter", READ)
    response = world.get(ctx, "api:matter")
    if readable:
        assert set(response.json) == readable
        hearings = world.get(ctx, "api:hearing").json["items"]
        assert all(set(h) == expected(ctx, "hearing", READ) for h in hearings)
    else:
        assert response.status_code == 404


@pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
def test_new_matter_form_offers_exactly_the_writable_fields(world, ctx):
    response = world.web[ctx.user].get(f"/survivors/{world.sid}/legal/new")
    writable = expected(ctx, "matter", WRITE)
    if ctx.relationship == "none":
        assert response.status_code == 404
    elif not writable:
        assert response.status_code == 403
    else:
        assert control_names(response.text) - {"csrf_token"} == writable


def test_timeline_provider_direct(world):
    from casework.survivors.timeline import timeline

    with world.app.test_request_context("/"):
        survivor = db.session.get(Survivor, world.sid)
        for key, sees_notes in (("lead", True), ("sup", True), ("co_collab", False)):
            user = db.session.get(User, world.ids[key])
            events = [e for e in timeline(user, survivor) if e.kind.startswith("legal.")]
            assert [e.kind for e in events].count("legal.hearing") == 2, key
            assert all(("notes" in e.fields) == sees_notes
                       for e in events if e.record_id in (world.matter_id, world.hearing_id))
            scheduled = next(e for e in events if e.at == NEXT_MONTH)
            assert scheduled.title.startswith("Hearing scheduled")
        db.session.rollback()


# --- fixed number of statements -------------------------------------------------------------------


@contextlib.contextmanager
def count_statements(app):
    statements: list[str] = []

    def listener(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def _statements_for(app, make, n: int) -> dict[str, int]:
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    cw = make.user("caseworker", team="North")
    sid = make.survivor(cw)
    partner = add_partner(app, "Lantern Test Clinic", ["legal_aid"])
    with app.app_context():
        for i in range(n):
            matter = LegalMatter(survivor_id=sid, kind="immigration", status="open",
                                 outcome="pending", opened_on=date(2026, 2, 1), partner_id=partner,
                                 notes=f"Synthetic {i}")
            matter.hearings = [LegalHearing(survivor_id=sid, scheduled_on=NEXT_MONTH,
                                            kind="hearing", notes="Synthetic")]
            db.session.add(matter)
        db.session.commit()
        mid = db.session.scalar(select(LegalMatter.id).limit(1))
    web, api = login_web(app, cw), login_api(app, cw)
    counts = {}
    for name, call in {
        "page": lambda: web.get(f"/survivors/{sid}/legal"),
        "api_list": lambda: api.get(f"/api/v1/survivors/{sid}/legal-matters"),
        "api_hearings": lambda: api.get(f"/api/v1/legal-matters/{mid}/hearings"),
    }.items():
        call()
        with count_statements(app) as statements:
            assert call().status_code == 200, name
        counts[name] = len(statements)
    with app.test_request_context("/"):
        survivor = db.session.get(Survivor, sid)
        user = db.session.get(User, cw.id)
        db.session.expire_all()
        with count_statements(app) as statements:
            events = legal.timeline_events(user, survivor)
        assert len(events) == 2 * n
        counts["timeline_provider"] = len(statements)
        db.session.rollback()
    return counts


def test_statement_counts_do_not_grow_with_records(app, make):
    assert _statements_for(app, make, 1) == _statements_for(app, make, 50)
