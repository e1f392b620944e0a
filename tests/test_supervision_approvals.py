"""Approvals: the inbox of referrals awaiting approval and closure requests; approve or
return with a comment, through the pages and the API; history on the case's timeline."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.auth.models import Organisation, User
from casework.extensions import db
from casework.referrals.models import Partner, Referral
from casework.supervision.models import ClosureRequest
from casework.survivors.models import Survivor
from tests.conftest import login_api, login_web

REASON = "Goals reached; survivor moved on."


def set_closures_need_approval(app, value=True):
    with app.app_context():
        org = db.session.scalar(select(Organisation))
        if org is None:
            org = Organisation(name="Test Network (demo)")
            db.session.add(org)
        org.closures_need_approval = value
        org.referrals_need_approval = True
        db.session.commit()


@pytest.fixture
def team(app, make):
    set_closures_need_approval(app)
    sup = make.user("supervisor", team="North")
    cw = make.user("caseworker", team="North")
    other_sup = make.user("supervisor", team="South")
    other_cw = make.user("caseworker", team="South")
    counsellor = make.user("counsellor", team="North")
    sid = make.survivor(cw)
    return dict(sup=sup, cw=cw, other_sup=other_sup, other_cw=other_cw, counsellor=counsellor,
                sid=sid)


def _survivor(app, sid):
    with app.app_context():
        s = db.session.get(Survivor, sid)
        return s.status, s.closure_reason, s.closed_at


def _requests(app):
    with app.app_context():
        return sorted((r.status, r.requested_status, r.comment, str(r.decided_by))
                      for r in db.session.scalars(select(ClosureRequest)))


def _actions(app):
    with app.app_context():
        return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def _request_close(app, team, status="Closed"):
    api = login_api(app, team["cw"])
    response = api.post(f"/api/v1/survivors/{team['sid']}/close",
                        json={"reason": REASON, "status": status})
    assert response.status_code == 202, response.json
    return response.json


# --- closure requests ------------------------------------------------------------------------------


def test_close_creates_a_request_and_approval_closes(app, team):
    body = _request_close(app, team, "ClosedReferred")
    assert body["status"] == "pending" and body["requested_status"] == "ClosedReferred"
    assert body["reason"] == REASON and body["created_at"].endswith("Z")
    assert _survivor(app, team["sid"])[0] == "Active"
    assert "closure.requested" in _actions(app)
    # A second request while one waits: 409, nothing changes.
    api = login_api(app, team["cw"])
    again = api.post(f"/api/v1/survivors/{team['sid']}/close", json={"reason": REASON})
    assert again.status_code == 409
    assert len(_requests(app)) == 1
    # The inbox lists it; the supervisor approves.
    sup = login_api(app, team["sup"])
    inbox = sup.get("/api/v1/supervision/approvals")
    assert inbox.status_code == 200
    assert [r["id"] for r in inbox.json["closure_requests"]] == [body["id"]]
    approved = sup.post(f"/api/v1/closure-requests/{body['id']}/approve")
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved"
    assert approved.json["decided_by"] == str(team["sup"].id)
    status, reason, closed_at = _survivor(app, team["sid"])
    assert (status, reason) == ("ClosedReferred", REASON) and closed_at is not None
    actions = _actions(app)
    assert "closure.approved" in actions and "survivor.closed" in actions
    # Deciding twice: 409.
    assert sup.post(f"/api/v1/closure-requests/{body['id']}/approve").status_code == 409
    assert sup.post(f"/api/v1/closure-requests/{body['id']}/return",
                    json={"comment": "Late."}).status_code == 409
    assert sup.get("/api/v1/supervision/approvals").json["closure_requests"] == []


def test_return_with_a_comment_keeps_the_case_open_and_history(app, team):
    body = _request_close(app, team)
    sup = login_api(app, team["sup"])
    returned = sup.post(f"/api/v1/closure-requests/{body['id']}/return",
                        json={"comment": "Check the follow-up first."})
    assert returned.status_code == 200
    assert returned.json["status"] == "returned"
    assert returned.json["comment"] == "Check the follow-up first."
    assert _survivor(app, team["sid"])[0] == "Active"
    # A new request can be made after a return; both stay in the history.
    second = _request_close(app, team)
    assert second["id"] != body["id"]
    assert [r[0] for r in _requests(app)] == ["pending", "returned"]
    # The case's timeline shows the history (API and page) to the caseworker.
    cw = login_api(app, team["cw"])
    items = cw.get(f"/api/v1/survivors/{team['sid']}/timeline").json["items"]
    kinds = [i["kind"] for i in items]
    assert kinds.count("closure.requested") == 2 and "closure.returned" in kinds
    returned_event = next(i for i in items if i["kind"] == "closure.returned")
    assert returned_event["fields"]["comment"] == "Check the follow-up first."
    page = login_web(app, team["cw"]).get(f"/survivors/{team['sid']}/timeline")
    assert page.status_code == 200 and "Closure request returned" in page.text
    # A counsellor collaborator may see the case but not the sensitive reason/comment.
    with app.app_context():
        s = db.session.get(Survivor, team["sid"])
        s.collaborators = [db.session.get(User, team["counsellor"].id)]
        db.session.commit()
    co = login_api(app, team["counsellor"])
    items = co.get(f"/api/v1/survivors/{team['sid']}/timeline").json["items"]
    for item in items:
        if item["record_type"] == "closure_request":
            assert "reason" not in item["fields"] and "comment" not in item["fields"]


@pytest.mark.parametrize("comment", [None, "", "   ", 12, ["x"], "x" * 10_000, "nul\x00",
                                     "lone \ud800", "DROP"])
def test_return_needs_a_valid_comment(app, team, comment):
    body = _request_close(app, team)
    sup = login_api(app, team["sup"])
    before = (_requests(app), _actions(app).count("closure.returned"))
    payload = {} if comment == "DROP" else {"comment": comment}
    response = sup.post(f"/api/v1/closure-requests/{body['id']}/return", json=payload)
    assert response.status_code == 422, response.json
    assert "comment" in response.json["errors"]
    assert (_requests(app), _actions(app).count("closure.returned")) == before


def test_bad_bodies_and_ids(app, team):
    body = _request_close(app, team)
    sup = login_api(app, team["sup"])
    url = f"/api/v1/closure-requests/{body['id']}/return"
    assert sup.post(url, data="x", headers={"Content-Type": "text/plain"}).status_code == 400
    assert sup.post(url, json=["x"]).status_code == 400
    response = sup.post(url, json={"comment": "Fine.", "extra": 1})
    assert response.status_code == 422 and "extra" in response.json["errors"]
    assert sup.post(f"/api/v1/closure-requests/{uuid.uuid4()}/approve").status_code == 404
    assert sup.post("/api/v1/closure-requests/not-a-uuid/approve").status_code == 404
    assert _requests(app)[0][0] == "pending"


def test_closing_page_sends_a_request_with_a_clear_message(app, team):
    web = login_web(app, team["cw"])
    url = f"/survivors/{team['sid']}/close"
    response = web.post_form(url, {"status": "Closed", "reason": REASON})
    assert response.status_code == 302
    page = web.get(response.headers["Location"])
    assert "sent to your supervisor for approval" in page.text
    assert _survivor(app, team["sid"])[0] == "Active"
    # Again: a clear error, nothing new.
    response = web.post_form(url, {"status": "Closed", "reason": REASON})
    assert response.status_code == 302
    assert "already waiting for approval" in web.get(response.headers["Location"]).text
    assert len(_requests(app)) == 1


def test_approve_and_return_through_the_inbox_page(app, make, team):
    sid2 = make.survivor(team["cw"])
    first = _request_close(app, team)
    api = login_api(app, team["cw"])
    second = api.post(f"/api/v1/survivors/{sid2}/close", json={"reason": REASON}).json
    web = login_web(app, team["sup"])
    page = web.get("/supervision/approvals")
    assert page.status_code == 200
    assert f'data-closure-request="{first["id"]}"' in page.text and REASON in page.text
    # Returning without a comment: 422, nothing changes.
    response = web.post_form(f"/supervision/approvals/closures/{first['id']}/return",
                             {"comment": ""}, page="/supervision/approvals")
    assert response.status_code == 422 and "Say what should happen" in response.text
    response = web.post_form(f"/supervision/approvals/closures/{first['id']}/return",
                             {"comment": "Not yet."}, page="/supervision/approvals")
    assert response.status_code == 302
    response = web.post_form(f"/supervision/approvals/closures/{second['id']}/approve", {},
                             page="/supervision/approvals")
    assert response.status_code == 302
    assert "is closed" in web.get("/supervision/approvals").text
    assert _survivor(app, team["sid"])[0] == "Active"
    assert _survivor(app, sid2)[0] == "Closed"
    # Deciding again: 409 with a clear message.
    third = _request_close(app, team)
    response = web.post_form(f"/supervision/approvals/closures/{second['id']}/approve", {},
                             page="/supervision/approvals")
    assert response.status_code == 409 and "already decided" in response.text
    # Without CSRF nothing happens.
    raw = web.client.post(f"/supervision/approvals/closures/{third['id']}/approve")
    assert raw.status_code in (400, 422)
    assert _survivor(app, team["sid"])[0] == "Active"


def test_other_team_and_caseworkers_are_refused(app, make, team):
    body = _request_close(app, team)
    before = (_requests(app), _survivor(app, team["sid"]))
    other = login_api(app, team["other_sup"])
    assert other.get("/api/v1/supervision/approvals").json["closure_requests"] == []
    assert other.post(f"/api/v1/closure-requests/{body['id']}/approve").status_code == 404
    assert other.post(f"/api/v1/closure-requests/{body['id']}/return",
                      json={"comment": "No."}).status_code == 404
    assert other.get(f"/api/v1/closure-requests/{body['id']}").status_code == 404
    other_web = login_web(app, team["other_sup"])
    assert body["id"] not in other_web.get("/supervision/approvals").text
    response = other_web.post_form(f"/supervision/approvals/closures/{body['id']}/approve",
                                   {}, page="/supervision/reassign")
    assert response.status_code == 404
    # The caseworker who asked may read the request but not decide it (403); others 404.
    cw = login_api(app, team["cw"])
    assert cw.get(f"/api/v1/closure-requests/{body['id']}").status_code == 200
    assert cw.post(f"/api/v1/closure-requests/{body['id']}/approve").status_code == 403
    assert cw.get("/api/v1/supervision/approvals").status_code == 403
    assert login_web(app, team["cw"]).get("/supervision/approvals").status_code == 403
    other_cw = login_api(app, team["other_cw"])
    assert other_cw.post(f"/api/v1/closure-requests/{body['id']}/approve").status_code == 404
    admin = make.user("admin")
    assert login_web(app, admin).get("/supervision/approvals").status_code == 403
    assert login_api(app, admin).post(
        f"/api/v1/closure-requests/{body['id']}/approve").status_code == 404
    assert (_requests(app), _survivor(app, team["sid"])) == before


def test_setting_off_closes_directly_and_supervisors_close_directly(app, make, team):
    set_closures_need_approval(app, False)
    api = login_api(app, team["cw"])
    response = api.post(f"/api/v1/survivors/{team['sid']}/close", json={"reason": REASON})
    assert response.status_code == 200 and response.json["status"] == "Closed"
    assert _requests(app) == []
    # With the setting on, a supervisor's own close is not a request.
    set_closures_need_approval(app, True)
    sid2 = make.survivor(team["cw"])
    sup = login_api(app, team["sup"])
    response = sup.post(f"/api/v1/survivors/{sid2}/close", json={"reason": REASON})
    assert response.status_code == 200 and _survivor(app, sid2)[0] == "Closed"


def test_config_decides_without_an_organisation_row(app, make):
    cw = make.user("caseworker", team="North")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    app.config["CLOSURES_NEED_APPROVAL"] = True
    try:
        assert api.post(f"/api/v1/survivors/{sid}/close",
                        json={"reason": REASON}).status_code == 202
    finally:
        app.config["CLOSURES_NEED_APPROVAL"] = False


def test_one_pending_request_per_survivor_in_the_database(app, team):
    _request_close(app, team)
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        db.session.add(ClosureRequest(survivor_id=team["sid"], requested_by=team["cw"].id,
                                      requested_status="Closed", reason="x", status="pending"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


# --- referrals -------------------------------------------------------------------------------------


def _submitted_referral(app, team):
    with app.app_context():
        partner = Partner(name="Harbour Legal (demo)", services=["legal_aid"], languages=["en"],
                          accepting_referrals=True)
        db.session.add(partner)
        db.session.commit()
        pid = partner.id
    api = login_api(app, team["cw"])
    rid = api.post("/api/v1/referrals", json={
        "survivor_id": str(team["sid"]), "partner_id": str(pid), "service": "legal_aid",
        "reason": "Needs advice on a residence permit."}).json["id"]
    assert api.post(f"/api/v1/referrals/{rid}/submit").json["status"] == "awaiting_approval"
    return rid


def _referral(app, rid):
    with app.app_context():
        r = db.session.get(Referral, uuid.UUID(rid))
        return r.status, r.return_comment, r.returned_by


def test_referral_return_and_approve_through_the_api(app, team):
    rid = _submitted_referral(app, team)
    sup = login_api(app, team["sup"])
    inbox = sup.get("/api/v1/supervision/approvals").json
    assert [r["id"] for r in inbox["referrals"]] == [rid]
    # Return needs a comment.
    assert sup.post(f"/api/v1/referrals/{rid}/return", json={}).status_code == 422
    assert _referral(app, rid)[0] == "awaiting_approval"
    response = sup.post(f"/api/v1/referrals/{rid}/return",
                        json={"reason": "Name the hearing date."})
    assert response.status_code == 200 and response.json["status"] == "draft"
    assert response.json["return_comment"] == "Name the hearing date."
    assert _referral(app, rid)[:2] == ("draft", "Name the hearing date.")
    assert "referral.returned" in _actions(app)
    # The caseworker sees it on the timeline, changes it and submits again; approved.
    cw = login_api(app, team["cw"])
    kinds = [i["kind"] for i in cw.get(f"/api/v1/survivors/{team['sid']}/timeline")
             .json["items"]]
    assert "referral.returned" in kinds
    assert cw.post(f"/api/v1/referrals/{rid}/return", json={"reason": "x"}).status_code == 403
    assert cw.post(f"/api/v1/referrals/{rid}/submit").status_code == 200
    assert sup.post(f"/api/v1/referrals/{rid}/approve").json["status"] == "approved"
    assert sup.get("/api/v1/supervision/approvals").json["referrals"] == []
    # Returning an approved referral: 409.
    assert sup.post(f"/api/v1/referrals/{rid}/return",
                    json={"reason": "Too late."}).status_code == 409


def test_referral_decisions_through_the_inbox_page(app, team):
    rid = _submitted_referral(app, team)
    web = login_web(app, team["sup"])
    page = web.get("/supervision/approvals")
    assert f'data-referral="{rid}"' in page.text
    response = web.post_form(f"/supervision/approvals/referrals/{rid}/return", {"comment": ""},
                             page="/supervision/approvals")
    assert response.status_code == 422
    assert _referral(app, rid)[0] == "awaiting_approval"
    response = web.post_form(f"/supervision/approvals/referrals/{rid}/return",
                             {"comment": "Add the partner contact."},
                             page="/supervision/approvals")
    assert response.status_code == 302 and _referral(app, rid)[0] == "draft"
    login_api(app, team["cw"]).post(f"/api/v1/referrals/{rid}/submit")
    response = web.post_form(f"/supervision/approvals/referrals/{rid}/approve", {},
                             page="/supervision/approvals")
    assert response.status_code == 302 and _referral(app, rid)[0] == "approved"
    # The other team's supervisor: 404 and nothing listed.
    other = login_web(app, team["other_sup"])
    assert rid not in other.get("/supervision/approvals").text
    response = other.post_form(f"/supervision/approvals/referrals/{rid}/return",
                               {"comment": "No."}, page="/supervision/reassign")
    assert response.status_code == 404


def test_inbox_queries_do_not_grow(app, make, team):
    from sqlalchemy import event

    counts = {}
    for size in (1, 20):
        with app.app_context():
            db.session.execute(ClosureRequest.__table__.delete())
            db.session.commit()
        ids = [make.survivor(team["cw"]) for _ in range(size)]
        api = login_api(app, team["cw"])
        for sid in ids:
            assert api.post(f"/api/v1/survivors/{sid}/close",
                            json={"reason": REASON}).status_code == 202
        web = login_web(app, team["sup"])
        web.get("/supervision/approvals")
        seen = []

        def listener(conn, cursor, statement, *args, seen=seen):
            seen.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", listener)
        try:
            page = web.get("/supervision/approvals")
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert page.text.count("data-closure-request=") == size
        counts[size] = len([s for s in seen if "audit" not in s.lower()])
    assert counts[1] == counts[20], counts


def test_demo_seeds_reassignments_and_closure_requests(app):
    from casework.seed import seed_demo_data
    from casework.supervision.models import Reassignment

    with app.test_request_context("/"):
        seed_demo_data(count=30)  # seed-demo runs the supervision demo with the others
        users = {u.username: u for u in db.session.scalars(select(User))}
        moves = list(db.session.scalars(select(Reassignment)))
        assert moves and all(m.to_user_id == users["cw.tuan"].id for m in moves)
        statuses = sorted(r.status for r in db.session.scalars(select(ClosureRequest)))
        assert statuses == ["pending", "returned"]


def test_supervisor_is_alerted_to_pending_closure_requests(app, team):
    _request_close(app, team)
    web = login_web(app, team["sup"])
    page = web.get("/me/alerts")
    assert 'data-kind="closure.awaiting_approval"' in page.text
    assert 'data-alert-count="1"' in page.text
    assert "Testa" not in page.text  # case numbers only
    other = login_web(app, team["other_sup"]).get("/me/alerts")
    assert 'data-kind="closure.awaiting_approval"' not in other.text
    request_id = _requests_ids(app)[0]
    login_api(app, team["sup"]).post(f"/api/v1/closure-requests/{request_id}/approve")
    assert 'data-kind="closure.awaiting_approval"' not in web.get("/me/alerts").text


def _requests_ids(app):
    with app.app_context():
        return [str(r.id) for r in db.session.scalars(select(ClosureRequest))]


# --- what the caseworker sees while a request waits, and after it is returned --------------------


def test_pending_request_hides_close_and_says_it_waits(app, team):
    web = login_web(app, team["cw"])
    page = web.get(f"/survivors/{team['sid']}").text
    assert "Close case" in page
    _request_close(app, team)
    page = web.get(f"/survivors/{team['sid']}").text
    assert "Close case" not in page
    assert "waiting for a supervisor's approval" in page


def test_returned_request_alerts_the_requester_until_they_open_the_case(app, team):
    body = _request_close(app, team)
    cw = login_api(app, team["cw"])
    assert not [a for a in cw.get("/api/v1/me/alerts").json["items"]
                if a["kind"] == "closure.returned"]
    sup = login_api(app, team["sup"])
    assert sup.post(f"/api/v1/closure-requests/{body['id']}/return",
                    json={"comment": "Check the follow-up first."}).status_code == 200

    alerts = [a for a in cw.get("/api/v1/me/alerts").json["items"]
              if a["kind"] == "closure.returned"]
    assert len(alerts) == 1 and alerts[0]["survivor_id"] == str(team["sid"])
    assert team["sup"].display_name in alerts[0]["message"]
    # Nobody else is alerted about it.
    for other in ("other_cw", "counsellor", "sup"):
        items = login_api(app, team[other]).get("/api/v1/me/alerts").json["items"]
        assert not [a for a in items if a["kind"] == "closure.returned"], other

    # Opening the case shows the comment once and ends the alert; Close is offered again.
    web = login_web(app, team["cw"])
    page = web.get(f"/survivors/{team['sid']}").text
    assert "Your request to close this case was returned" in page
    assert "Check the follow-up first." in page and "Close case" in page
    assert not [a for a in cw.get("/api/v1/me/alerts").json["items"]
                if a["kind"] == "closure.returned"]
    assert "Your request to close this case was returned" not in web.get(
        f"/survivors/{team['sid']}").text
