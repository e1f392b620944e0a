"""Funded programmes: admins write them, staff read them, a donor reads only those it funds;
survivors carry the programmes paying for their services (programme_ids)."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import Forbidden, NotFound

from casework import web
from casework.audit.models import AuditEvent
from casework.auth.models import User
from casework.auth.service import deactivate_user
from casework.extensions import db
from casework.programmes import service
from casework.programmes.models import Programme, programme_donors, survivor_programmes
from casework.survivors.models import Survivor
from tests.conftest import login_api, login_web

STAFF = ("caseworker", "counsellor", "supervisor")
CONTRACT_FIELDS = {"id", "name", "donor_ids", "starts_on", "ends_on"}


def _new(api, name="Safe Futures Programme (demo)", **fields):
    body = {"name": name, "starts_on": "2026-01-01", **fields}
    response = api.post("/api/v1/programmes", json=body)
    assert response.status_code == 201, response.json
    return response.json


def _state(app) -> dict:
    """Everything a programme write can touch, comparable."""
    with app.app_context():
        programmes = db.session.execute(
            select(Programme.id, Programme.name, Programme.starts_on, Programme.ends_on,
                   Programme.updated_at).order_by(Programme.name)).all()
        donors = db.session.execute(select(programme_donors)).all()
        events = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.action.like("programme.%")))
        return {"programmes": sorted(map(tuple, programmes)),
                "donors": sorted(map(tuple, donors)), "events": events}


def _events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


@pytest.fixture
def people(app, make):
    class People:
        admin = make.user("admin")
        donor = make.user("donor", username="donor-funds")
        other_donor = make.user("donor", username="donor-other")
        caseworker = make.user("caseworker")
        counsellor = make.user("counsellor")
        supervisor = make.user("supervisor")

    return People


# --- the API, role by role ---------------------------------------------------------------------


def test_admin_creates_reads_and_changes_a_programme(app, people):
    api = login_api(app, people.admin)
    created = _new(api, donor_ids=[str(people.donor.id)], ends_on="2026-12-31")
    assert set(created) == CONTRACT_FIELDS
    assert created["name"] == "Safe Futures Programme (demo)"
    assert created["donor_ids"] == [str(people.donor.id)]
    assert (created["starts_on"], created["ends_on"]) == ("2026-01-01", "2026-12-31")
    pid = created["id"]
    assert api.get(f"/api/v1/programmes/{pid}").json == created
    assert api.get("/api/v1/programmes").json == {"items": [created], "next_cursor": None}

    changed = api.patch(f"/api/v1/programmes/{pid}", json={
        "name": "Safe Futures Programme II (demo)", "ends_on": None,
        "donor_ids": [str(people.donor.id), str(people.other_donor.id)]})
    assert changed.status_code == 200, changed.json
    assert changed.json["name"] == "Safe Futures Programme II (demo)"
    assert changed.json["ends_on"] is None
    assert set(changed.json["donor_ids"]) == {str(people.donor.id), str(people.other_donor.id)}
    assert api.get(f"/api/v1/programmes/{pid}").json == changed.json

    created_events = _events(app, "programme.created")
    assert [(e.subject_type, str(e.subject_id), e.actor_id) for e in created_events] == [
        ("programme", pid, people.admin.id)]
    assert created_events[0].fields == ["donor_ids", "ends_on", "name", "starts_on"]
    updated = _events(app, "programme.updated")
    assert len(updated) == 1 and updated[0].fields == ["donor_ids", "ends_on", "name"]
    # A PATCH that changes nothing writes no event.
    assert api.patch(f"/api/v1/programmes/{pid}", json={"name": changed.json["name"]}
                     ).status_code == 200
    assert len(_events(app, "programme.updated")) == 1


@pytest.mark.parametrize("role", STAFF)
def test_staff_read_every_programme_and_write_none(app, make, people, role):
    admin = login_api(app, people.admin)
    funded = _new(admin, "Funded (demo)", donor_ids=[str(people.donor.id)])
    unfunded = _new(admin, "Unfunded (demo)")
    staff = login_api(app, getattr(people, role))
    listed = staff.get("/api/v1/programmes")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json["items"]] == ["Funded (demo)", "Unfunded (demo)"]
    assert staff.get(f"/api/v1/programmes/{funded['id']}").json == funded
    before = _state(app)
    refused = staff.post("/api/v1/programmes", json={"name": "Mine (demo)",
                                                     "starts_on": "2026-01-01"})
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    refused = staff.patch(f"/api/v1/programmes/{unfunded['id']}", json={"name": "Renamed"})
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert _state(app) == before
    # Unknown ids are "not found", whoever asks.
    assert staff.get(f"/api/v1/programmes/{uuid.uuid4()}").status_code == 404


def test_the_access_policy_declares_who_reads_and_writes_programmes(app, people):
    with app.test_request_context("/"):
        from casework import access

        programme = service.create(db.session.get(User, people.admin.id), {
            "name": "Declared (demo)", "starts_on": "2026-01-01",
            "donor_ids": [str(people.donor.id)]})
        for key in ("admin", "caseworker", "counsellor", "supervisor"):
            user = db.session.get(User, getattr(people, key).id)
            assert access.allowed(user, "programmes.read", programme), key
            assert access.allowed(user, "programmes.write") == (key == "admin"), key
        donor = db.session.get(User, people.donor.id)
        other = db.session.get(User, people.other_donor.id)
        assert access.allowed(donor, "programmes.read", programme)
        assert not access.allowed(other, "programmes.read", programme)
        assert not access.allowed(donor, "programmes.write", programme)
        db.session.rollback()


def test_a_donor_reads_only_the_programmes_it_funds(app, people):
    """The service's scope (what the pages and the API both call)."""
    admin_api = login_api(app, people.admin)
    mine = _new(admin_api, "Mine (demo)", donor_ids=[str(people.donor.id),
                                                     str(people.other_donor.id)])
    theirs = _new(admin_api, "Theirs (demo)", donor_ids=[str(people.other_donor.id)])
    _new(admin_api, "Nobody's (demo)")
    with app.test_request_context("/"):
        donor = db.session.get(User, people.donor.id)
        assert [p.name for p in service.list_all(donor)] == ["Mine (demo)"]
        rows, cursor = service.list_page(donor, 10, None)
        assert [p.name for p in rows] == ["Mine (demo)"] and cursor is None
        programme = service.get(donor, mine["id"])
        # Which other accounts fund it is not the donor's business.
        assert service.donor_ids_shown(donor, programme) == [people.donor.id]
        with pytest.raises(NotFound):
            service.get(donor, theirs["id"])
        with pytest.raises(NotFound):
            service.get(donor, uuid.uuid4())
        with pytest.raises(Forbidden):
            service.update(donor, programme, {"name": "Hijacked"})
        with pytest.raises(Forbidden):
            service.create(donor, {"name": "New", "starts_on": "2026-01-01"})
        db.session.rollback()


def _donor_api_allowed() -> bool:
    """Whether the donor confinement (casework/web.py) lets donor tokens reach
    /api/v1/programmes; when it does not, every programme route answers a donor 404."""
    paths = getattr(web, "DONOR_API_PATHS", None)
    return paths is None or paths.fullmatch("/api/v1/programmes") is not None


def test_donor_api_never_reveals_a_programme_it_does_not_fund(app, people):
    admin_api = login_api(app, people.admin)
    mine = _new(admin_api, "Mine (demo)", donor_ids=[str(people.donor.id),
                                                     str(people.other_donor.id)])
    theirs = _new(admin_api, "Theirs (demo)", donor_ids=[str(people.other_donor.id)])
    donor = login_api(app, people.donor)
    before = _state(app)
    not_funded = donor.get(f"/api/v1/programmes/{theirs['id']}")
    assert not_funded.status_code == 404 and "Theirs" not in not_funded.text
    assert donor.patch(f"/api/v1/programmes/{theirs['id']}",
                       json={"name": "Hijacked"}).status_code == 404
    listed = donor.get("/api/v1/programmes")
    assert "Theirs" not in listed.text and str(people.other_donor.id) not in listed.text
    if _donor_api_allowed():
        assert listed.status_code == 200
        assert [p["id"] for p in listed.json["items"]] == [mine["id"]]
        assert listed.json["items"][0]["donor_ids"] == [str(people.donor.id)]
        assert donor.get(f"/api/v1/programmes/{mine['id']}").json["name"] == "Mine (demo)"
        assert donor.patch(f"/api/v1/programmes/{mine['id']}",
                           json={"name": "Hijacked"}).status_code == 403
        assert donor.post("/api/v1/programmes", json={"name": "New",
                                                      "starts_on": "2026-01-01"}
                          ).status_code == 403
    else:
        assert listed.status_code == 404
        assert donor.get(f"/api/v1/programmes/{mine['id']}").status_code == 404
    assert _state(app) == before


def test_list_is_paged_by_name(app, people):
    api = login_api(app, people.admin)
    for name in ("Charlie (demo)", "Alpha (demo)", "Bravo (demo)"):
        _new(api, name)
    first = api.get("/api/v1/programmes?limit=2").json
    assert [p["name"] for p in first["items"]] == ["Alpha (demo)", "Bravo (demo)"]
    assert first["next_cursor"]
    second = api.get(f"/api/v1/programmes?limit=2&cursor={first['next_cursor']}").json
    assert [p["name"] for p in second["items"]] == ["Charlie (demo)"]
    assert second["next_cursor"] is None
    bad = api.get("/api/v1/programmes?cursor=bm90LWEtY3Vyc29y")
    assert bad.status_code == 400 and "cursor" in bad.json["errors"]


# --- validation ----------------------------------------------------------------------------------


def _bad_bodies(people):
    return [
        ({"starts_on": "2026-01-01"}, "name", "Enter the programme's name."),
        ({"name": "   ", "starts_on": "2026-01-01"}, "name", "Enter the programme's name."),
        ({"name": 5, "starts_on": "2026-01-01"}, "name", "as text"),
        ({"name": "x" * 201, "starts_on": "2026-01-01"}, "name", "at most 200"),
        ({"name": "A\x00B", "starts_on": "2026-01-01"}, "name", "control characters"),
        ({"name": "Ok"}, "starts_on", "Enter the date the programme starts."),
        ({"name": "Ok", "starts_on": None}, "starts_on", "Enter the date the programme starts."),
        ({"name": "Ok", "starts_on": "2026-02-30"}, "starts_on", "YYYY-MM-DD"),
        ({"name": "Ok", "starts_on": "31/12/2026"}, "starts_on", "YYYY-MM-DD"),
        ({"name": "Ok", "starts_on": 20260101}, "starts_on", "YYYY-MM-DD"),
        ({"name": "Ok", "starts_on": "1999-12-31"}, "starts_on", "from Jan 1, 2000"),
        ({"name": "Ok", "starts_on": "2026-06-01", "ends_on": "2026-05-31"}, "ends_on",
         "cannot end (May 31, 2026) before it starts (Jun 1, 2026)"),
        ({"name": "Ok", "starts_on": "2026-01-01", "donor_ids": str(people.donor.id)},
         "donor_ids", "list of user ids"),
        ({"name": "Ok", "starts_on": "2026-01-01", "donor_ids": ["not-a-uuid"]}, "donor_ids",
         "Not a user id"),
        ({"name": "Ok", "starts_on": "2026-01-01", "donor_ids": [5]}, "donor_ids",
         "Not a user id"),
        ({"name": "Ok", "starts_on": "2026-01-01", "donor_ids": [str(uuid.UUID(int=7))]},
         "donor_ids", f"No user has the id {uuid.UUID(int=7)}."),
        ({"name": "Ok", "starts_on": "2026-01-01", "donor_ids": [str(people.caseworker.id)]},
         "donor_ids", f"{people.caseworker.username} is a caseworker account, not a donor"),
        ({"name": "Ok", "starts_on": "2026-01-01", "donor_ids": [str(people.admin.id)]},
         "donor_ids", "not a donor"),
        ({"name": "Ok", "starts_on": "2026-01-01", "colour": "red"}, "colour", "Unknown field"),
        ({"name": "Existing (DEMO)", "starts_on": "2026-01-01"}, "name",
         "A programme with this name exists already."),
    ]


def test_bad_programmes_are_refused_with_a_clear_message_and_change_nothing(app, people):
    api = login_api(app, people.admin)
    _new(api, "Existing (demo)")
    before = _state(app)
    for body, field, message in _bad_bodies(people):
        response = api.post("/api/v1/programmes", json=body)
        assert response.status_code == 422, (body, response.json)
        assert response.mimetype == "application/problem+json"
        messages = " ".join(response.json["errors"][field])
        assert message in messages, (body, messages)
        assert _state(app) == before, body


def test_a_deactivated_donor_cannot_be_made_a_funder(app, people):
    with app.test_request_context("/"):
        deactivate_user(db.session.get(User, people.other_donor.id))
        db.session.commit()
    api = login_api(app, people.admin)
    before = _state(app)
    response = api.post("/api/v1/programmes", json={
        "name": "Ok", "starts_on": "2026-01-01", "donor_ids": [str(people.other_donor.id)]})
    assert response.status_code == 422
    assert "donor-other is deactivated" in response.json["errors"]["donor_ids"][0]
    assert _state(app) == before


def test_bad_changes_are_refused_whole(app, people):
    api = login_api(app, people.admin)
    _new(api, "Taken (demo)")
    pid = _new(api, "Mine (demo)", starts_on="2026-03-01", ends_on="2026-09-30")["id"]
    before = _state(app)
    for body, field in [
        ({"ends_on": "2026-02-28"}, "ends_on"),  # before the stored start
        ({"starts_on": "2026-10-01"}, "starts_on"),  # after the stored end
        ({"name": "Renamed", "ends_on": "2026-02-28"}, "ends_on"),
        ({"name": "taken (demo)"}, "name"),
        ({"name": "Renamed", "donor_ids": [str(people.supervisor.id)]}, "donor_ids"),
        ({"starts_on": None}, "starts_on"),
        ({"id": str(uuid.uuid4())}, "id"),
    ]:
        response = api.patch(f"/api/v1/programmes/{pid}", json=body)
        assert response.status_code == 422, (body, response.json)
        assert field in response.json["errors"], (body, response.json)
        assert _state(app) == before, body
    for body in (b"[]", b"not json"):
        response = api.client.patch(f"/api/v1/programmes/{pid}", data=body, headers={
            **api._headers(), "Content-Type": "application/json"})
        assert response.status_code == 400
    assert api.get(f"/api/v1/programmes/{pid}").json["name"] == "Mine (demo)"


# --- the admin pages -----------------------------------------------------------------------------


def _label_for(html: str, field: str) -> bool:
    return re.search(rf'<label class="form-label" for="{field}">', html) is not None


def test_admin_adds_and_edits_a_programme_through_the_pages(app, people):
    page = login_web(app, people.admin)
    home = page.get("/", follow_redirects=True).text
    assert 'href="/admin/programmes/"' in home, "no link in the admin navigation"
    assert "No programme has been added yet." in page.get("/admin/programmes/").text
    form = page.get("/admin/programmes/new")
    assert form.status_code == 200
    for field in ("name", "starts_on", "ends_on", "donor_ids"):
        assert _label_for(form.text, field), field
    # Only active donor accounts are offered.
    assert f'value="{people.donor.id}"' in form.text
    assert f'value="{people.caseworker.id}"' not in form.text
    created = page.post_form("/admin/programmes/new", {
        "name": "Open Horizons Programme (demo)", "starts_on": "2026-02-01",
        "ends_on": "", "donor_ids": [str(people.donor.id)]})
    assert created.status_code == 302, created.text[-2000:]
    listing = page.get("/admin/programmes/").text
    assert "Open Horizons Programme (demo)" in listing and "open-ended" in listing
    assert people.donor.display_name in listing
    pid = login_api(app, people.admin).get("/api/v1/programmes").json["items"][0]["id"]
    edit_url = f"/admin/programmes/{pid}/edit"
    edit = page.get(edit_url).text
    assert 'value="Open Horizons Programme (demo)"' in edit
    assert re.search(rf'<option selected value="{people.donor.id}"', edit), "donor not selected"
    saved = page.post_form(edit_url, {
        "name": "Open Horizons Programme (demo)", "starts_on": "2026-02-01",
        "ends_on": "2026-12-31", "donor_ids": [str(people.other_donor.id)]})
    assert saved.status_code == 302
    body = login_api(app, people.admin).get(f"/api/v1/programmes/{pid}").json
    assert body["ends_on"] == "2026-12-31"
    assert body["donor_ids"] == [str(people.other_donor.id)]
    assert [e.fields for e in _events(app, "programme.updated")] == [["donor_ids", "ends_on"]]


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"starts_on": "2026-06-01", "ends_on": "2026-05-01"}, "ends_on", "cannot end"),
    ({"name": "Existing (demo)"}, "name", "A programme with this name exists already."),
    ({"name": ""}, "name", "This field is required."),
    ({"starts_on": ""}, "starts_on", "This field is required."),
    ({"starts_on": "2026-13-01"}, "starts_on", "Not a valid date value."),
    ({"donor_ids": ["CASEWORKER"]}, "donor_ids", "is a caseworker account, not a donor"),
    ({"donor_ids": [str(uuid.UUID(int=9))]}, "donor_ids", "No user has the id"),
])
def test_page_errors_are_shown_beside_the_field_and_change_nothing(app, people, data, field,
                                                                     message):
    api = login_api(app, people.admin)
    _new(api, "Existing (demo)")
    if data.get("donor_ids") == ["CASEWORKER"]:
        data = {**data, "donor_ids": [str(people.caseworker.id)]}
    page = login_web(app, people.admin)
    before = _state(app)
    for url in ("/admin/programmes/new",
                f"/admin/programmes/{api.get('/api/v1/programmes').json['items'][0]['id']}/edit"):
        if url.endswith("/edit") and field == "name" and data["name"] == "Existing (demo)":
            continue  # its own name
        response = page.post_form(url, {"name": "Bright Bridges (demo)",
                                        "starts_on": "2026-01-01", **data})
        assert response.status_code == 422, (url, response.status_code)
        error = re.search(rf'<div class="invalid-feedback d-block" id="{field}-error">(.*?)'
                          r"</div>\s*</div>", response.text, re.S)
        assert error, (url, response.text[-3000:])
        assert message in error.group(1).replace("&#39;", "'"), error.group(1)
        assert f'aria-describedby="{field}-error' in response.text
        assert _state(app) == before


@pytest.mark.parametrize("role", ["caseworker", "counsellor", "supervisor", "donor"])
def test_only_admins_reach_the_programme_pages(app, people, role):
    pid = _new(login_api(app, people.admin), "Hidden (demo)")["id"]
    page = login_web(app, getattr(people, role))
    before = _state(app)
    for url in ("/admin/programmes/", "/admin/programmes/new", f"/admin/programmes/{pid}/edit"):
        response = page.get(url)
        # Staff are refused (403); donors are confined to their reports (404 or 403).
        assert response.status_code in ((403, 404) if role == "donor" else (403,)), url
        assert "Hidden (demo)" not in response.text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                      page.get("/", follow_redirects=True).text)
    if token:
        response = page.client.post("/admin/programmes/new", data={
            "name": "Sneaky (demo)", "starts_on": "2026-01-01", "csrf_token": token.group(1)})
        assert response.status_code in (403, 404)
    assert _state(app) == before


# --- survivors' programme_ids --------------------------------------------------------------------


@pytest.fixture
def funded(app, people):
    api = login_api(app, people.admin)
    return {name: _new(api, f"{name} (demo)", donor_ids=[str(people.donor.id)])["id"]
            for name in ("Safe Futures", "Strong Roots")}


def test_survivor_programmes_round_trip_through_the_form(app, make, people, funded):
    cw = make.user("caseworker", team="North")
    page = login_web(app, cw)
    new = page.get("/survivors/new?step=form").text
    assert _label_for(new, "programme_ids")
    assert 'name="programme_ids"' in new and "Safe Futures (demo)" in new
    created = page.post_form("/survivors/new", {
        "intake_date": "2026-01-15", "status": "Active", "lead_caseworker_id": str(cw.id),
        "known_as": "Lotus", "programme_ids": [funded["Safe Futures"]]})
    assert created.status_code == 302, created.text[-2000:]
    sid = created.headers["Location"].rsplit("/", 1)[-1]
    view = page.get(f"/survivors/{sid}").text
    assert "Funded by programmes" in view and "Safe Futures (demo)" in view
    api = login_api(app, cw)
    assert api.get(f"/api/v1/survivors/{sid}").json["programme_ids"] == [funded["Safe Futures"]]
    edit = page.get(f"/survivors/{sid}/edit").text
    assert re.search(rf'<option selected value="{funded["Safe Futures"]}"', edit)
    saved = page.post_form(f"/survivors/{sid}/edit", {
        "intake_date": "2026-01-15", "status": "Active", "lead_caseworker_id": str(cw.id),
        "known_as": "Lotus", "programme_ids": [funded["Strong Roots"], funded["Safe Futures"]]})
    assert saved.status_code == 302
    assert sorted(api.get(f"/api/v1/survivors/{sid}").json["programme_ids"]) == sorted(
        funded.values())
    view = page.get(f"/survivors/{sid}").text
    assert "Safe Futures (demo), Strong Roots (demo)" in view  # by name
    # A crafted id is refused beside the field, and nothing changes.
    refused = page.post_form(f"/survivors/{sid}/edit", {
        "intake_date": "2026-01-15", "status": "Active", "lead_caseworker_id": str(cw.id),
        "programme_ids": [str(uuid.uuid4())]})
    assert refused.status_code == 422 and 'id="programme_ids-error"' in refused.text
    assert len(api.get(f"/api/v1/survivors/{sid}").json["programme_ids"]) == 2
    updated = [e for e in _events(app, "survivor.updated") if str(e.subject_id) == sid]
    assert [e.fields for e in updated] == [["programme_ids"]]


def test_survivor_programmes_round_trip_through_the_api(app, make, people, funded):
    cw = make.user("caseworker", team="North")
    api = login_api(app, cw)
    created = api.post("/api/v1/survivors", json={
        "known_as": "Lotus", "programme_ids": [funded["Strong Roots"]]})
    assert created.status_code == 201, created.json
    sid = created.json["id"]
    assert created.json["programme_ids"] == [funded["Strong Roots"]]
    changed = api.patch(f"/api/v1/survivors/{sid}", json={
        "programme_ids": [funded["Safe Futures"], funded["Safe Futures"]]})
    assert changed.status_code == 200 and changed.json["programme_ids"] == [
        funded["Safe Futures"]]
    for bad in ([str(uuid.uuid4())], ["nope"], funded["Safe Futures"], [5]):
        refused = api.patch(f"/api/v1/survivors/{sid}", json={"programme_ids": bad})
        assert refused.status_code == 422 and "programme_ids" in refused.json["errors"], bad
    missing = str(uuid.UUID(int=3))
    refused = api.patch(f"/api/v1/survivors/{sid}", json={"programme_ids": [missing]})
    assert refused.json["errors"]["programme_ids"] == [f"No programme has the id {missing}."]
    assert api.get(f"/api/v1/survivors/{sid}").json["programme_ids"] == [funded["Safe Futures"]]
    cleared = api.patch(f"/api/v1/survivors/{sid}", json={"programme_ids": []})
    assert cleared.status_code == 200 and cleared.json["programme_ids"] == []
    # The caseload (one page, many survivors) carries them too.
    api.patch(f"/api/v1/survivors/{sid}", json={"programme_ids": [funded["Strong Roots"]]})
    items = api.get("/api/v1/survivors").json["items"]
    assert [item["programme_ids"] for item in items] == [[funded["Strong Roots"]]]
    # A supervisor of the team may change them (operational tier); donors never see survivors.
    sup = login_api(app, make.user("supervisor", team="North"))
    assert sup.patch(f"/api/v1/survivors/{sid}", json={"programme_ids": []}).status_code == 200
    assert login_api(app, people.donor).get(f"/api/v1/survivors/{sid}").status_code == 404


def test_openapi_documents_programmes(app):
    from openapi_spec_validator import validate

    document = app.test_client().get("/api/v1/openapi.json").json
    validate(document)
    schemas = document["components"]["schemas"]
    assert set(schemas["FundedProgramme"]["properties"]) == CONTRACT_FIELDS
    assert "Programme" in schemas  # the training programme keeps its name
    assert {"/api/v1/programmes", "/api/v1/programmes/{programme_id}"} <= set(document["paths"])
    assert set(document["paths"]["/api/v1/programmes"]) >= {"get", "post"}
    assert set(document["paths"]["/api/v1/programmes/{programme_id}"]) >= {"get", "patch"}
    ids = schemas["Survivor"]["properties"]["programme_ids"]
    assert ids["type"] == "array" and ids["items"]["format"] == "uuid"


def test_seed_demo_makes_programmes_funded_by_the_demo_donor(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo", "--survivors", "12"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        programmes = db.session.scalars(select(Programme).order_by(Programme.name)).all()
        assert 2 <= len(programmes) <= 3
        assert all(p.name.endswith("(demo)") for p in programmes)
        donor = db.session.scalar(select(User).where(User.username == "donor"))
        funded = [p for p in programmes if donor.id in p.donor_ids]
        assert 1 <= len(funded) <= 2
        linked = db.session.scalar(select(func.count(func.distinct(
            survivor_programmes.c.survivor_id))))
        assert linked > db.session.scalar(select(func.count()).select_from(Survivor)) / 2
        per_survivor = db.session.execute(
            select(survivor_programmes.c.survivor_id, func.count())
            .group_by(survivor_programmes.c.survivor_id)).all()
        assert all(n == 1 for _sid, n in per_survivor)
    again = runner.invoke(args=["seed-demo", "--survivors", "12"])
    assert "already present" in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Programme)) == len(programmes)
