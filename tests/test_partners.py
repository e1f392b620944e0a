"""The partner directory: admins keep it, staff read it, donors see nothing."""

from __future__ import annotations

import pytest

from tests.conftest import login_api, login_web


def test_admin_adds_and_edits_a_partner_through_the_pages(app, make):
    admin = make.user("admin")
    web = login_web(app, admin)
    created = web.post_form("/admin/partners/new", {
        "name": "Harbour Legal (demo)", "services": ["legal_aid"], "languages": ["en", "th"],
        "accepting_referrals": "y", "contact_email": "intake@harbour.example",
    })
    assert created.status_code == 302
    listing = web.get("/admin/partners")
    assert "Harbour Legal (demo)" in listing.text and "Accepting" in listing.text
    partner = login_api(app, admin).get("/api/v1/partners").json["items"][0]
    edit_url = f"/admin/partners/{partner['id']}/edit"
    saved = web.post_form(edit_url, {"name": "Harbour Legal (demo)", "services": ["legal_aid"],
                                     "contact_email": "intake@harbour.example"})
    assert saved.status_code == 302
    assert "Full / not accepting" in web.get("/admin/partners").text


def test_staff_read_admins_write_donors_nothing(app, make):
    admin, cw, donor = make.user("admin"), make.user("caseworker"), make.user("donor")
    created = login_api(app, admin).post("/api/v1/partners", json={
        "name": "Bright Skills (demo)", "services": ["vocational_training"], "languages": ["vi"]})
    assert created.status_code == 201
    pid = created.json["id"]
    staff = login_api(app, cw)
    assert staff.get(f"/api/v1/partners/{pid}").json["name"] == "Bright Skills (demo)"
    assert staff.get("/api/v1/partners?services=legal_aid").json["items"] == []
    assert staff.post("/api/v1/partners", json={"name": "X"}).status_code == 403
    assert staff.patch(f"/api/v1/partners/{pid}", json={"name": "Y"}).status_code == 403
    assert login_api(app, donor).get("/api/v1/partners").status_code == 404  # confined
    assert login_web(app, cw).get("/admin/partners").status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "x" * 10_000}, "name"),
    ({"name": "A\x00B"}, "name"),
    ({"name": "Ok", "services": ["spa"]}, "services"),
    ({"name": "Ok", "services": "legal_aid"}, "services"),
    ({"name": "Ok", "languages": ["xx"]}, "languages"),
    ({"name": "Ok", "accepting_referrals": "yes"}, "accepting_referrals"),
    ({"name": "Ok", "contact_email": "nobody"}, "contact_email"),
    ({"name": "Ok", "colour": "red"}, "colour"),
    ({"services": ["shelter"]}, "name"),
])
def test_bad_partner_input_is_refused_and_nothing_is_stored(app, make, body, field):
    api = login_api(app, make.user("admin"))
    response = api.post("/api/v1/partners", json=body)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert api.get("/api/v1/partners").json["items"] == []


def test_partner_names_are_unique(app, make):
    api = login_api(app, make.user("admin"))
    assert api.post("/api/v1/partners", json={"name": "Same (demo)"}).status_code == 201
    again = api.post("/api/v1/partners", json={"name": "same (DEMO)"})
    assert again.status_code == 422 and "name" in again.json["errors"]


def test_staff_partner_directory_shows_who_is_full_and_filters_by_service(app, make):
    admin = make.user("admin")
    api = login_api(app, admin)
    api.post("/api/v1/partners", json={"name": "Open Door Shelter (demo)", "services": ["shelter"],
                                       "languages": ["th"], "contact_email": "door@example.org"})
    api.post("/api/v1/partners", json={"name": "Full Legal (demo)", "services": ["legal_aid"],
                                       "accepting_referrals": False})
    for role in ("caseworker", "counsellor", "supervisor"):
        page = login_web(app, make.user(role)).get("/partners/")
        assert page.status_code == 200
        assert "Open Door Shelter (demo)" in page.text and "Thai" in page.text
        assert "Full / not accepting" in page.text
    filtered = login_web(app, make.user("caseworker")).get("/partners/?service=legal_aid")
    assert "Full Legal (demo)" in filtered.text and "Open Door Shelter" not in filtered.text
    assert login_web(app, make.user("donor")).get("/partners/").status_code == 404  # confined
