"""Shelters, beds and placements through the pages and the API.

Covers: admin management of shelters and beds; admit / transfer / discharge with their date
rules and refusals (nothing changed); the database's own guarantees (one survivor per bed,
one open placement per survivor) including 40 concurrent admissions on PostgreSQL; bed
restrictions; the occupancy board's visibility; shelter nights; the timeline; a role ×
relationship × field × surface matrix for every tiered placement field; statement counts
that do not grow with the number of records; the demo seed.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from markupsafe import escape
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError

from casework.access.fields import field_specs
from casework.access.policy import READ, WRITE, permissions
from casework.audit.models import AuditEvent
from casework.auth.models import User
from casework.extensions import db, limiter
from casework.shelters import service
from casework.shelters.forms import AdmitForm, DischargeForm, ExpectedDischargeForm, TransferForm
from casework.shelters.models import Bed, Placement, Shelter
from casework.survivors.models import Survivor
from tests.conftest import ENGINE, Factory, _empty_all_tables, login_api, login_web

TODAY = date.today()
YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)
SPECS = field_specs(Placement)
KB10 = "x" * (10 * 1024)


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
    yield


# --- helpers -----------------------------------------------------------------------------------


def make_shelter(app, name="Harbour House (test)", beds=2, restrictions=None, partner_id=None):
    """A shelter with ``beds`` beds labelled A1, A2, ... (restrictions by label); its ids."""
    restrictions = restrictions or {}
    with app.test_request_context("/"):
        admin = db.session.scalar(select(User).where(User.role == "admin"))
        if admin is None:
            from casework.auth.service import create_user

            admin = create_user(f"admin-{uuid.uuid4().hex[:6]}", "admin",
                                "correct horse battery")
        shelter = service.create_shelter(admin, {
            "name": name, "partner_id": str(partner_id) if partner_id else None,
            "beds": [{"label": f"A{n}", "restrictions": restrictions.get(f"A{n}", [])}
                     for n in range(1, beds + 1)]})
        db.session.commit()
        return SimpleNamespace(id=shelter.id, name=shelter.name,
                               beds=[b.id for b in shelter.beds],
                               labels={b.label: b.id for b in shelter.beds})


def admit_direct(app, survivor_id, shelter_id, bed_id=None, admitted_on=None, **extra):
    """Admit through the service as the survivor's lead caseworker; the placement id."""
    with app.test_request_context("/"):
        survivor = db.session.get(Survivor, survivor_id)
        data = {"shelter_id": str(shelter_id),
                "admitted_on": (admitted_on or YESTERDAY).isoformat(), **extra}
        if bed_id:
            data["bed_id"] = str(bed_id)
        placement = service.admit(survivor.lead_caseworker, survivor, data)
        db.session.commit()
        return placement.id


def placements(app, survivor_id=None) -> list[dict]:
    with app.app_context():
        query = select(Placement.__table__)
        if survivor_id:
            query = query.where(Placement.survivor_id == survivor_id)
        rows = [dict(r) for r in db.session.execute(query).mappings()]
        db.session.rollback()
    return sorted(rows, key=lambda r: (r["admitted_on"], str(r["created_at"])))


def db_state(app) -> dict:
    """Every row a shelter or placement write can touch, as comparable text."""
    state = {}
    with app.app_context():
        for table in ("shelters", "beds", "placements", "survivors"):
            rows = db.session.execute(text(f'SELECT * FROM "{table}"')).all()
            state[table] = sorted(repr(tuple(row)) for row in rows)
        db.session.rollback()
    return state


def actions(app, prefix="") -> list[str]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        db.session.rollback()
    return [a for a in found if a.startswith(prefix)]


def problem(response, status, field=None):
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["detail"]
    if field is not None:
        assert field in body.get("errors", {}), body
    return body


@pytest.fixture
def case(app, make):
    cw = make.user("caseworker", team="North")
    ns = SimpleNamespace(cw=cw, admin=make.user("admin"))
    ns.sid = make.survivor(cw, known_as="Lotus")
    ns.shelter = make_shelter(app, "Harbour House (test)", beds=2)
    ns.other = make_shelter(app, "Lantern Court (test)", beds=2)
    return ns


# --- shelters and beds: admin pages and API -----------------------------------------------------


def test_admin_manages_shelters_and_beds_through_the_pages(app, make):
    admin = make.user("admin")
    web = login_web(app, admin)
    assert web.get("/shelters/").status_code == 200
    created = web.post_form("/shelters/new", {
        "name": "Willow Rise (test)", "partner_id": "", "bed_count": "3",
        "bed_restrictions": ["women_only", "wheelchair_accessible"]})
    assert created.status_code == 302, created.text[:1000]
    with app.app_context():
        shelter = db.session.scalar(select(Shelter))
        sid = shelter.id
        assert [b.label for b in shelter.beds] == ["1", "2", "3"]
        assert shelter.beds[0].restrictions == ["women_only", "wheelchair_accessible"]
    edit_url = f"/shelters/{sid}/edit"
    page = web.get(edit_url)
    assert page.status_code == 200 and "Willow Rise (test)" in page.text
    added = web.post_form(f"/shelters/{sid}/beds", {"label": "4", "restrictions": ["men_only"],
                                                     "active": "y"}, page=edit_url)
    assert added.status_code == 302
    clash = web.post_form(f"/shelters/{sid}/beds", {"label": "4", "active": "y"}, page=edit_url)
    assert clash.status_code == 422 and "already" in clash.text
    with app.app_context():
        bed = db.session.scalar(select(Bed).where(Bed.label == "1"))
        bed_id = bed.id
    bed_url = f"/shelters/{sid}/beds/{bed_id}/edit"
    bad = web.post_form(bed_url, {"label": "1", "restrictions": ["women_only", "men_only"]})
    assert bad.status_code == 422 and "cannot be both" in bad.text
    saved = web.post_form(bed_url, {"label": "1A", "restrictions": []})  # unchecked: out of service
    assert saved.status_code == 302
    renamed = web.post_form(edit_url, {"name": "Willow Rise (renamed)", "partner_id": ""})
    assert renamed.status_code == 302
    listing = web.get("/shelters/").text
    row = re.search(rf'data-shelter="{sid}">(.*?)</tr>', listing, re.S).group(1)
    assert "Willow Rise (renamed)" in row
    assert [int(n) for n in re.findall(r'text-end">(?:<span[^>]*>)?(\d+)', row)] == [3, 0, 3]
    assert actions(app, "shelter.") == ["shelter.created", "shelter.updated"]
    assert actions(app, "bed.") == ["bed.created", "bed.updated"]


def test_only_admins_write_shelters_and_staff_read_them(app, make):
    shelter = make_shelter(app)
    for role in ("caseworker", "counsellor", "supervisor"):
        user = make.user(role)
        web, api = login_web(app, user), login_api(app, user)
        assert web.get("/shelters/").status_code == 200
        assert web.get(f"/shelters/{shelter.id}").status_code == 200
        assert web.get("/shelters/new").status_code == 403
        assert web.get(f"/shelters/{shelter.id}/edit").status_code == 403
        assert api.get("/api/v1/shelters").status_code == 200
        problem(api.post("/api/v1/shelters", json={"name": "X"}), 403)
        problem(api.patch(f"/api/v1/shelters/{shelter.id}", json={"name": "X"}), 403)
        problem(api.post(f"/api/v1/shelters/{shelter.id}/beds", json={"label": "Z"}), 403)
        problem(api.patch(f"/api/v1/shelters/{shelter.id}/beds/{shelter.beds[0]}",
                          json={"active": False}), 403)
    donor = make.user("donor")
    # A donor reaches their reports only: anything else is 404 (casework/web.py).
    assert login_web(app, donor).get("/shelters/").status_code == 404
    assert login_web(app, donor).get(f"/shelters/{shelter.id}").status_code == 404
    problem(login_api(app, donor).get("/api/v1/shelters"), 404)
    problem(login_api(app, donor).get(f"/api/v1/shelters/{shelter.id}/occupancy"), 404)
    with app.app_context():
        assert db.session.get(Shelter, shelter.id).name == "Harbour House (test)"


def test_shelter_api_create_list_update_and_beds(app, make):
    admin = make.user("admin")
    api = login_api(app, admin)
    created = api.post("/api/v1/shelters", json={
        "name": "Harbour House (test)", "partner_id": None,
        "beds": [{"label": "A1", "restrictions": ["women_only"]}, {"label": "A2"}]})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["capacity"] == 2 and body["free"] == 2 and body["partner_id"] is None
    assert [b["label"] for b in body["beds"]] == ["A1", "A2"]
    assert body["beds"][0]["restrictions"] == ["women_only"]
    assert body["created_at"].endswith("Z")
    sid = body["id"]
    for n in range(3):
        assert api.post("/api/v1/shelters", json={"name": f"Extra {n} (test)"}).status_code == 201
    seen, cursor = [], None
    while True:
        page = api.get("/api/v1/shelters?limit=2" + (f"&cursor={cursor}" if cursor else "")).json
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen) and len(seen) == 4
    problem(api.get("/api/v1/shelters?cursor=bogus"), 400, "cursor")

    from casework.referrals.models import Partner

    with app.app_context():
        partner = Partner(name="Partner (test)", services=["shelter"])
        db.session.add(partner)
        db.session.commit()
        partner_id = str(partner.id)
    patched = api.patch(f"/api/v1/shelters/{sid}", json={"partner_id": partner_id,
                                                         "name": "Harbour House (renamed)"})
    assert patched.status_code == 200 and patched.json["partner_id"] == partner_id
    bed = api.post(f"/api/v1/shelters/{sid}/beds", json={"label": "A3",
                                                         "restrictions": ["adults_only"]})
    assert bed.status_code == 201 and bed.json["active"] is True
    off = api.patch(f"/api/v1/shelters/{sid}/beds/{bed.json['id']}", json={"active": False})
    assert off.status_code == 200 and off.json["active"] is False
    shown = api.get(f"/api/v1/shelters/{sid}").json
    assert shown["capacity"] == 2 and len(shown["beds"]) == 3
    assert api.get(f"/api/v1/shelters/{uuid.uuid4()}").status_code == 404


SHELTER_BAD = [
    ({"name": ""}, "name"),
    ({"name": KB10}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "lone \ud800"}, "name"),
    ({"name": 5}, "name"),
    ({"name": ["x"]}, "name"),
    ({"name": "Ok", "partner_id": "not-a-uuid"}, "partner_id"),
    ({"name": "Ok", "partner_id": str(uuid.uuid4())}, "partner_id"),
    ({"name": "Ok", "partner_id": 7}, "partner_id"),
    ({"name": "Ok", "beds": "A1"}, "beds"),
    ({"name": "Ok", "beds": [{"label": "A1"}, {"label": "a1"}]}, "beds"),
    ({"name": "Ok", "beds": [{"label": ""}]}, "beds.0.label"),
    ({"name": "Ok", "beds": [{"label": "x" * 41}]}, "beds.0.label"),
    ({"name": "Ok", "beds": [{"label": "A1", "restrictions": ["pets_ok"]}]},
     "beds.0.restrictions"),
    ({"name": "Ok", "beds": [{"label": "A1", "restrictions": "women_only"}]},
     "beds.0.restrictions"),
    ({"name": "Ok", "beds": [{"label": "A1", "restrictions": ["adults_only", "minors_only"]}]},
     "beds.0.restrictions"),
    ({"name": "Ok", "beds": [{"label": "A1", "active": "yes"}]}, "beds.0.active"),
    ({"name": "Ok", "beds": [{"label": "A1", "colour": "red"}]}, "beds.0.colour"),
    ({"name": "Ok", "beds": ["A1"]}, "beds.0"),
    ({"name": "Ok", "beds": [{"label": str(n)} for n in range(501)]}, "beds"),
    ({"name": "Ok", "capacity": 5}, "capacity"),
    ({"name": "Harbour House (test)"}, "name"),  # taken
]


def test_shelter_api_refuses_bad_input(app, make):
    make_shelter(app)
    api = login_api(app, make.user("admin"))
    before = db_state(app)
    for body, field in SHELTER_BAD:
        problem(api.post("/api/v1/shelters", json=body), 422, field)
    assert db_state(app) == before


def test_shelter_api_refuses_non_objects(app, make):
    shelter = make_shelter(app)
    api = login_api(app, make.user("admin"))
    before = db_state(app)
    for payload in ([], "x", 5, None):
        response = api.post("/api/v1/shelters", json=payload)
        assert response.status_code in (400, 422) and response.mimetype.endswith("problem+json")
    response = api.client.post("/api/v1/shelters", data="{not json",
                               headers={**api._headers(), "Content-Type": "application/json"})
    assert response.status_code == 400
    problem(api.patch(f"/api/v1/shelters/{shelter.id}", json={"beds": []}), 422, "beds")
    problem(api.patch(f"/api/v1/shelters/{shelter.id}/beds/{shelter.beds[0]}",
                      json={"label": "A2"}), 422, "label")
    assert api.patch(f"/api/v1/shelters/{shelter.id}/beds/{uuid.uuid4()}",
                     json={"label": "Z"}).status_code == 404
    assert db_state(app) == before


def test_occupied_bed_cannot_be_taken_out_of_service(app, make, case):
    admit_direct(app, case.sid, case.shelter.id, case.shelter.beds[0])
    api = login_api(app, case.admin)
    before = db_state(app)
    problem(api.patch(f"/api/v1/shelters/{case.shelter.id}/beds/{case.shelter.beds[0]}",
                      json={"active": False}), 409)
    assert db_state(app) == before


# --- placements: the workflow -----------------------------------------------------------------


def test_admit_transfer_and_discharge_through_the_pages(app, case):
    web = login_web(app, case.cw)
    url = f"/survivors/{case.sid}/placements"
    page = web.get(url)
    assert page.status_code == 200
    assert 'name="shelter_id"' in page.text and 'name="transfer_on"' not in page.text
    assert "Harbour House (test)" in page.text
    admitted = web.post_form(url, {"shelter_id": str(case.shelter.id), "bed_id": "",
                                   "admitted_on": (TODAY - timedelta(days=10)).isoformat(),
                                   "expected_discharge_on": ""})
    assert admitted.status_code == 302, admitted.text[:2000]
    [first] = placements(app, case.sid)
    assert first["bed_id"] == case.shelter.labels["A1"] and first["status"] == "open"
    page = web.get(url)
    assert 'name="shelter_id"' not in page.text  # placed: no admit form
    assert 'name="transfer_bed_id"' in page.text and 'name="discharge_reason"' in page.text
    expected = web.post_form(f"/placements/{first['id']}/expected",
                             {"expected_discharge_on": (TODAY + timedelta(days=30)).isoformat()},
                             page=url)
    assert expected.status_code == 302
    bad = web.post_form(f"/placements/{first['id']}/transfer",
                        {"transfer_shelter_id": "", "transfer_bed_id": "",
                         "transfer_on": (TODAY - timedelta(days=11)).isoformat()}, page=url)
    assert bad.status_code == 422 and 'id="transfer_bed_id-error"' in bad.text
    moved = web.post_form(f"/placements/{first['id']}/transfer",
                          {"transfer_shelter_id": str(case.other.id), "transfer_bed_id": "",
                           "transfer_on": (TODAY - timedelta(days=5)).isoformat()}, page=url)
    assert moved.status_code == 302, moved.text[:2000]
    early = web.post_form(f"/placements/{first['id']}/discharge",
                          {"discharged_on": YESTERDAY.isoformat(), "discharge_reason": "x"},
                          page=url)
    assert early.status_code == 409 and "ended on" in early.text
    old, new = placements(app, case.sid)
    assert old["status"] == "closed" and old["ended_by"] == "transfer"
    assert new["previous_placement_id"] == old["id"] and new["shelter_id"] == case.other.id
    assert new["expected_discharge_on"] == TODAY + timedelta(days=30)  # carried over
    before = db_state(app)
    backwards = web.post_form(f"/placements/{new['id']}/discharge",
                              {"discharged_on": (TODAY - timedelta(days=6)).isoformat(),
                               "discharge_reason": "Moved on."}, page=url)
    assert backwards.status_code == 422 and "before the admission" in backwards.text
    assert db_state(app) == before
    done = web.post_form(f"/placements/{new['id']}/discharge",
                         {"discharged_on": YESTERDAY.isoformat(),
                          "discharge_reason": "Moved to independent housing."}, page=url)
    assert done.status_code == 302
    page = web.get(url)
    assert "Moved to independent housing." in page.text and 'name="shelter_id"' in page.text
    timeline = web.get(f"/survivors/{case.sid}/timeline").text
    for kind in ("placement.admitted", "placement.transferred", "placement.discharged"):
        assert f'data-kind="{kind}"' in timeline
    assert actions(app, "placement.") .count("placement.viewed") >= 1
    for action in ("placement.created", "placement.updated", "placement.transferred",
                   "placement.discharged"):
        assert action in actions(app, "placement.")


def test_admit_transfer_and_discharge_through_the_api(app, case):
    api = login_api(app, case.cw)
    base = f"/api/v1/survivors/{case.sid}/placements"
    created = api.post(base, json={"shelter_id": str(case.shelter.id),
                                   "admitted_on": (TODAY - timedelta(days=20)).isoformat(),
                                   "expected_discharge_on": (TODAY + timedelta(days=3)).isoformat()})
    assert created.status_code == 201, created.json
    first = created.json
    assert first["status"] == "open" and first["bed_id"] == str(case.shelter.labels["A1"])
    assert first["created_at"].endswith("Z") and "discharged_on" in first
    assert api.get(f"/api/v1/placements/{first['id']}").json["id"] == first["id"]
    patched = api.patch(f"/api/v1/placements/{first['id']}",
                        json={"expected_discharge_on": (TODAY + timedelta(days=9)).isoformat()})
    assert patched.status_code == 200
    assert patched.json["expected_discharge_on"] == (TODAY + timedelta(days=9)).isoformat()
    problem(api.patch(f"/api/v1/placements/{first['id']}", json={"bed_id": first["bed_id"]}),
            422, "bed_id")
    problem(api.patch(f"/api/v1/placements/{first['id']}", json={"status": "closed"}), 403)
    same = api.post(f"/api/v1/placements/{first['id']}/transfer",
                    json={"bed_id": first["bed_id"], "on": YESTERDAY.isoformat()})
    problem(same, 409)
    moved = api.post(f"/api/v1/placements/{first['id']}/transfer",
                     json={"bed_id": str(case.shelter.labels["A2"]),
                           "on": (TODAY - timedelta(days=10)).isoformat()})
    assert moved.status_code == 200, moved.json
    second = moved.json
    assert second["previous_placement_id"] == first["id"]
    assert second["admitted_on"] == (TODAY - timedelta(days=10)).isoformat()
    moved = api.post(f"/api/v1/placements/{second['id']}/transfer",
                     json={"shelter_id": str(case.other.id), "on": (TODAY - timedelta(days=4)).isoformat()})
    assert moved.status_code == 200
    third = moved.json
    problem(api.post(f"/api/v1/placements/{third['id']}/discharge",
                     json={"on": (TODAY - timedelta(days=5)).isoformat(), "reason": "Early."}),
            422, "on")
    done = api.post(f"/api/v1/placements/{third['id']}/discharge",
                    json={"on": TODAY.isoformat(), "reason": "Returned to family."})
    assert done.status_code == 200 and done.json["status"] == "closed"
    assert done.json["discharge_reason"] == "Returned to family."
    before = db_state(app)
    problem(api.post(f"/api/v1/placements/{third['id']}/discharge",
                     json={"on": TODAY.isoformat(), "reason": "Twice."}), 409)
    problem(api.post(f"/api/v1/placements/{first['id']}/transfer",
                     json={"shelter_id": str(case.other.id), "on": TODAY.isoformat()}), 409)
    problem(api.patch(f"/api/v1/placements/{third['id']}",
                      json={"expected_discharge_on": TOMORROW.isoformat()}), 409)
    assert db_state(app) == before
    listed = api.get(base + "?limit=2").json
    assert [p["id"] for p in listed["items"]] == [third["id"], second["id"]]
    rest = api.get(base + f"?limit=2&cursor={listed['next_cursor']}").json
    assert [p["id"] for p in rest["items"]] == [first["id"]] and rest["next_cursor"] is None
    rows = placements(app, case.sid)
    assert [r["ended_by"] for r in rows] == ["transfer", "transfer", "discharge"]
    assert [r["discharged_on"] for r in rows] == [TODAY - timedelta(days=10),
                                                  TODAY - timedelta(days=4), TODAY]
    assert actions(app, "placement.").count("placement.transferred") == 2
    # Re-admission starts no earlier than the last stay ended.
    problem(api.post(base, json={"shelter_id": str(case.shelter.id),
                                 "admitted_on": YESTERDAY.isoformat()}), 422, "admitted_on")
    assert api.post(base, json={"shelter_id": str(case.shelter.id),
                                "admitted_on": TODAY.isoformat()}).status_code == 201


def test_full_shelter_and_taken_bed_answer_409_and_change_nothing(app, make, case):
    tiny = make_shelter(app, "Tiny (test)", beds=1)
    second = make.survivor(case.cw)
    admit_direct(app, case.sid, tiny.id)
    api = login_api(app, case.cw)
    before = db_state(app)
    body = problem(api.post(f"/api/v1/survivors/{second}/placements", json={
        "shelter_id": str(tiny.id), "admitted_on": YESTERDAY.isoformat()}), 409)
    assert "full" in body["detail"]
    body = problem(api.post(f"/api/v1/survivors/{second}/placements", json={
        "shelter_id": str(tiny.id), "bed_id": str(tiny.beds[0]),
        "admitted_on": YESTERDAY.isoformat()}), 409)
    assert "taken" in body["detail"]
    # The survivor already placed cannot be placed twice.
    body = problem(api.post(f"/api/v1/survivors/{case.sid}/placements", json={
        "shelter_id": str(case.other.id), "admitted_on": YESTERDAY.isoformat()}), 409)
    assert "already placed" in body["detail"]
    web = login_web(app, case.cw)
    url = f"/survivors/{second}/placements"
    page = web.post_form(url, {"shelter_id": str(tiny.id), "bed_id": "",
                               "admitted_on": YESTERDAY.isoformat()})
    assert page.status_code == 409 and "is full" in page.text
    assert db_state(app) == before


def test_closed_case_cannot_be_admitted(app, case):
    api = login_api(app, case.cw)
    api.post(f"/api/v1/survivors/{case.sid}/close", json={"reason": "Support completed."})
    before = db_state(app)
    problem(api.post(f"/api/v1/survivors/{case.sid}/placements", json={
        "shelter_id": str(case.shelter.id), "admitted_on": YESTERDAY.isoformat()}), 409)
    page = login_web(app, case.cw).get(f"/survivors/{case.sid}/placements")
    assert 'name="shelter_id"' not in page.text
    assert db_state(app) == before


def test_a_savepoint_turns_the_index_violation_into_409(app, case, monkeypatch):
    """Were the Python checks to miss a taken bed (a race), the partial unique index refuses
    the row; the savepoint keeps the request's transaction usable and the answer is 409."""
    admit_direct(app, case.sid, case.shelter.id, case.shelter.beds[0])
    other = Factory(app).survivor(case.cw)
    monkeypatch.setattr(service, "bed_is_occupied", lambda bed: False)
    before = db_state(app)
    api = login_api(app, case.cw)
    body = problem(api.post(f"/api/v1/survivors/{other}/placements", json={
        "shelter_id": str(case.shelter.id), "bed_id": str(case.shelter.beds[0]),
        "admitted_on": YESTERDAY.isoformat()}), 409)
    assert "just now" in body["detail"]
    assert db_state(app) == before


# --- restrictions ------------------------------------------------------------------------------


def test_bed_restrictions_are_checked_against_gender_and_age_band(app, make):
    cw = make.user("caseworker")
    shelter = make_shelter(app, "Restricted (test)", beds=4, restrictions={
        "A1": ["women_only", "adults_only"], "A2": ["men_only"], "A3": ["minors_only"],
        "A4": ["wheelchair_accessible"]})
    man = make.survivor(cw, gender="Masculine")  # adult (born 1995)
    girl = make.survivor(cw, gender="Feminine", date_of_birth=date(2012, 3, 1))  # 12-17
    unknown = make.survivor(cw, gender="NonSpecifiedUnknown", date_of_birth=None)
    api = login_api(app, cw)

    def admit(sid, bed):
        return api.post(f"/api/v1/survivors/{sid}/placements", json={
            "shelter_id": str(shelter.id), "bed_id": str(shelter.labels[bed]),
            "admitted_on": YESTERDAY.isoformat()})

    before = db_state(app)
    body = problem(admit(man, "A1"), 422, "bed_id")
    assert "women only" in body["errors"]["bed_id"][0]
    body = problem(admit(girl, "A1"), 422, "bed_id")
    assert "adults only" in body["errors"]["bed_id"][0]
    problem(admit(girl, "A2"), 422, "bed_id")
    problem(admit(man, "A3"), 422, "bed_id")
    assert db_state(app) == before
    assert admit(girl, "A3").status_code == 201
    assert admit(unknown, "A1").status_code == 201  # nothing recorded: staff decide
    # Without a named bed, the first free bed (by label) that suits: A2 for the man.
    auto = api.post(f"/api/v1/survivors/{man}/placements", json={
        "shelter_id": str(shelter.id), "admitted_on": YESTERDAY.isoformat()})
    assert auto.status_code == 201 and auto.json["bed_id"] == str(shelter.labels["A2"])
    women_only = make_shelter(app, "Women (test)", beds=1, restrictions={"A1": ["women_only"]})
    other_man = make.survivor(cw, gender="TransgenderMasculine")
    body = problem(api.post(f"/api/v1/survivors/{other_man}/placements", json={
        "shelter_id": str(women_only.id), "admitted_on": YESTERDAY.isoformat()}), 409)
    assert "suits" in body["detail"]


# --- dates and bad input ------------------------------------------------------------------------


ADMIT_BAD = [
    ({}, "shelter_id"),
    ({"shelter_id": None}, "shelter_id"),
    ({"shelter_id": "nope"}, "shelter_id"),
    ({"shelter_id": 5}, "shelter_id"),
    ({"shelter_id": ["x"]}, "shelter_id"),
    ({"shelter_id": {"id": "x"}}, "shelter_id"),
    ({"shelter_id": "UNKNOWN"}, "shelter_id"),
    ({"shelter_id": "a\x00b"}, "shelter_id"),
    ({"shelter_id": KB10}, "shelter_id"),
    ({"bed_id": "nope"}, "bed_id"),
    ({"bed_id": "UNKNOWN"}, "bed_id"),
    ({"bed_id": "OTHER"}, "bed_id"),  # a bed of another shelter
    ({"bed_id": True}, "bed_id"),
    ({"admitted_on": None}, "admitted_on"),
    ({"admitted_on": TOMORROW.isoformat()}, "admitted_on"),
    ({"admitted_on": "1899-12-31"}, "admitted_on"),
    ({"admitted_on": "2026-02-30"}, "admitted_on"),
    ({"admitted_on": "2026-01-01T00:00:00Z"}, "admitted_on"),
    ({"admitted_on": 20260101}, "admitted_on"),
    ({"admitted_on": "lone \ud800"}, "admitted_on"),
    ({"admitted_on": KB10}, "admitted_on"),
    ({"expected_discharge_on": "2000-01-01"}, "expected_discharge_on"),
    ({"expected_discharge_on": (TODAY + timedelta(days=6 * 366)).isoformat()},
     "expected_discharge_on"),
    ({"expected_discharge_on": []}, "expected_discharge_on"),
    ({"status": "closed"}, "status"),
    ({"discharge_reason": "x"}, "discharge_reason"),
    ({"colour": "red"}, "colour"),
]


def test_admission_refuses_bad_input(app, case):
    substitutes = {"UNKNOWN": str(uuid.uuid4()), "OTHER": str(case.other.beds[0])}
    api = login_api(app, case.cw)
    before = db_state(app)
    for change, field in ADMIT_BAD:
        body = {"shelter_id": str(case.shelter.id), "admitted_on": YESTERDAY.isoformat()}
        if not change:
            del body["shelter_id"]
        for name, value in change.items():
            body[name] = substitutes.get(value, value) if isinstance(value, str) else value
        response = api.post(f"/api/v1/survivors/{case.sid}/placements", json=body)
        if field == "status":  # read-only: refused by the guard, naming it
            assert problem(response, 403)["fields"] == ["status"]
        else:
            problem(response, 422, field)
    assert db_state(app) == before


TRANSFER_BAD = [
    ({"on": None}, "on"), ({"on": TOMORROW.isoformat()}, "on"), ({"on": "yesterday"}, "on"),
    ({"on": 1}, "on"), ({"on": "2026-01-01\x00"}, "on"),
    ({"on": (TODAY - timedelta(days=30)).isoformat()}, "on"),  # before the admission
    ({"shelter_id": None, "bed_id": None}, "bed_id"),
    ({"shelter_id": "UNKNOWN"}, "shelter_id"), ({"bed_id": "UNKNOWN"}, "bed_id"),
    ({"bed_id": KB10}, "bed_id"), ({"shelter_id": 3.5}, "shelter_id"),
    ({"shelter_id": "OTHER", "bed_id": "MINE"}, "bed_id"),
    ({"reason": "x"}, "reason"),
]
DISCHARGE_BAD = [
    ({"on": None}, "on"), ({"on": TOMORROW.isoformat()}, "on"), ({"on": "02/01/2026"}, "on"),
    ({"on": (TODAY - timedelta(days=30)).isoformat()}, "on"),  # discharge before admission
    ({"reason": None}, "reason"), ({"reason": "   "}, "reason"), ({"reason": KB10}, "reason"),
    ({"reason": "a\x00b"}, "reason"), ({"reason": "bell\x07"}, "reason"),
    ({"reason": "lone \ud800"}, "reason"), ({"reason": 5}, "reason"), ({"reason": ["x"]}, "reason"),
    ({"bed_id": "x"}, "bed_id"),
]


def test_transfer_and_discharge_refuse_bad_input(app, case):
    pid = admit_direct(app, case.sid, case.shelter.id, case.shelter.beds[0],
                       admitted_on=TODAY - timedelta(days=7))
    substitutes = {"UNKNOWN": str(uuid.uuid4()), "OTHER": str(case.other.id),
                   "MINE": str(case.shelter.beds[1])}
    api = login_api(app, case.cw)
    before = db_state(app)
    cases = ([("transfer", c, f) for c, f in TRANSFER_BAD]
             + [("discharge", c, f) for c, f in DISCHARGE_BAD])
    for action, change, field in cases:
        body = {"on": YESTERDAY.isoformat()}
        body.update({"shelter_id": str(case.other.id)} if action == "transfer"
                    else {"reason": "Moved on."})
        for name, value in change.items():
            body[name] = substitutes.get(value, value) if isinstance(value, str) else value
        if "shelter_id" in change and change["shelter_id"] is None:  # neither bed nor shelter
            del body["shelter_id"], body["bed_id"]
        response = api.post(f"/api/v1/placements/{pid}/{action}", json=body)
        problem(response, 422, field)
    assert db_state(app) == before


def test_non_object_bodies_are_refused(app, case):
    pid = admit_direct(app, case.sid, case.shelter.id)
    api = login_api(app, case.cw)
    before = db_state(app)
    for payload in ([], "x", 5, None, [{"on": "2026-01-01"}]):
        for response in (api.post(f"/api/v1/survivors/{case.sid}/placements", json=payload),
                         api.patch(f"/api/v1/placements/{pid}", json=payload),
                         api.post(f"/api/v1/placements/{pid}/transfer", json=payload),
                         api.post(f"/api/v1/placements/{pid}/discharge", json=payload)):
            assert response.status_code in (400, 422), response.text[:300]
            assert response.mimetype == "application/problem+json"
    assert db_state(app) == before


def test_page_forms_refuse_bad_input_next_to_the_field(app, case):
    web = login_web(app, case.cw)
    url = f"/survivors/{case.sid}/placements"
    before = db_state(app)
    for data, field in [
        ({"shelter_id": "", "admitted_on": YESTERDAY.isoformat()}, "shelter_id"),
        ({"shelter_id": str(uuid.uuid4()), "admitted_on": YESTERDAY.isoformat()}, "shelter_id"),
        ({"shelter_id": str(case.shelter.id), "admitted_on": TOMORROW.isoformat()},
         "admitted_on"),
        ({"shelter_id": str(case.shelter.id), "admitted_on": "not a date"}, "admitted_on"),
        ({"shelter_id": str(case.shelter.id), "bed_id": str(case.other.beds[0]),
          "admitted_on": YESTERDAY.isoformat()}, "bed_id"),
        ({"shelter_id": str(case.shelter.id), "admitted_on": YESTERDAY.isoformat(),
          "expected_discharge_on": "2001-01-01"}, "expected_discharge_on"),
    ]:
        response = web.post_form(url, data)
        assert response.status_code == 422, (data, response.status_code)
        assert f'id="{field}-error"' in response.text, (data, field)
    pid = admit_direct(app, case.sid, case.shelter.id)
    before = db_state(app)
    response = web.post_form(f"/placements/{pid}/discharge",
                             {"discharged_on": YESTERDAY.isoformat(),
                              "discharge_reason": "a\x00b"}, page=url)
    assert response.status_code == 422 and 'id="discharge_reason-error"' in response.text
    response = web.post_form(f"/placements/{pid}/discharge",
                             {"discharged_on": YESTERDAY.isoformat(),
                              "discharge_reason": KB10}, page=url)
    assert response.status_code == 422
    assert db_state(app) == before


# --- the database's own guarantees ---------------------------------------------------------------


def test_database_refuses_a_second_open_placement_of_a_bed_or_a_survivor(app, make, case):
    """The rules hold in the database itself, whatever Python does (both engines)."""
    from casework.models_base import utcnow

    admit_direct(app, case.sid, case.shelter.id, case.shelter.beds[0])
    second = make.survivor(case.cw)
    table = Placement.__table__

    def row(**values):
        return {"id": uuid.uuid4(), "shelter_id": case.shelter.id, "admitted_on": YESTERDAY,
                "status": "open", "created_at": utcnow(), "updated_at": utcnow(), **values}

    def refused(**values):
        with app.app_context():
            with pytest.raises(IntegrityError):
                db.session.execute(insert(table).values(**row(**values)))
            db.session.rollback()

    refused(survivor_id=second, bed_id=case.shelter.beds[0])  # the same bed
    refused(survivor_id=case.sid, bed_id=case.shelter.beds[1])  # the same survivor
    refused(survivor_id=second, bed_id=case.other.beds[0])  # a bed of another shelter
    refused(survivor_id=second, bed_id=case.shelter.beds[1], status="closed",
            discharged_on=YESTERDAY - timedelta(days=3), ended_by="discharge")  # left first
    refused(survivor_id=second, bed_id=case.shelter.beds[1], status="closed")  # no end date
    refused(survivor_id=second, bed_id=case.shelter.beds[1], discharged_on=TODAY,
            ended_by="discharge")  # open with an end date
    refused(survivor_id=second, bed_id=case.shelter.beds[1],
            expected_discharge_on=YESTERDAY - timedelta(days=1))
    # Closed stays of the same bed and survivor are history, and allowed.
    with app.app_context():
        for _ in range(2):
            db.session.execute(insert(table).values(**row(
                survivor_id=case.sid, bed_id=case.shelter.beds[0], admitted_on=date(2025, 1, 1),
                discharged_on=date(2025, 1, 5), status="closed", ended_by="discharge")))
        db.session.commit()
    assert len(placements(app, case.sid)) == 3


# --- concurrency ----------------------------------------------------------------------------------


@contextmanager
def serve(app):
    """The real app behind a threaded werkzeug server on a random local port."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(10)


def _post(port, path, token, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), json.loads(response.read())
    finally:
        conn.close()


def _together(jobs):
    """Run the callables at once (a barrier releases them together); their results."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(i, job):
        barrier.wait()
        try:
            results[i] = job()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return results


@pytest.mark.skipif(ENGINE != "postgresql", reason=(
    "PostgreSQL only: SQLite takes the write lock at BEGIN IMMEDIATE (casework/web.py), so "
    "concurrent requests never race there; on PostgreSQL the shelter row lock and the partial "
    "unique indexes must do it"))
def test_concurrent_admissions_fill_exactly_the_capacity(app, make):
    workers = [make.user("caseworker", team="North") for _ in range(4)]
    survivors = [make.survivor(workers[i % 4]) for i in range(40)]
    shelter = make_shelter(app, "Crowded (test)", beds=10)
    tokens = [login_api(app, w).token for w in workers]
    with serve(app) as port:
        results = _together([
            (lambda i=i, sid=sid: _post(port, f"/api/v1/survivors/{sid}/placements",
                                        tokens[i % 4], {"shelter_id": str(shelter.id),
                                                        "admitted_on": YESTERDAY.isoformat()}))
            for i, sid in enumerate(survivors)])
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, errors[:3]
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [201] * 10 + [409] * 30, statuses
        for status, content_type, body in results:
            if status == 409:
                assert content_type == "application/problem+json"
                assert body["status"] == 409 and "full" in body["detail"]
        rows = [r for r in placements(app) if r["discharged_on"] is None]
        assert len(rows) == 10
        assert len({r["bed_id"] for r in rows}) == 10 == len({r["survivor_id"] for r in rows})

        # One survivor, five shelters at once: exactly one admission.
        one = make.survivor(workers[0])
        others = [make_shelter(app, f"Spare {n} (test)", beds=1) for n in range(5)]
        results = _together([
            (lambda s=s: _post(port, f"/api/v1/survivors/{one}/placements", tokens[0],
                               {"shelter_id": str(s.id), "admitted_on": YESTERDAY.isoformat()}))
            for s in others])
        statuses = sorted(r[0] for r in results)
        assert statuses == [201] + [409] * 4, results
        assert len([r for r in placements(app, one) if r["discharged_on"] is None]) == 1
    with app.app_context():
        from casework import audit

        assert audit.verify().ok


def test_admissions_beyond_capacity_are_refused_on_every_engine(app, make):
    cw = make.user("caseworker")
    shelter = make_shelter(app, "Small (test)", beds=3)
    api = login_api(app, cw)
    statuses = [api.post(f"/api/v1/survivors/{make.survivor(cw)}/placements", json={
        "shelter_id": str(shelter.id), "admitted_on": YESTERDAY.isoformat()}).status_code
        for _ in range(5)]
    assert statuses == [201, 201, 201, 409, 409]
    assert len({r["bed_id"] for r in placements(app)}) == 3


# --- shelter nights --------------------------------------------------------------------------------


def test_shelter_nights_are_counted_within_the_period(app, make):
    cw = make.user("caseworker")
    shelter = make_shelter(app, beds=3)
    a, b, c = (make.survivor(cw) for _ in range(3))
    with app.test_request_context("/"):
        actor = db.session.get(User, cw.id)
        sa, sb = db.session.get(Survivor, a), db.session.get(Survivor, b)
        # a: 1 Mar – 11 Mar (10 nights), moved on 6 Mar: still 10 nights in all
        p = service.admit(actor, sa, {"shelter_id": str(shelter.id), "admitted_on": "2026-03-01"})
        p = service.transfer(actor, p, {"bed_id": str(shelter.beds[2]), "on": "2026-03-06"})
        service.discharge(actor, p, {"on": "2026-03-11", "reason": "Moved on."})
        # b: 25 Feb and still there
        service.admit(actor, sb, {"shelter_id": str(shelter.id), "admitted_on": "2026-02-25"})
        db.session.commit()
        nights = service.shelter_nights
        assert nights(start=date(2026, 3, 1), end=date(2026, 3, 31), survivor_ids=[a]) == 10
        assert nights([a], date(2026, 3, 5), date(2026, 3, 7)) == 3  # nights of 5, 6, 7 March
        assert nights([a], date(2026, 3, 11), date(2026, 3, 31)) == 0  # left that morning
        assert nights([a], date(2026, 2, 1), date(2026, 2, 28)) == 0
        assert nights([b], date(2026, 2, 1), date(2026, 2, 28)) == 4  # 25–28 Feb
        # an open stay counts up to today, never a future night
        assert nights([b], date(2026, 3, 1), date(2026, 3, 31)) == 31
        assert nights([b], TODAY, TODAY + timedelta(days=30)) == 0
        assert nights([b], date(2026, 3, 1), date(2026, 3, 31), today=date(2026, 3, 10)) == 9
        assert nights(None, date(2026, 3, 1), date(2026, 3, 10)) == 10 + 10
        assert nights([c], date(2026, 1, 1), date(2026, 12, 31)) == 0
        assert nights([], date(2026, 1, 1), date(2026, 12, 31)) == 0
        assert nights([a], date(2026, 3, 31), date(2026, 3, 1)) == 0
        with pytest.raises(TypeError):
            nights([a])


# --- the occupancy board: who sees whom ------------------------------------------------------------


def test_the_occupancy_board_shows_occupants_only_to_those_entitled(app, make):
    lead = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="North")
    supervisor = make.user("supervisor", team="North")
    outsider = make.user("caseworker", team="South")
    outsider_sup = make.user("supervisor", team="South")
    admin = make.user("admin")
    sid = make.survivor(lead, known_as="KNOWNAS-BOARD-1", collaborator_ids=[counsellor.id])
    shelter = make_shelter(app, beds=3)
    admit_direct(app, sid, shelter.id, shelter.labels["A2"],
                 expected_discharge_on=(TODAY + timedelta(days=4)).isoformat())
    with app.app_context():
        case_number = db.session.get(Survivor, sid).case_number
    expectations = {  # user -> (case number shown, known-as shown)
        lead: (True, True), counsellor: (True, True), supervisor: (True, False),
        outsider: (False, False), outsider_sup: (False, False), admin: (False, False),
    }
    for user, (number, name) in expectations.items():
        page = login_web(app, user).get(f"/shelters/{shelter.id}")
        assert page.status_code == 200
        assert (case_number in page.text) == number, user.role
        assert ("KNOWNAS-BOARD-1" in page.text) == name, user.role
        assert ('data-occupant="hidden"' in page.text) == (not number)
        assert re.search(r'data-count="free">\s*2<', page.text)
        assert ("expected-discharges" in page.text) == number
        board = login_api(app, user).get(f"/api/v1/shelters/{shelter.id}/occupancy")
        assert board.status_code == 200
        body = board.json
        assert (body["capacity"], body["occupied"], body["free"]) == (3, 1, 2)
        bed = next(b for b in body["beds"] if b["label"] == "A2")
        assert bed["occupied"] is True
        assert ("survivor" in bed) == number
        if number:
            assert bed["survivor"]["case_number"] == case_number
            assert ("known_as" in bed["survivor"]) == name
            assert bed["placement"]["survivor_id"] == str(sid)
            assert body["expected_discharges"][0]["label"] == "A2"
        else:
            assert "placement" not in bed and body["expected_discharges"] == []
            assert case_number not in board.text and str(sid) not in board.text
    with app.app_context():
        viewed = db.session.execute(
            select(AuditEvent.actor_id, AuditEvent.subject_id, AuditEvent.fields)
            .where(AuditEvent.action == "shelter.occupancy_viewed")).all()
        db.session.rollback()
    # two views (page + API) each by lead, counsellor, supervisor; none by the others
    assert sorted(str(r.actor_id) for r in viewed) == sorted(
        str(u.id) for u in (lead, counsellor, supervisor) for _ in range(2))
    assert all(r.subject_id == sid for r in viewed)
    assert {tuple(r.fields) for r in viewed if r.actor_id == supervisor.id} == {
        ("case_number", "placement.admitted_on", "placement.expected_discharge_on",
         "placement.id", "placement.survivor_id")}
    # Break-glass opens the known-as name on the board too, for that survivor only.
    sup_api = login_api(app, supervisor)
    sup_api.post(f"/api/v1/survivors/{sid}/break-glass",
                 json={"reason": "Emergency: safety check requested by police."})
    bed = next(b for b in sup_api.get(f"/api/v1/shelters/{shelter.id}/occupancy").json["beds"]
               if b["label"] == "A2")
    assert bed["survivor"]["known_as"] == "KNOWNAS-BOARD-1"


# --- statement counts -------------------------------------------------------------------------------


@contextmanager
def count_statements(app):
    counter = {"n": 0}

    def before(conn, cursor, statement, parameters, context, executemany):
        counter["n"] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _fill_board(app, cw_id, shelter_id, n):
    """``n`` survivors of ``cw``, each admitted to a bed of the shelter."""
    with app.test_request_context("/"):
        from casework.survivors import service as survivor_service

        actor = db.session.get(User, cw_id)
        for _ in range(n):
            survivor = survivor_service.create(actor, {"intake_date": date(2026, 1, 15),
                                                       "known_as": "Board"})
            service.admit(actor, survivor, {"shelter_id": str(shelter_id),
                                             "admitted_on": YESTERDAY.isoformat()})
        db.session.commit()


def _history(app, cw_id, sid, shelter, n):
    """``n`` past stays of one survivor, one after another."""
    with app.test_request_context("/"):
        actor = db.session.get(User, cw_id)
        survivor = db.session.get(Survivor, sid)
        day = date(2024, 1, 1)
        for i in range(n):
            placement = service.admit(actor, survivor, {
                "shelter_id": str(shelter.id), "admitted_on": day.isoformat(),
                "expected_discharge_on": (day + timedelta(days=5)).isoformat()})
            if i % 3 == 1:
                placement = service.transfer(actor, placement, {
                    "bed_id": str(shelter.beds[1]), "on": (day + timedelta(days=1)).isoformat()})
            service.discharge(actor, placement, {"on": (day + timedelta(days=3)).isoformat(),
                                                 "reason": f"Reason {i}."})
            day += timedelta(days=4)
        db.session.commit()


@pytest.mark.parametrize("role", ["caseworker", "supervisor"])
def test_statement_counts_do_not_grow_with_records(app, make, role):
    """Board, placements page and API, shelter lists and the timeline provider: the same
    number of statements for 1 record as for 50."""
    counts: dict[str, list[int]] = {}
    for n in (1, 50):
        with app.app_context():
            _empty_all_tables()
        cw = make.user("caseworker", team="North")
        viewer = cw if role == "caseworker" else make.user("supervisor", team="North")
        web, api = login_web(app, viewer), login_api(app, viewer)
        board = make_shelter(app, "Board (test)", beds=50)
        _fill_board(app, cw.id, board.id, n)
        sid = make.survivor(cw)
        _history(app, cw.id, sid, make_shelter(app, "History (test)", beds=2), n)
        for k in range(n):
            make_shelter(app, f"Listed {k:02d} (test)", beds=1)
        fetches = {
            "board_page": (web, f"/shelters/{board.id}"),
            "board_api": (api, f"/api/v1/shelters/{board.id}/occupancy"),
            "placements_page": (web, f"/survivors/{sid}/placements"),
            "placements_api": (api, f"/api/v1/survivors/{sid}/placements?limit=200"),
            "shelter_list": (web, "/shelters/"),
            "shelter_api": (api, "/api/v1/shelters?limit=200"),
        }
        for name, (client, url) in fetches.items():
            client.get(url)  # warm caches (templates) first
            with count_statements(app) as counter:
                response = client.get(url)
            assert response.status_code == 200, (name, response.text[:300])
            counts.setdefault(name, []).append(counter["n"])
        with app.test_request_context("/"):
            user = db.session.get(User, viewer.id)
            survivor = db.session.get(Survivor, sid)
            with count_statements(app) as counter:
                events = service.timeline_events(user, survivor)
            counts.setdefault("timeline_provider", []).append(counter["n"])
        transfers = len([i for i in range(n) if i % 3 == 1])
        assert len(events) == 2 * n + transfers
        assert web.get(f"/shelters/{board.id}").text.count('data-occupant="') == n
        page = web.get(f"/survivors/{sid}/placements").text
        assert page.count('data-placement="') == n + transfers
    for name, (one, fifty) in counts.items():
        assert one == fifty, f"{name}: {one} statements for 1 record, {fifty} for 50"


# --- the timeline ---------------------------------------------------------------------------------


def test_timeline_shows_placements_as_far_as_the_viewer_may_read(app, make, case):
    counsellor = make.user("counsellor", team="North")
    supervisor = make.user("supervisor", team="North")
    api = login_api(app, case.cw)
    api.patch(f"/api/v1/survivors/{case.sid}", json={"collaborator_ids": [str(counsellor.id)]})
    pid = admit_direct(app, case.sid, case.shelter.id, admitted_on=TODAY - timedelta(days=3))
    api.post(f"/api/v1/placements/{pid}/discharge",
             json={"on": YESTERDAY.isoformat(), "reason": "REASON-MARKER-9"})
    for user, reason in ((case.cw, True), (supervisor, True), (counsellor, False)):
        items = login_api(app, user).get(f"/api/v1/survivors/{case.sid}/timeline").json["items"]
        kinds = [i["kind"] for i in items if i["record_type"] == "placement"]
        assert kinds == ["placement.discharged", "placement.admitted"]
        for item in items:
            if item["record_type"] == "placement":
                assert ("discharge_reason" in item["fields"]) == reason
                assert item["fields"]["shelter_id"] == str(case.shelter.id)
        page = login_web(app, user).get(f"/survivors/{case.sid}/timeline").text
        assert ("REASON-MARKER-9" in page) == reason
        assert "Harbour House (test)" in page


# --- the access matrix -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ctx:
    key: str
    user: str
    role: str
    relationship: str

    def granted(self, permission) -> set[str]:
        return {n for n, s in SPECS.items()
                if permission in permissions(self.role, self.relationship, s.tier)}

    @property
    def readable(self) -> set[str]:
        return self.granted(READ)

    @property
    def writable(self) -> set[str]:
        return {n for n in self.granted(WRITE) if not SPECS[n].read_only}


CONTEXTS = [
    Ctx("lead_caseworker", "lead", "caseworker", "assigned"),
    Ctx("other_team_caseworker", "cw_south", "caseworker", "none"),
    Ctx("counsellor_collaborator", "counsellor", "counsellor", "assigned"),
    Ctx("same_team_supervisor", "sup", "supervisor", "team"),
    Ctx("other_team_supervisor", "sup_south", "supervisor", "none"),
    Ctx("admin", "admin", "admin", "none"),
    Ctx("donor", "donor", "donor", "none"),
]
USERS = {"lead": ("caseworker", "North"), "cw_south": ("caseworker", "South"),
         "counsellor": ("counsellor", "North"), "sup": ("supervisor", "North"),
         "sup_south": ("supervisor", "South"), "admin": ("admin", None),
         "donor": ("donor", None)}
MATRIX_SURFACES = ("page", "form", "api_read", "api_write", "timeline_page", "timeline_api")
# How each placement field appears on the placements page, where it appears at all.
PAGE_COLUMNS = {"shelter_id", "bed_id", "admitted_on", "expected_discharge_on", "discharged_on",
                "status", "ended_by", "discharge_reason"}
REASON = "DISCHARGE-REASON-MARKER-5"
# Which page control writes which field (the transfer form's date ends one stay and begins the
# next).
FORMS = {form: cls.WRITES for form, cls in (("admit", AdmitForm), ("transfer", TransferForm),
                                            ("discharge", DischargeForm),
                                            ("expected", ExpectedDischargeForm))}


class MatrixWorld:
    def __init__(self, app):
        self.app = app
        self.users, self.web, self.api = {}, {}, {}

    def snapshot(self) -> list[dict]:
        with self.app.app_context():
            rows = [dict(r) for r in db.session.execute(
                select(Placement.__table__).order_by(Placement.admitted_on, Placement.id)
            ).mappings()]
            db.session.rollback()
        return rows

    @contextmanager
    def preserved(self):
        before = self.snapshot()
        try:
            yield before
        finally:
            if self.snapshot() != before:
                with self.app.app_context():
                    table = Placement.__table__
                    db.session.execute(table.update().values(previous_placement_id=None))
                    db.session.execute(table.delete())
                    for row in before:
                        db.session.execute(insert(table).values(
                            **{**row, "previous_placement_id": None}))
                    for row in before:
                        if row["previous_placement_id"]:
                            db.session.execute(table.update().where(table.c.id == row["id"])
                                               .values(previous_placement_id=row[
                                                   "previous_placement_id"]))
                    db.session.commit()
                assert self.snapshot() == before


@pytest.fixture(scope="module")
def world(app):
    with app.app_context():
        _empty_all_tables()
    make = Factory(app)
    w = MatrixWorld(app)
    for key, (role, team) in USERS.items():
        w.users[key] = make.user(role, team=team, username=f"m-{key.replace('_', '-')}")
    w.sid = make.survivor(w.users["lead"], collaborator_ids=[w.users["counsellor"].id],
                          known_as="KNOWN-MATRIX")
    w.sid2 = make.survivor(w.users["lead"], collaborator_ids=[w.users["counsellor"].id])
    w.shelter = make_shelter(app, "Matrix House (test)", beds=4)
    w.spare = make_shelter(app, "Matrix Annex (test)", beds=2)
    old = admit_direct(app, w.sid, w.shelter.id, w.shelter.beds[0],
                       admitted_on=TODAY - timedelta(days=40))
    with app.test_request_context("/"):
        lead = db.session.get(User, w.users["lead"].id)
        service.discharge(lead, db.session.get(Placement, old),
                          {"on": (TODAY - timedelta(days=30)).isoformat(), "reason": REASON})
        db.session.commit()
    w.closed = old
    w.open = admit_direct(app, w.sid, w.shelter.id, w.shelter.beds[1],
                          admitted_on=TODAY - timedelta(days=20),
                          expected_discharge_on=(TODAY + timedelta(days=10)).isoformat())
    for key, user in w.users.items():
        w.web[key] = login_web(app, user)
        w.api[key] = login_api(app, user)
    yield w
    with app.app_context():
        _empty_all_tables()


def _write_request(w, ctx, name):
    """(method, url, body, placement fields the request writes) for writing ``name``."""
    on = YESTERDAY.isoformat()
    if name in ("shelter_id", "bed_id"):
        body = ({"shelter_id": str(w.spare.id)} if name == "shelter_id"
                else {"bed_id": str(w.shelter.beds[2])})
        return ("post", f"/api/v1/placements/{w.open}/transfer", {**body, "on": on},
                service.ADMISSION_WRITES | {"discharged_on"})
    if name == "admitted_on":
        return ("post", f"/api/v1/survivors/{w.sid2}/placements",
                {"shelter_id": str(w.spare.id), "admitted_on": on}, service.ADMISSION_WRITES)
    if name in ("discharged_on", "discharge_reason"):
        return ("post", f"/api/v1/placements/{w.open}/discharge",
                {"on": on, "reason": "Matrix discharge."}, {"discharged_on", "discharge_reason"})
    if name == "expected_discharge_on":
        return ("patch", f"/api/v1/placements/{w.open}",
                {name: (TODAY + timedelta(days=12)).isoformat()}, {name})
    forged = {"id": str(uuid.uuid4()), "survivor_id": str(w.sid2), "status": "closed",
              "ended_by": "transfer", "previous_placement_id": str(w.closed),
              "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"}
    return ("patch", f"/api/v1/placements/{w.open}", {name: forged[name]}, {name})


def check_page(w, ctx, name):
    response = w.web[ctx.user].get(f"/survivors/{w.sid}/placements")
    if not ctx.readable:
        assert response.status_code == 404, ctx.key
        assert REASON not in response.text
        return
    assert response.status_code == 200, ctx.key
    shown = set(re.findall(r'<th scope="col" data-field="([a-z_]+)"', response.text))
    assert (name in shown) == (name in ctx.readable and name in PAGE_COLUMNS), (ctx.key, name)
    if name == "discharge_reason":
        assert (REASON in response.text) == (name in ctx.readable), ctx.key


def _controls(html: str) -> set[str]:
    """Names of the form controls in the page's main content (not the navigation)."""
    main = html[html.index('<main'):]
    names = set(re.findall(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"', main))
    return names - {"csrf_token"}


def check_form(w, ctx, name):
    """A control writing ``name`` is on the page iff some form writing it is shown, and a form
    is shown iff the user may write every field it writes."""
    for sid, forms in ((w.sid, ("transfer", "discharge", "expected")), (w.sid2, ("admit",))):
        response = w.web[ctx.user].get(f"/survivors/{sid}/placements")
        if not ctx.readable:
            assert response.status_code == 404
            continue
        controls = _controls(response.text)
        shown = [f for f in forms
                 if frozenset().union(*FORMS[f].values()) <= ctx.writable]
        expected = {control for f in shown for control in FORMS[f]}
        assert controls == expected, (ctx.key, sid == w.sid, controls, expected)
        writes_name = {c for f in shown for c, fields in FORMS[f].items() if name in fields}
        assert bool(writes_name & controls) == bool(writes_name), (ctx.key, name)
        if writes_name:
            assert name in ctx.writable


def check_api_read(w, ctx, name):
    one = w.api[ctx.user].get(f"/api/v1/placements/{w.closed}")
    listed = w.api[ctx.user].get(f"/api/v1/survivors/{w.sid}/placements")
    if not ctx.readable:
        problem(one, 404)
        problem(listed, 404)
        assert REASON not in one.text + listed.text
        return
    assert one.status_code == 200 and listed.status_code == 200
    assert (name in one.json) == (name in ctx.readable), (ctx.key, name)
    assert set(one.json) == ctx.readable
    for item in listed.json["items"]:
        assert set(item) == ctx.readable
    if name == "discharge_reason":
        assert (REASON in one.text) == (name in ctx.readable)


def check_api_write(w, ctx, name):
    method, url, body, writes = _write_request(w, ctx, name)
    with w.preserved() as before:
        response = getattr(w.api[ctx.user], method)(url, json=body)
        after = w.snapshot()
        where = f"{ctx.key}: write {name}"
        if not ctx.readable:
            problem(response, 404)
            assert after == before, where
        elif SPECS[name].read_only or not writes <= ctx.writable:
            body = problem(response, 403)
            assert body["fields"] == sorted(writes - ctx.writable), (where, body)
            assert after == before, where
        else:
            assert response.status_code in (200, 201), (where, response.text[:400])
            assert after != before, where


def check_timeline(w, ctx, name, surface):
    if surface == "timeline_api":
        response = w.api[ctx.user].get(f"/api/v1/survivors/{w.sid}/timeline")
        if not ctx.readable:
            problem(response, 404)
            return
        items = [i for i in response.json["items"] if i["record_type"] == "placement"]
        assert items, ctx.key
        for item in items:
            assert set(item["fields"]) == ctx.readable, ctx.key
        return
    response = w.web[ctx.user].get(f"/survivors/{w.sid}/timeline")
    if not ctx.readable:
        assert response.status_code == 404
        return
    assert 'data-kind="placement.discharged"' in response.text
    if name == "discharge_reason":
        assert (REASON in response.text) == (name in ctx.readable), ctx.key
    label = str(escape(str(service.FIELD_LABELS.get(name, "")))) if name in service.FIELD_LABELS \
        else None
    if label and name not in ctx.readable:
        assert f">{label}</dt>" not in response.text, (ctx.key, name)


@pytest.mark.parametrize(("ctx", "name", "surface"), [
    pytest.param(c, n, s, id=f"{c.key}-{n}-{s}")
    for c in CONTEXTS for n in SPECS for s in MATRIX_SURFACES])
def test_placement_field_matrix(world, ctx, name, surface):
    if surface == "page":
        check_page(world, ctx, name)
    elif surface == "form":
        check_form(world, ctx, name)
    elif surface == "api_read":
        check_api_read(world, ctx, name)
    elif surface == "api_write":
        check_api_write(world, ctx, name)
    else:
        check_timeline(world, ctx, name, surface)


def test_matrix_covers_every_tier_that_matters():
    tiers = {spec.tier for spec in SPECS.values()}
    assert tiers == {"operational", "sensitive"}
    assert SPECS["discharge_reason"].tier == "sensitive"
    assert SPECS["survivor_id"].read_only and SPECS["status"].read_only
    # the policy gives the contexts different views: the matrix is not trivially uniform
    views = {frozenset(c.readable) for c in CONTEXTS}
    assert len(views) == 3


def test_page_form_posts_cannot_write_what_the_user_may_not(world):
    """Crafted form POSTs, one per action, from every context: done where the policy allows,
    else refused whole (403, or 404 out of scope) with nothing changed."""
    w = world
    posts = {
        "admit": (f"/survivors/{w.sid2}/placements",
                  {"shelter_id": str(w.spare.id), "admitted_on": YESTERDAY.isoformat()}),
        "transfer": (f"/placements/{w.open}/transfer",
                     {"transfer_shelter_id": str(w.spare.id),
                      "transfer_on": YESTERDAY.isoformat()}),
        "discharge": (f"/placements/{w.open}/discharge",
                      {"discharged_on": YESTERDAY.isoformat(), "discharge_reason": "Crafted."}),
        "expected": (f"/placements/{w.open}/expected",
                     {"expected_discharge_on": TOMORROW.isoformat()}),
    }
    for ctx in CONTEXTS:
        web = w.web[ctx.user]
        home = web.get("/", follow_redirects=True).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', home).group(1)
        for form, (url, data) in posts.items():
            writes = frozenset().union(*FORMS[form].values())
            with w.preserved() as before:
                response = web.client.post(url, data={**data, "csrf_token": token})
                after = w.snapshot()
            where = (ctx.key, form)
            if not ctx.readable:
                assert response.status_code == 404, where
            elif writes <= ctx.writable:
                assert response.status_code == 302, (where, response.text[:1500])
                assert after != before, where
                continue
            else:
                assert response.status_code == 403, where
            assert after == before, where


# --- OpenAPI and demo ---------------------------------------------------------------------------------


def test_openapi_documents_shelters_and_placements(app):
    from openapi_spec_validator import validate

    document = app.test_client().get("/api/v1/openapi.json").json
    validate(document)
    assert set(document["components"]["schemas"]["Placement"]["properties"]) == set(SPECS)
    for path in ("/api/v1/shelters", "/api/v1/shelters/{shelter_id}",
                 "/api/v1/shelters/{shelter_id}/occupancy",
                 "/api/v1/survivors/{survivor_id}/placements",
                 "/api/v1/placements/{placement_id}/transfer",
                 "/api/v1/placements/{placement_id}/discharge"):
        assert path in document["paths"], path
    post = document["paths"]["/api/v1/survivors/{survivor_id}/placements"]["post"]
    assert {"201", "409", "422"} <= set(post["responses"])


def test_demo_seed_places_about_forty_survivors(app, make):
    from casework.shelters.demo import seed_demo

    users = {"admin": make.user("admin")}
    leads = [make.user("caseworker", team="North") for _ in range(2)]
    rng = random.Random(7)
    sids = [make.survivor(leads[i % 2], gender=rng.choice(["Feminine", "Masculine", None]),
                          intake_date=TODAY - timedelta(days=rng.randint(0, 600)),
                          date_of_birth=date(rng.randint(1970, 2011), 1, 1))
            for i in range(80)]
    with app.app_context():  # as `flask seed-demo` runs it: no request
        seed_users = {"admin": db.session.get(User, users["admin"].id)}
        survivors = [db.session.get(Survivor, sid) for sid in sids]
        seed_demo(random.Random(2026), survivors, seed_users)
        db.session.commit()
        shelters = list(db.session.scalars(select(Shelter)))
        assert len(shelters) == 3 and all("(demo)" in s.name for s in shelters)
        assert all(8 <= len(s.beds) <= 12 for s in shelters)
        assert any(b.restrictions for s in shelters for b in s.beds)
    rows = placements(app)
    placed = {r["survivor_id"] for r in rows}
    assert 30 <= len(placed) <= 45
    assert any(r["discharge_reason"] for r in rows if r["ended_by"] == "discharge")
    assert any(r["ended_by"] == "transfer" for r in rows)
    assert any(r["expected_discharge_on"] for r in rows if r["discharged_on"] is None)
    open_rows = [r for r in rows if r["discharged_on"] is None]
    assert len({r["bed_id"] for r in open_rows}) == len(open_rows)


def test_timeline_page_does_not_grow_with_placements(app, make):
    counts = []
    for n in (1, 50):
        with app.app_context():
            _empty_all_tables()
        cw = make.user("caseworker", team="North")
        sid = make.survivor(cw)
        _history(app, cw.id, sid, make_shelter(app, "History (test)", beds=2), n)
        web = login_web(app, cw)
        web.get(f"/survivors/{sid}/timeline")
        with count_statements(app) as counter:
            assert web.get(f"/survivors/{sid}/timeline").status_code == 200
        counts.append(counter["n"])
    assert counts[0] == counts[1], counts
