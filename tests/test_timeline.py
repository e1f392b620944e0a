"""The survivor timeline: page and API, only what the viewer may read."""

from __future__ import annotations

from tests.conftest import login_api, login_web


def test_timeline_shows_intake_and_closure_to_the_caseworker(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    api.post(f"/api/v1/survivors/{sid}/close", json={"reason": "Support plan completed."})
    items = api.get(f"/api/v1/survivors/{sid}/timeline").json["items"]
    kinds = [item["kind"] for item in items]
    assert kinds[:2] == ["case.closed", "case.intake"] or kinds[-1] == "case.intake"
    closed = next(item for item in items if item["kind"] == "case.closed")
    assert closed["fields"]["closure_reason"] == "Support plan completed."
    assert closed["at"].endswith("Z")
    page = login_web(app, cw).get(f"/survivors/{sid}/timeline")
    assert page.status_code == 200
    assert 'data-kind="case.intake"' in page.text and "Support plan completed." in page.text


def test_timeline_hides_what_the_viewer_may_not_read(app, make):
    cw = make.user("caseworker")
    counsellor = make.user("counsellor")
    sid = make.survivor(cw, collaborator_ids=[counsellor.id])
    login_api(app, cw).post(f"/api/v1/survivors/{sid}/close", json={"reason": "Secret-ish reason."})
    # Counsellors may not read the sensitive closure reason.
    items = login_api(app, counsellor).get(f"/api/v1/survivors/{sid}/timeline").json["items"]
    closed = next(item for item in items if item["kind"] == "case.closed")
    assert "closure_reason" not in closed["fields"]
    page = login_web(app, counsellor).get(f"/survivors/{sid}/timeline")
    assert "Secret-ish reason." not in page.text


def test_timeline_is_404_outside_scope(app, make):
    cw = make.user("caseworker", team="North")
    stranger = make.user("caseworker", team="South")
    donor = make.user("donor")
    sid = make.survivor(cw)
    for user in (stranger, donor):
        assert login_api(app, user).get(f"/api/v1/survivors/{sid}/timeline").status_code == 404
        assert login_web(app, user).get(f"/survivors/{sid}/timeline").status_code == 404
