"""Reassignment: a supervisor moves team cases (one or many) to another active caseworker of
the team, with a reason; all or nothing; audited per case; the new lead is alerted."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.auth.models import User
from casework.extensions import db
from casework.supervision.models import Reassignment
from casework.survivors.models import Survivor
from tests.conftest import login_api, login_web

REASON = "Leave from next week; balancing the caseload."


@pytest.fixture
def team(app, make):
    sup = make.user("supervisor", team="North")
    a = make.user("caseworker", team="North")
    b = make.user("caseworker", team="North")
    other_sup = make.user("supervisor", team="South")
    other_cw = make.user("caseworker", team="South")
    cases = [make.survivor(a) for _ in range(3)]
    other_case = make.survivor(other_cw)
    return dict(sup=sup, a=a, b=b, other_sup=other_sup, other_cw=other_cw, cases=cases,
                other_case=other_case)


def _leads(app, ids):
    with app.app_context():
        return [db.session.get(Survivor, sid).lead_caseworker_id for sid in ids]


def _snapshot(app):
    with app.app_context():
        leads = sorted((str(s.id), str(s.lead_caseworker_id))
                       for s in db.session.scalars(select(Survivor)))
        moves = db.session.query(Reassignment).count()
        events = db.session.scalars(select(AuditEvent.action)
                                    .where(AuditEvent.action == "survivor.reassigned")).all()
        return leads, moves, len(events)


def _audit(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_bulk_reassign_through_the_api(app, team):
    api = login_api(app, team["sup"])
    response = api.post("/api/v1/supervision/reassign", json={
        "survivor_ids": [str(s) for s in team["cases"][:2]], "to_user_id": str(team["b"].id),
        "reason": REASON})
    assert response.status_code == 200, response.json
    items = response.json["items"]
    assert len(items) == 2
    assert {i["to_user_id"] for i in items} == {str(team["b"].id)}
    assert {i["from_user_id"] for i in items} == {str(team["a"].id)}
    assert items[0]["reason"] == REASON and items[0]["acknowledged_at"] is None
    assert items[0]["at"].endswith("Z")
    assert _leads(app, team["cases"]) == [team["b"].id, team["b"].id, team["a"].id]
    events = _audit(app, "survivor.reassigned")
    assert sorted(e.subject_id for e in events) == sorted(team["cases"][:2])
    for event in events:
        assert event.fields == ["lead_caseworker_id"]
        assert event.reason == REASON
        assert event.actor_id == team["sup"].id
        assert str(team["b"].id) not in str(event.fields)  # names only, never values


def test_reassign_through_the_page_and_new_lead_alert(app, team):
    web = login_web(app, team["sup"])
    page = web.get("/supervision/reassign")
    assert page.status_code == 200
    for sid in team["cases"]:
        assert str(sid) in page.text
    assert str(team["other_case"]) not in page.text
    # Filtered by current worker.
    filtered = web.get(f"/supervision/reassign?lead={team['b'].id}")
    assert str(team["cases"][0]) not in filtered.text
    response = web.post_form("/supervision/reassign", {
        "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["b"].id),
        "reason": REASON})
    assert response.status_code == 302
    assert "Moved 1 case" in web.get(response.headers["Location"]).text
    assert _leads(app, team["cases"][:1]) == [team["b"].id]

    # The new lead sees an alert, in the list and the badge (page and API).
    new_lead = login_web(app, team["b"])
    alerts = new_lead.get("/me/alerts")
    assert 'data-kind="case.reassigned"' in alerts.text
    assert 'data-alert-count="1"' in alerts.text
    api_b = login_api(app, team["b"])
    items = api_b.get("/api/v1/me/alerts").json["items"]
    assert [(a["kind"], a["survivor_id"]) for a in items] \
        == [("case.reassigned", str(team["cases"][0]))]
    assert "Testa" not in str(items)  # case numbers only, never names
    # The old lead has no such alert.
    assert 'data-kind="case.reassigned"' not in login_web(app, team["a"]).get("/me/alerts").text
    # Opening the case acknowledges it.
    assert new_lead.get(f"/survivors/{team['cases'][0]}").status_code == 200
    assert 'data-kind="case.reassigned"' not in new_lead.get("/me/alerts").text
    with app.app_context():
        move = db.session.scalar(select(Reassignment))
        assert move.acknowledged_at is not None


def test_acknowledge_with_the_button_and_api(app, team):
    api = login_api(app, team["sup"])
    response = api.post("/api/v1/supervision/reassign", json={
        "survivor_ids": [str(s) for s in team["cases"][:2]], "to_user_id": str(team["b"].id),
        "reason": REASON})
    first, second = (i["id"] for i in response.json["items"])
    web_b = login_web(app, team["b"])
    response = web_b.post_form(f"/supervision/reassignments/{first}/acknowledge", {},
                               page="/me/alerts")
    assert response.status_code == 302
    assert web_b.get("/me/alerts").text.count('data-kind="case.reassigned"') == 1
    # Someone else cannot acknowledge it: 404.
    api_a = login_api(app, team["a"])
    assert api_a.post(f"/api/v1/reassignments/{second}/acknowledge").status_code == 404
    assert api_a.post(f"/api/v1/reassignments/{uuid.uuid4()}/acknowledge").status_code == 404
    api_b = login_api(app, team["b"])
    answer = api_b.post(f"/api/v1/reassignments/{second}/acknowledge")
    assert answer.status_code == 200 and answer.json["acknowledged_at"].endswith("Z")
    assert 'data-kind="case.reassigned"' not in web_b.get("/me/alerts").text
    assert len(_audit(app, "survivor.reassignment_acknowledged")) == 2


def test_a_case_outside_the_team_is_404_and_nothing_changes(app, team):
    api = login_api(app, team["sup"])
    before = _snapshot(app)
    for ids in ([str(team["cases"][0]), str(team["other_case"])], [str(uuid.uuid4())]):
        response = api.post("/api/v1/supervision/reassign", json={
            "survivor_ids": ids, "to_user_id": str(team["b"].id), "reason": REASON})
        assert response.status_code == 404
    assert _snapshot(app) == before
    # The other team's supervisor cannot move this team's cases either.
    other = login_api(app, team["other_sup"])
    response = other.post("/api/v1/supervision/reassign", json={
        "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["other_cw"].id),
        "reason": REASON})
    assert response.status_code == 404
    web_other = login_web(app, team["other_sup"])
    page = web_other.get("/supervision/reassign")
    assert page.status_code == 200 and str(team["cases"][0]) not in page.text
    response = web_other.post_form("/supervision/reassign", {
        "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["other_cw"].id),
        "reason": REASON})
    assert response.status_code == 404
    assert _snapshot(app) == before


def test_a_target_outside_the_team_or_inactive_is_422(app, make, team):
    inactive = make.user("caseworker", team="North")
    with app.app_context():
        db.session.get(User, inactive.id).active = False
        db.session.commit()
    counsellor = make.user("counsellor", team="North")
    api = login_api(app, team["sup"])
    before = _snapshot(app)
    for target in (team["other_cw"].id, inactive.id, counsellor.id, team["sup"].id,
                   uuid.uuid4(), "not-a-uuid", None, 7, ["x"]):
        response = api.post("/api/v1/supervision/reassign", json={
            "survivor_ids": [str(team["cases"][0])],
            "to_user_id": target if not isinstance(target, uuid.UUID) else str(target),
            "reason": REASON})
        assert response.status_code == 422, (target, response.json)
        assert "to_user_id" in response.json["errors"]
    assert _snapshot(app) == before


@pytest.mark.parametrize("body, field", [
    ({"survivor_ids": [], "reason": REASON}, "survivor_ids"),
    ({"survivor_ids": "abc", "reason": REASON}, "survivor_ids"),
    ({"survivor_ids": [1, 2], "reason": REASON}, "survivor_ids"),
    ({"survivor_ids": None, "reason": REASON}, "survivor_ids"),
    ({"survivor_ids": "DROP", "reason": REASON}, "survivor_ids"),
    ({"to_user_id": "DROP", "reason": REASON}, "to_user_id"),
    ({"reason": "DROP"}, "reason"),
    ({"reason": ""}, "reason"),
    ({"reason": "   "}, "reason"),
    ({"reason": None}, "reason"),
    ({"reason": 12}, "reason"),
    ({"reason": "x" * 10_000}, "reason"),
    ({"reason": "bad\x00nul"}, "reason"),
    ({"reason": "lone \ud800"}, "reason"),
    ({"extra": 1, "reason": REASON}, "extra"),
])
def test_bad_input_is_422_and_changes_nothing(app, team, body, field):
    api = login_api(app, team["sup"])
    data = {"survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["b"].id), **body}
    data = {k: v for k, v in data.items() if v != "DROP"}
    before = _snapshot(app)
    response = api.post("/api/v1/supervision/reassign", json=data)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]
    assert _snapshot(app) == before


def test_not_json_and_already_lead_and_closed(app, team):
    api = login_api(app, team["sup"])
    before = _snapshot(app)
    assert api.post("/api/v1/supervision/reassign", data="x",
                    headers={"Content-Type": "text/plain"}).status_code == 400
    assert api.post("/api/v1/supervision/reassign", json=[1]).status_code == 400
    # The target already leads the case.
    response = api.post("/api/v1/supervision/reassign", json={
        "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["a"].id),
        "reason": REASON})
    assert response.status_code == 422 and "survivor_ids" in response.json["errors"]
    # A closed case cannot be moved.
    api_a = login_api(app, team["a"])
    assert api_a.post(f"/api/v1/survivors/{team['cases'][1]}/close",
                      json={"reason": "Synthetic closure."}).status_code == 200
    before = _snapshot(app)
    response = api.post("/api/v1/supervision/reassign", json={
        "survivor_ids": [str(team["cases"][0]), str(team["cases"][1])],
        "to_user_id": str(team["b"].id), "reason": REASON})
    assert response.status_code == 422 and "survivor_ids" in response.json["errors"]
    assert _snapshot(app) == before


def test_page_errors_are_422_next_to_the_fields(app, team):
    web = login_web(app, team["sup"])
    before = _snapshot(app)
    response = web.post_form("/supervision/reassign", {
        "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["b"].id),
        "reason": ""})
    assert response.status_code == 422
    response = web.post_form("/supervision/reassign", {
        "to_user_id": str(team["b"].id), "reason": REASON})
    assert response.status_code == 422 and "Choose at least one case" in response.text
    response = web.post_form("/supervision/reassign", {
        "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["other_cw"].id),
        "reason": REASON})
    assert response.status_code == 422 and "active caseworker of your team" in response.text
    response = web.post_form("/supervision/reassign", {
        "survivor_ids": ["nonsense"], "to_user_id": str(team["b"].id), "reason": REASON})
    assert response.status_code == 422
    # Without the CSRF token nothing happens.
    raw = web.client.post("/supervision/reassign", data={
        "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["b"].id),
        "reason": REASON})
    assert raw.status_code in (400, 422)
    assert _snapshot(app) == before


def test_caseworkers_and_others_are_refused(app, make, team):
    admin = make.user("admin")
    counsellor = make.user("counsellor", team="North")
    for user in (team["a"], counsellor, admin):
        web = login_web(app, user)
        assert web.get("/supervision/reassign").status_code == 403
        api = login_api(app, user)
        response = api.post("/api/v1/supervision/reassign", json={
            "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["b"].id),
            "reason": REASON})
        assert response.status_code == 403
    assert _leads(app, team["cases"]) == [team["a"].id] * 3
    denied = _audit(app, "supervision.reassign.denied")
    assert denied


def test_the_old_lead_loses_the_case_and_the_new_one_gains_it(app, team):
    api = login_api(app, team["sup"])
    api.post("/api/v1/supervision/reassign", json={
        "survivor_ids": [str(team["cases"][0])], "to_user_id": str(team["b"].id),
        "reason": REASON})
    assert login_api(app, team["a"]).get(f"/api/v1/survivors/{team['cases'][0]}").status_code \
        == 404
    shown = login_api(app, team["b"]).get(f"/api/v1/survivors/{team['cases'][0]}")
    assert shown.status_code == 200 and shown.json["first_name"] == "Testa"
