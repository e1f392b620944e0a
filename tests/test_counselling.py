"""Counselling: engagements and sessions through the pages and the API.

Session notes are privileged: the session's author and the counsellors of its engagement read
them; caseworkers, supervisors and other counsellors never do — not on a page, in a form, in
the API, on the timeline (page and API) nor in the audit log.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from markupsafe import escape
from sqlalchemy import event, func, select, text

from casework import access
from casework.access.fields import field_specs
from casework.access.policy import READ, WRITE, permissions
from casework.audit.models import AuditEvent
from casework.auth.models import User
from casework.counselling import service as counselling
from casework.counselling.models import (
    CounsellingEngagement,
    CounsellingSession,
    engagement_co_counsellors,
)
from casework.encryption import decrypt_row
from casework.extensions import db, limiter
from casework.survivors.models import Survivor
from tests.conftest import Factory, _empty_all_tables, login_api, login_web

TODAY = date.today()
TOMORROW = (TODAY + timedelta(days=1)).isoformat()
NOTES = "NOTES-MARKER-5150 synthetic: talked about sleep and the weekly plan."
KB10 = "x" * (10 * 1024)
CONTROL_STRINGS = ["a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f", "lone \ud800 surrogate"]
WRONG_TYPES = [5, -1.5, True, {"value": "x"}, ["x"], []]
BAD_DATES = [5, True, {"y": 2026}, ["2026-02-01"], "2026-02-30", "01/02/2026", "2026-1-1",
             "2026-02-01T10:00:00", TOMORROW, "2999-01-01", "1899-12-31", "0001-01-01",
             "2026-02-01\x00", "\ud800", KB10]

TABLES = ["counselling_engagements", "counselling_engagement_counsellors",
          "counselling_sessions", "survivors", "survivor_collaborators"]


def db_state(app) -> dict:
    """Every row a counselling write can touch, as comparable text."""
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


# --- a case with a counsellor engaged --------------------------------------------------------------


@pytest.fixture
def case(app, make):
    """A North case (intake 2026-01-15) with staff around it; nobody engaged yet."""
    ns = SimpleNamespace(
        cw=make.user("caseworker", team="North"),
        cw2=make.user("caseworker", team="North"),
        counsellor=make.user("counsellor", team="North"),
        co2=make.user("counsellor", team="North"),
        outsider=make.user("counsellor", team="North"),
        supervisor=make.user("supervisor", team="North"),
        admin=make.user("admin"),
    )
    ns.sid = make.survivor(ns.cw, collaborator_ids=[ns.cw2.id], primary_language="km")
    return ns


def start(api, sid, counsellor, started_on="2026-02-01", **extra):
    return api.post(f"/api/v1/survivors/{sid}/counselling-engagements",
                    json={"counsellor_id": str(counsellor.id), "started_on": started_on,
                          **extra})


def session_body(**overrides) -> dict:
    return {"held_on": "2026-02-10", "duration_minutes": 50, "modality": "in_person",
            "language": "km", "interpreter_used": True, "attended": True, "notes": NOTES,
            **overrides}


def record(api, sid, **overrides):
    return api.post(f"/api/v1/survivors/{sid}/counselling-sessions",
                    json=session_body(**overrides))


# --- the workflow through the API --------------------------------------------------------------------


def test_api_workflow_engagement_sessions_and_end(app, case):
    cw_api, co_api = login_api(app, case.cw), login_api(app, case.counsellor)
    # Not engaged, not a collaborator: the survivor is out of the counsellor's scope.
    assert co_api.get(f"/api/v1/survivors/{case.sid}").status_code == 404
    assert record(co_api, case.sid).status_code == 404

    response = start(cw_api, case.sid, case.counsellor)
    assert response.status_code == 201, response.json
    engagement = response.json
    assert engagement["counsellor_id"] == str(case.counsellor.id)
    assert engagement["started_on"] == "2026-02-01" and engagement["ended_on"] is None
    assert engagement["created_at"].endswith("Z")

    # An open engagement makes the counsellor assigned: record, list and caseload.
    assert co_api.get(f"/api/v1/survivors/{case.sid}").status_code == 200
    listed = co_api.get("/api/v1/survivors").json["items"]
    assert [item["id"] for item in listed] == [str(case.sid)]
    response = record(co_api, case.sid)
    assert response.status_code == 201, response.json
    first = response.json
    assert first["notes"] == NOTES and first["counsellor_id"] == str(case.counsellor.id)
    assert first["engagement_id"] == engagement["id"]
    missed = record(co_api, case.sid, held_on="2026-02-17", attended=False, notes=None,
                    interpreter_used=False)
    assert missed.status_code == 201 and missed.json["attended"] is False

    # The caseworker sees that sessions happened, never their notes.
    items = cw_api.get(f"/api/v1/survivors/{case.sid}/counselling-sessions").json["items"]
    assert [i["held_on"] for i in items] == ["2026-02-17", "2026-02-10"]
    assert all("notes" not in item for item in items)
    assert {"held_on", "duration_minutes", "modality", "attended"} <= set(items[0])
    one = cw_api.get(f"/api/v1/counselling-sessions/{first['id']}")
    assert one.status_code == 200 and "notes" not in one.json and NOTES not in one.text
    mine = co_api.get(f"/api/v1/counselling-sessions/{first['id']}").json
    assert mine["notes"] == NOTES

    # Changes follow the policy: the notes are the counsellor's, the facts the caseworker's.
    response = co_api.patch(f"/api/v1/counselling-sessions/{first['id']}",
                            json={"notes": "Revised synthetic notes."})
    assert response.status_code == 200 and response.json["notes"] == "Revised synthetic notes."
    problem(cw_api.patch(f"/api/v1/counselling-sessions/{first['id']}",
                         json={"notes": "overwrite"}), 403, "notes")
    response = cw_api.patch(f"/api/v1/counselling-sessions/{first['id']}",
                            json={"duration_minutes": 55})
    assert response.status_code == 200 and response.json["duration_minutes"] == 55
    problem(co_api.patch(f"/api/v1/counselling-sessions/{first['id']}",
                         json={"duration_minutes": 60}), 403, "duration_minutes")

    # Ending the engagement: the counsellor is no longer assigned, and cannot end it twice.
    url = f"/api/v1/counselling-engagements/{engagement['id']}/end"
    problem(co_api.post(url, json={"on": "2026-03-01"}), 403)
    response = cw_api.post(url, json={"on": "2026-03-01"})
    assert response.status_code == 200 and response.json["ended_on"] == "2026-03-01"
    body = problem(cw_api.post(url, json={"on": "2026-03-02"}), 409)
    assert "already ended" in body["detail"]
    assert co_api.get(f"/api/v1/survivors/{case.sid}").status_code == 404
    assert co_api.get(f"/api/v1/counselling-sessions/{first['id']}").status_code == 404
    assert co_api.get("/api/v1/survivors").json["items"] == []

    engagements = cw_api.get(f"/api/v1/survivors/{case.sid}/counselling-engagements").json
    assert [e["ended_on"] for e in engagements["items"]] == ["2026-03-01"]



def sessions_in_db(app) -> list[CounsellingSession]:
    with app.app_context():
        rows = list(db.session.scalars(select(CounsellingSession)
                                       .order_by(CounsellingSession.held_on)))
        for row in rows:
            db.session.expunge(row)
        return rows


_CONTROL_NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"', re.I)


def control_names(html: str) -> set[str]:
    return set(_CONTROL_NAME.findall(html))


# --- the workflow through the pages --------------------------------------------------------------------


def test_page_workflow(app, case):
    cw_web, co_web = login_web(app, case.cw), login_web(app, case.counsellor)
    page = cw_web.get(f"/survivors/{case.sid}/counselling")
    assert page.status_code == 200 and "Start an engagement" in page.text
    assert "Record a session" not in page.text
    new_url = f"/survivors/{case.sid}/counselling/engagements/new"
    form = cw_web.get(new_url)
    assert control_names(form.text) == {"csrf_token", "counsellor_id", "started_on",
                                        "co_counsellor_ids"}
    response = cw_web.post_form(new_url, {"counsellor_id": str(case.counsellor.id),
                                          "started_on": "2026-02-01",
                                          "co_counsellor_ids": [str(case.co2.id)]})
    assert response.status_code == 302, response.text[:2000]

    page = co_web.get(f"/survivors/{case.sid}/counselling")
    assert page.status_code == 200 and "Record a session" in page.text
    assert "Start an engagement" not in page.text
    record_url = f"/survivors/{case.sid}/counselling/sessions/new"
    form = co_web.get(record_url)
    assert control_names(form.text) == {"csrf_token", *counselling.SESSION_INPUT}
    response = co_web.post_form(record_url, {
        "held_on": "2026-02-10", "duration_minutes": "50", "modality": "video",
        "language": "km", "interpreter_used": "y", "attended": "y", "notes": NOTES})
    assert response.status_code == 302, response.text[:3000]
    # A no-show: "attended" unticked.
    response = co_web.post_form(record_url, {"held_on": "2026-02-17", "duration_minutes": "5",
                                             "modality": "phone", "language": ""})
    assert response.status_code == 302, response.text[:3000]
    first, missed = sessions_in_db(app)
    assert (first.notes, first.attended, first.interpreter_used) == (NOTES, True, True)
    assert first.counsellor_id == case.counsellor.id
    assert (missed.attended, missed.notes, missed.language) == (False, None, None)

    mine = co_web.get(f"/survivors/{case.sid}/counselling").text
    assert str(escape(NOTES)) in mine and "No-show" in mine
    theirs = cw_web.get(f"/survivors/{case.sid}/counselling").text
    assert NOTES not in theirs and str(escape(NOTES)) not in theirs
    assert "No-show" in theirs and "Feb 10, 2026" in theirs and "Video" in theirs
    # The co-counsellor of the engagement reads them too.
    assert str(escape(NOTES)) in login_web(app, case.co2).get(
        f"/survivors/{case.sid}/counselling").text

    # The counsellor's form holds the notes only; the caseworker's the facts only.
    edit_url = f"/counselling/sessions/{first.id}/edit"
    form = co_web.get(edit_url)
    assert control_names(form.text) == {"csrf_token", "notes"}
    response = co_web.post_form(edit_url, {"notes": "Revised synthetic notes."})
    assert response.status_code == 302
    form = cw_web.get(edit_url)
    assert control_names(form.text) == {"csrf_token", *counselling.SESSION_FACTS}
    assert "Revised synthetic notes." not in form.text
    response = cw_web.post_form(edit_url, {"held_on": "2026-02-10", "duration_minutes": "55",
                                           "modality": "video", "language": "km",
                                           "interpreter_used": "y", "attended": "y"})
    assert response.status_code == 302
    first = sessions_in_db(app)[0]
    assert (first.notes, first.duration_minutes) == ("Revised synthetic notes.", 55)

    # My sessions.
    listing = co_web.get("/counselling/")
    assert listing.status_code == 200 and f'data-session="{first.id}"' in listing.text
    assert cw_web.get("/counselling/").status_code == 403

    # Ending the engagement through its page; twice is refused with a clear message.
    with app.app_context():
        engagement_id = db.session.scalar(select(CounsellingEngagement.id))
    end_url = f"/counselling/engagements/{engagement_id}/end"
    assert co_web.get(end_url).status_code == 403
    response = cw_web.post_form(end_url, {"on": "2026-03-01"})
    assert response.status_code == 302
    before = db_state(app)
    again = cw_web.post_form(end_url, {"on": "2026-03-02"})
    assert again.status_code == 422 and "already ended on Mar 1, 2026" in again.text
    assert db_state(app) == before
    assert co_web.get(f"/survivors/{case.sid}/counselling").status_code == 404
    page = cw_web.get(f"/survivors/{case.sid}/counselling").text
    assert "Record a session" not in page and "Mar 1, 2026" in page


def test_engagement_form_edits_co_counsellors_and_start(app, case):
    cw_api = login_api(app, case.cw)
    engagement = start(cw_api, case.sid, case.counsellor).json
    web = login_web(app, case.cw)
    url = f"/counselling/engagements/{engagement['id']}/edit"
    form = web.get(url)
    assert control_names(form.text) == {"csrf_token", "started_on", "co_counsellor_ids"}
    response = web.post_form(url, {"started_on": "2026-01-20",
                                   "co_counsellor_ids": [str(case.co2.id)]})
    assert response.status_code == 302
    body = cw_api.get(f"/api/v1/counselling-engagements/{engagement['id']}").json
    assert body["started_on"] == "2026-01-20" and body["co_counsellor_ids"] == [str(case.co2.id)]
    # The co-counsellor is now assigned to the survivor through the engagement.
    assert login_api(app, case.co2).get(f"/api/v1/survivors/{case.sid}").status_code == 200
    response = cw_api.patch(f"/api/v1/counselling-engagements/{engagement['id']}",
                            json={"co_counsellor_ids": []})
    assert response.status_code == 200 and response.json["co_counsellor_ids"] == []
    assert login_api(app, case.co2).get(f"/api/v1/survivors/{case.sid}").status_code == 404


def test_supervisor_of_the_team_may_start_and_end_engagements(app, case):
    """Engagements are operational: the policy lets a team supervisor write them."""
    api = login_api(app, case.supervisor)
    response = start(api, case.sid, case.counsellor)
    assert response.status_code == 201, response.json
    response = api.post(f"/api/v1/counselling-engagements/{response.json['id']}/end",
                        json={"on": "2026-02-02"})
    assert response.status_code == 200


# --- who may do what -------------------------------------------------------------------------------------


def test_only_staff_who_write_operational_fields_start_engagements(app, case):
    start(login_api(app, case.cw), case.sid, case.co2)  # co2 is assigned via the engagement
    before = db_state(app)
    for user in (case.co2, case.counsellor):
        response = start(login_api(app, user), case.sid, case.outsider)
        assert response.status_code in (403, 404)
        if user is case.co2:
            problem(response, 403)
    assert start(login_api(app, case.admin), case.sid, case.counsellor).status_code == 404
    web = login_web(app, case.co2)
    assert web.get(f"/survivors/{case.sid}/counselling/engagements/new").status_code == 403
    assert db_state(app) == before


def test_only_a_counsellor_of_an_open_engagement_records_sessions(app, case, make):
    cw_api = login_api(app, case.cw)
    collaborator = make.user("counsellor", team="North")
    cw_api.patch(f"/api/v1/survivors/{case.sid}",
                 json={"collaborator_ids": [str(case.cw2.id), str(collaborator.id)]})
    engagement = start(cw_api, case.sid, case.counsellor).json
    before = db_state(app)
    # Caseworkers and supervisors do not record sessions.
    for user in (case.cw, case.supervisor):
        body = problem(record(login_api(app, user), case.sid, notes=None), 403)
        assert "counsellor" in body["detail"]
    # A counsellor collaborator without an engagement: nothing open to record it on.
    body = problem(record(login_api(app, collaborator), case.sid), 409)
    assert "no open counselling engagement" in body["detail"]
    # ... nor on somebody else's engagement.
    problem(record(login_api(app, collaborator), case.sid, engagement_id=engagement["id"]), 403)
    web = login_web(app, collaborator)
    response = web.get(f"/survivors/{case.sid}/counselling/sessions/new")
    assert response.status_code == 302
    assert login_web(app, case.cw).get(
        f"/survivors/{case.sid}/counselling/sessions/new").status_code == 403
    assert db_state(app) == before


# --- invalid transitions: a clear error, nothing changed -------------------------------------------------


def test_invalid_transitions_change_nothing(app, case):
    cw_api, co_api = login_api(app, case.cw), login_api(app, case.counsellor)
    engagement = start(cw_api, case.sid, case.counsellor, started_on="2026-02-01").json
    assert record(co_api, case.sid, held_on="2026-02-10").status_code == 201
    end_url = f"/api/v1/counselling-engagements/{engagement['id']}/end"
    before = db_state(app)

    # A second open engagement of the same counsellor.
    body = problem(start(cw_api, case.sid, case.counsellor), 409)
    assert "already has an open engagement" in body["detail"]
    # A session before the engagement started.
    body = problem(record(co_api, case.sid, held_on="2026-01-31"), 422, "held_on")
    assert "started on Feb 1, 2026" in body["errors"]["held_on"][0]
    # Ending before the start, or before a session of it.
    problem(cw_api.post(end_url, json={"on": "2026-01-30"}), 422, "on")
    body = problem(cw_api.post(end_url, json={"on": "2026-02-05"}), 422, "on")
    assert "Feb 10, 2026" in body["errors"]["on"][0]
    # Moving the start after a session; changing the counsellor of an engagement.
    problem(cw_api.patch(f"/api/v1/counselling-engagements/{engagement['id']}",
                         json={"started_on": "2026-02-11"}), 422, "started_on")
    problem(cw_api.patch(f"/api/v1/counselling-engagements/{engagement['id']}",
                         json={"counsellor_id": str(case.co2.id)}), 422, "counsellor_id")
    # A session moved out of the engagement.
    with app.app_context():
        session_id = db.session.scalar(select(CounsellingSession.id))
    problem(cw_api.patch(f"/api/v1/counselling-sessions/{session_id}",
                         json={"held_on": "2026-01-01"}), 422, "held_on")
    assert db_state(app) == before

    # Once ended: no session, no second end, no change.
    assert cw_api.post(end_url, json={"on": "2026-02-20"}).status_code == 200
    before = db_state(app)
    body = problem(record(co_api, case.sid, held_on="2026-02-21"), 404)  # no longer assigned
    cw_api.patch(f"/api/v1/survivors/{case.sid}",
                 json={"collaborator_ids": [str(case.cw2.id), str(case.counsellor.id)]})
    before = db_state(app)
    body = problem(record(co_api, case.sid, held_on="2026-02-19"), 409)
    assert "ended on Feb 20, 2026" in body["detail"]
    body = problem(record(co_api, case.sid, engagement_id=engagement["id"]), 409)
    assert "ended on Feb 20, 2026" in body["detail"]
    body = problem(cw_api.post(end_url, json={"on": "2026-02-21"}), 409)
    assert "already ended on Feb 20, 2026" in body["detail"]
    problem(cw_api.patch(f"/api/v1/counselling-engagements/{engagement['id']}",
                         json={"co_counsellor_ids": [str(case.co2.id)]}), 409)
    assert db_state(app) == before
    # The page says so too.
    web = login_web(app, case.counsellor)
    response = web.get(f"/survivors/{case.sid}/counselling/sessions/new",
                       follow_redirects=True)
    assert "Ask the caseworker to start one" in response.text
    web = login_web(app, case.cw)
    response = web.get(f"/counselling/engagements/{engagement['id']}/edit",
                       follow_redirects=True)
    assert "has ended and can no longer change" in response.text
    assert db_state(app) == before
    # A new engagement may start after the old one ended.
    assert start(cw_api, case.sid, case.counsellor, started_on="2026-03-01").status_code == 201


def test_no_engagement_on_a_closed_case_nor_before_intake(app, case):
    cw_api = login_api(app, case.cw)
    before = db_state(app)
    body = problem(start(cw_api, case.sid, case.counsellor, started_on="2026-01-14"), 422,
                   "started_on")
    assert "intake" in body["errors"]["started_on"][0]
    cw_api.post(f"/api/v1/survivors/{case.sid}/close", json={"reason": "Support completed."})
    before = db_state(app)
    body = problem(start(cw_api, case.sid, case.counsellor), 409)
    assert "closed" in body["detail"]
    web = login_web(app, case.cw)
    response = web.get(f"/survivors/{case.sid}/counselling/engagements/new",
                       follow_redirects=True)
    assert "no new engagement can start" in response.text
    assert db_state(app) == before


def test_the_database_enforces_one_open_engagement_and_duration_range(app, case):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        def engagement(**kw):
            return CounsellingEngagement(survivor_id=case.sid, counsellor_id=case.counsellor.id,
                                         started_on=date(2026, 2, 1), **kw)

        db.session.add(engagement())
        db.session.commit()
        db.session.add(engagement())
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        # Ended engagements do not count.
        db.session.add(engagement(ended_on=date(2026, 2, 1)))
        db.session.add(engagement(ended_on=date(2026, 3, 1)))
        db.session.commit()
        db.session.add(engagement(ended_on=date(2026, 1, 1)))  # ends before it starts
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        open_id = db.session.scalar(select(CounsellingEngagement.id)
                                    .where(CounsellingEngagement.ended_on.is_(None)))
        for minutes, modality in ((0, "phone"), (601, "phone"), (50, "telepathy")):
            db.session.add(CounsellingSession(
                survivor_id=case.sid, engagement_id=open_id, counsellor_id=case.counsellor.id,
                held_on=date(2026, 2, 2), duration_minutes=minutes, modality=modality))
            with pytest.raises(IntegrityError):
                db.session.commit()
            db.session.rollback()


# --- bad input on every field: 4xx naming the field, never 500, nothing changed --------------------------


def _bad_bool():
    return ["yes", "true", 1, 0, None, [], {"a": 1}, KB10]


SESSION_BAD = {
    "held_on": [*BAD_DATES, None, "", "2026-01-31"],
    "duration_minutes": [0, 601, -5, 50.5, "50", True, None, [50], {"m": 50}, 10 ** 20, KB10],
    "modality": [*WRONG_TYPES, None, "", "   ", "telepathy", "IN_PERSON", KB10,
                 *CONTROL_STRINGS],
    "language": [5, True, ["km"], {"x": 1}, "xx", "khm", "KM?", KB10, *CONTROL_STRINGS],
    "interpreter_used": _bad_bool(),
    "attended": _bad_bool(),
    "notes": [5, True, ["x"], {"a": 1}, "x" * 20001, *CONTROL_STRINGS],
}


@pytest.mark.parametrize("field", [*SESSION_BAD, "engagement_id"])
def test_record_session_refuses_bad_values(app, case, field):
    start(login_api(app, case.cw), case.sid, case.counsellor)
    api = login_api(app, case.counsellor)
    before = db_state(app)
    values = SESSION_BAD.get(field) or [5, True, "not-a-uuid", str(uuid.uuid4()), ["x"], KB10,
                                        "\x00", {"id": 1}]
    for value in values:
        response = record(api, case.sid, **{field: value})
        problem(response, 422, field)
    assert db_state(app) == before


@pytest.mark.parametrize("field", list(SESSION_BAD))
def test_update_session_refuses_bad_values(app, case, field):
    start(login_api(app, case.cw), case.sid, case.counsellor)
    session_id = record(login_api(app, case.counsellor), case.sid).json["id"]
    # The notes are the counsellor's to change, the facts the caseworker's.
    api = login_api(app, case.counsellor if field == "notes" else case.cw)
    before = db_state(app)
    for value in SESSION_BAD[field]:
        if field in ("interpreter_used", "attended", "notes", "language") and value is None:
            continue
        response = api.patch(f"/api/v1/counselling-sessions/{session_id}", json={field: value})
        problem(response, 422, field)
    assert db_state(app) == before


def test_session_bodies_that_are_not_objects_or_name_system_fields(app, case):
    start(login_api(app, case.cw), case.sid, case.counsellor)
    api = login_api(app, case.counsellor)
    url = f"/api/v1/survivors/{case.sid}/counselling-sessions"
    before = db_state(app)
    for body in ([], "text", 5, None):
        response = api.client.post(url, data=__import__("json").dumps(body),
                                   headers=api._headers({"Content-Type": "application/json"}))
        problem(response, 400)
    problem(api.client.post(url, data=b"{not json", headers=api._headers(
        {"Content-Type": "application/json"})), 400)
    problem(record(api, case.sid, colour="blue"), 422, "colour")
    for name in ("id", "counsellor_id", "survivor_id", "created_at", "updated_at"):
        problem(record(api, case.sid, **{name: str(uuid.uuid4())}), 403, name)
    assert db_state(app) == before


ENGAGEMENT_BAD = {
    "counsellor_id": lambda c: [5, True, None, "", "not-a-uuid", str(uuid.uuid4()),
                                str(c.cw.id), str(c.supervisor.id), str(c.admin.id),
                                [str(c.co2.id)], KB10, "\x00"],
    "started_on": lambda c: [*BAD_DATES, None, "", "2026-01-14"],
    "co_counsellor_ids": lambda c: [str(c.co2.id), 5, True, ["nope"], [str(uuid.uuid4())],
                                    [str(c.cw.id)], [None], [[str(c.co2.id)]], [KB10],
                                    {"ids": []}],
}


@pytest.mark.parametrize("field", list(ENGAGEMENT_BAD))
def test_start_engagement_refuses_bad_values(app, case, field):
    api = login_api(app, case.cw)
    before = db_state(app)
    for value in ENGAGEMENT_BAD[field](case):
        response = start(api, case.sid, case.counsellor, **{field: value})
        problem(response, 422, field)
    problem(start(api, case.sid, case.counsellor, ended_on="2026-03-01"), 403, "ended_on")
    problem(start(api, case.sid, case.counsellor, colour="x"), 422, "colour")
    assert db_state(app) == before


def test_end_and_update_engagement_refuse_bad_values(app, case):
    api = login_api(app, case.cw)
    engagement = start(api, case.sid, case.counsellor).json
    before = db_state(app)
    url = f"/api/v1/counselling-engagements/{engagement['id']}"
    for value in [*BAD_DATES, None, "", "2026-01-31"]:
        problem(api.post(f"{url}/end", json={"on": value}), 422, "on")
    problem(api.post(f"{url}/end", json={}), 422, "on")
    problem(api.post(f"{url}/end", json={"on": "2026-03-01", "reason": "x"}), 422, "reason")
    for field, values in ENGAGEMENT_BAD.items():
        for value in values(case):
            if field == "co_counsellor_ids" and value is None:
                continue
            response = api.patch(url, json={field: value})
            assert response.status_code == 422, (field, value, response.json)
    problem(api.patch(url, json={"ended_on": "2026-03-01"}), 403, "ended_on")
    assert db_state(app) == before
    assert api.get("/api/v1/counselling-engagements/not-a-uuid").status_code == 404
    assert api.get(f"/api/v1/counselling-engagements/{uuid.uuid4()}").status_code == 404
    assert api.get(f"/api/v1/counselling-sessions/{uuid.uuid4()}").status_code == 404
    response = api.get(f"/api/v1/survivors/{case.sid}/counselling-sessions?cursor=bogus")
    problem(response, 400)
    problem(api.get(f"/api/v1/survivors/{case.sid}/counselling-sessions?limit=0"), 422)


def test_page_forms_show_errors_next_to_fields_and_change_nothing(app, case):
    start(login_api(app, case.cw), case.sid, case.counsellor)
    co_web = login_web(app, case.counsellor)
    url = f"/survivors/{case.sid}/counselling/sessions/new"
    good = {"held_on": "2026-02-10", "duration_minutes": "50", "modality": "video",
            "language": "km", "attended": "y", "notes": "Fine."}
    before = db_state(app)
    for field, value in [("held_on", "2999-01-01"), ("held_on", "2026-01-02"),
                         ("held_on", "not a date"), ("duration_minutes", "abc"),
                         ("duration_minutes", "601"), ("duration_minutes", "0"),
                         ("modality", "telepathy"), ("language", "xx"),
                         ("notes", "bell\x07"), ("notes", "x" * 20001)]:
        response = co_web.post_form(url, {**good, field: value})
        assert response.status_code == 422, (field, value)
        assert f'id="{field}-error"' in response.text, (field, value)
    assert db_state(app) == before
    cw_web = login_web(app, case.cw)
    url = f"/survivors/{case.sid}/counselling/engagements/new"
    for field, value in [("started_on", "2999-01-01"), ("started_on", "2026-01-01"),
                         ("counsellor_id", str(uuid.uuid4())), ("counsellor_id", "")]:
        data = {"counsellor_id": str(case.co2.id), "started_on": "2026-02-01", field: value}
        response = cw_web.post_form(url, data)
        assert response.status_code == 422, (field, value)
        assert f'id="{field}-error"' in response.text, (field, value)
    assert db_state(app) == before


def test_lists_are_paginated(app, case):
    cw_api, co_api = login_api(app, case.cw), login_api(app, case.counsellor)
    for i, counsellor in enumerate((case.counsellor, case.co2, case.outsider)):
        start(cw_api, case.sid, counsellor, started_on=f"2026-02-0{i + 1}")
    for day in range(10, 15):
        record(co_api, case.sid, held_on=f"2026-02-{day}")
    for path, key, want in (
        ("counselling-sessions", "held_on", [f"2026-02-{d}" for d in (14, 13, 12, 11, 10)]),
        ("counselling-engagements", "started_on", ["2026-02-03", "2026-02-02", "2026-02-01"]),
    ):
        url = f"/api/v1/survivors/{case.sid}/{path}?limit=2"
        seen, cursor = [], None
        while True:
            body = cw_api.get(url + (f"&cursor={cursor}" if cursor else "")).json
            seen += [item[key] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == want, path
        problem(cw_api.get(f"/api/v1/survivors/{case.sid}/{path}?cursor=bogus"), 400, "cursor")


# --- reports ----------------------------------------------------------------------------------------


def test_attendance_summary(app, case, make):
    cw_api, co_api = login_api(app, case.cw), login_api(app, case.counsellor)
    other = make.survivor(case.cw)
    for sid in (case.sid, other):
        start(cw_api, sid, case.counsellor)
    record(co_api, case.sid, held_on="2026-02-10")
    record(co_api, case.sid, held_on="2026-02-17", attended=False)
    record(co_api, case.sid, held_on="2026-03-03")
    record(co_api, other, held_on="2026-02-11", attended=False)
    with app.app_context():
        summary = counselling.attendance_summary([case.sid, other], date(2026, 2, 1),
                                                 date(2026, 2, 28))
        assert (summary.held, summary.attended, summary.no_shows) == (3, 1, 2)
        summary = counselling.attendance_summary([case.sid], date(2026, 2, 1),
                                                 date(2026, 3, 31))
        assert (summary.held, summary.attended, summary.no_shows) == (3, 2, 1)
        assert counselling.attendance_summary([], date(2026, 1, 1), date(2026, 12, 31)) == \
            counselling.AttendanceSummary(0, 0, 0)


# --- audit: every read and write, field names only ----------------------------------------------------


def test_reads_and_writes_are_audited_with_field_names_only(app, case):
    cw_api, co_api = login_api(app, case.cw), login_api(app, case.counsellor)
    start(cw_api, case.sid, case.counsellor)
    session_id = record(co_api, case.sid).json["id"]
    cw_api.get(f"/api/v1/survivors/{case.sid}/counselling-sessions")
    co_api.get(f"/api/v1/counselling-sessions/{session_id}")
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        by_action = {e.action: e for e in events}
        assert by_action["counselling.engagement_started"].subject_id == case.sid
        recorded = by_action["counselling.session_recorded"]
        assert "counselling_session.notes" in recorded.fields
        assert recorded.actor_id == case.counsellor.id
        listed = by_action["counselling.sessions_viewed"]
        assert listed.actor_id == case.cw.id
        assert "counselling_session.notes" not in listed.fields
        assert "counselling_session.held_on" in listed.fields
        viewed = by_action["counselling.session_viewed"]
        assert "counselling_session.notes" in viewed.fields
        for row in db.session.execute(text("SELECT * FROM audit_events")).all():
            assert "NOTES-MARKER" not in repr(tuple(row))


# --- demo data --------------------------------------------------------------------------------------


def test_demo_seeds_engagements_and_sessions(app, make):
    import random

    from casework.counselling.demo import seed_demo

    lead = make.user("caseworker", team="North")
    lina = make.user("counsellor", team="North", username="co.lina")
    sids = [make.survivor(lead, intake_date=date(2025, 6, 1) + timedelta(days=i))
            for i in range(5)]
    with app.test_request_context("/"):
        survivors = [db.session.get(Survivor, sid) for sid in sids]
        users = {"co.lina": db.session.get(User, lina.id)}
        seed_demo(random.Random(7), survivors, users)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(CounsellingEngagement)) == 5
        counts = db.session.execute(select(CounsellingSession.engagement_id, func.count())
                                    .group_by(CounsellingSession.engagement_id)).all()
        assert len(counts) == 5 and all(2 <= n <= 6 for _e, n in counts)
        notes = [s.notes for s in db.session.scalars(
            select(CounsellingSession).where(CounsellingSession.notes.is_not(None)))]
        assert notes and all(n.startswith("Synthetic demo note") for n in notes)


# --- OpenAPI -----------------------------------------------------------------------------------------


def test_openapi_documents_the_counselling_paths(app):
    document = app.test_client().get("/api/v1/openapi.json").json
    paths = document["paths"]
    for path in ("/api/v1/survivors/{survivor_id}/counselling-sessions",
                 "/api/v1/counselling-sessions/{session_id}",
                 "/api/v1/survivors/{survivor_id}/counselling-engagements",
                 "/api/v1/counselling-engagements/{engagement_id}",
                 "/api/v1/counselling-engagements/{engagement_id}/end"):
        assert path in paths, path
    session = document["components"]["schemas"]["CounsellingSession"]["properties"]
    assert set(session) == set(field_specs(CounsellingSession))
    assert {"id", "counsellor_id", "held_on", "duration_minutes", "modality", "language",
            "interpreter_used", "attended", "notes"} <= set(session)
    assert [v for v in session["modality"]["enum"] if v] == ["in_person", "phone", "video"]
    assert "privileged" in session["notes"]["description"]


# =====================================================================================================
# The matrix: role × relationship × field × surface, for every tiered field of both models, computed
# from the policy table (casework.access.policy.permissions) and the models' tier declarations, with
# the privileged circle of the session (its author and the counsellors of its engagement).
# All matrix tests share one world, built once and rebuilt if another test emptied the tables.
# =====================================================================================================

MATRIX_USERS = {  # key -> (role, team, display name)
    "lead": ("caseworker", "North", "Lena Lead"),
    "cw_collab": ("caseworker", "North", "Colm Collab"),
    "cw_other": ("caseworker", "South", "Otto Other"),
    "author": ("counsellor", "North", "Aria Author"),
    "co": ("counsellor", "North", "Cora Cocounsellor"),
    "co_collab": ("counsellor", "North", "Cleo Collaborator"),
    "co_none": ("counsellor", "North", "Nina Nobody"),
    "co_ended": ("counsellor", "North", "Enzo Ended"),
    "sup": ("supervisor", "North", "Suri Supervisor"),
    "sup_other": ("supervisor", "South", "Sven Southsup"),
    "admin": ("admin", None, "Ada Admin"),
    "donor": ("donor", None, "Dora Donor"),
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
    Ctx("counsellor-assigned_author", "author", "counsellor", "assigned"),
    Ctx("counsellor-assigned_cocounsellor", "co", "counsellor", "assigned"),
    Ctx("counsellor-assigned_collaborator", "co_collab", "counsellor", "assigned"),
    Ctx("counsellor-none", "co_none", "counsellor", "none"),
    Ctx("counsellor-none_engagement_ended", "co_ended", "counsellor", "none"),
    Ctx("supervisor-team", "sup", "supervisor", "team"),
    Ctx("supervisor-none", "sup_other", "supervisor", "none"),
    Ctx("admin-none", "admin", "admin", "none"),
    Ctx("donor-none", "donor", "donor", "none"),
]
MODELS = {"session": CounsellingSession, "engagement": CounsellingEngagement}
SURFACES = ("page", "form", "api_read", "api_write", "timeline_page", "timeline_api")
OTHER_NOTES = "ENDED-NOTES-MARKER-77 synthetic notes of another engagement."
# Fields the service keeps although the policy lets them be written: an engagement keeps its
# counsellor (a PATCH naming another one is refused 422 by whoever may write the field).
IMMUTABLE = {("engagement", "counsellor_id")}
TIMELINE_FIELDS = {"session": set(counselling.SESSION_EVENT_FIELDS),
                   "engagement": {"counsellor_id", "co_counsellor_ids", "started_on"}}


class World:
    def __init__(self, app):
        self.app = app
        self.users: dict[str, User] = {}
        self.ids: dict[str, uuid.UUID] = {}
        self.web: dict = {}
        self.api: dict = {}
        self.cache: dict = {}

    def alive(self) -> bool:
        with self.app.app_context():
            found = db.session.get(CounsellingSession, self.session_id) is not None
            db.session.rollback()
        return found

    def record_id(self, model_key: str) -> uuid.UUID:
        return self.session_id if model_key == "session" else self.engagement_id

    def circle(self, model_key: str) -> set | None:
        return {self.ids["author"], self.ids["co"]} if model_key == "session" else None

    def expected(self, ctx: Ctx, model_key: str, permission: str) -> set[str]:
        uid, circle = self.ids[ctx.user], self.circle(model_key)
        out = set()
        for name, spec in field_specs(MODELS[model_key]).items():
            if permission not in permissions(ctx.role, ctx.relationship, spec.tier):
                continue
            if spec.tier == "privileged" and (circle is None or uid not in circle):
                continue
            if permission == WRITE and spec.read_only:
                continue
            out.add(name)
        return out

    def get(self, ctx: Ctx, what: str):
        """A read-only response, fetched once per context."""
        key = (ctx.user, what)
        if key not in self.cache:
            sid, s_id, e_id = self.sid, self.session_id, self.engagement_id
            web, api = self.web[ctx.user], self.api[ctx.user]
            urls = {
                "page": lambda: web.get(f"/survivors/{sid}/counselling"),
                "form:session": lambda: web.get(f"/counselling/sessions/{s_id}/edit"),
                "form:engagement": lambda: web.get(f"/counselling/engagements/{e_id}/edit"),
                "api:session": lambda: api.get(f"/api/v1/counselling-sessions/{s_id}"),
                "api:engagement": lambda: api.get(f"/api/v1/counselling-engagements/{e_id}"),
                "list:session": lambda: api.get(
                    f"/api/v1/survivors/{sid}/counselling-sessions"),
                "list:engagement": lambda: api.get(
                    f"/api/v1/survivors/{sid}/counselling-engagements"),
                "timeline_page": lambda: web.get(f"/survivors/{sid}/timeline"),
                "timeline_api": lambda: api.get(f"/api/v1/survivors/{sid}/timeline"),
            }
            self.cache[key] = urls[what]()
        return self.cache[key]

    # direct database access, bypassing the app's guards
    def snapshot(self) -> dict:
        sessions, engagements = CounsellingSession.__table__, CounsellingEngagement.__table__
        co = engagement_co_counsellors
        with self.app.app_context():
            snap = {
                "session": dict(db.session.execute(select(sessions).where(
                    sessions.c.id == self.session_id)).mappings().one()),
                "engagement": dict(db.session.execute(select(engagements).where(
                    engagements.c.id == self.engagement_id)).mappings().one()),
                "co": sorted(db.session.scalars(select(co.c.user_id).where(
                    co.c.engagement_id == self.engagement_id))),
            }
            db.session.rollback()
        return snap

    def restore(self, snap: dict) -> None:
        sessions, engagements = CounsellingSession.__table__, CounsellingEngagement.__table__
        co = engagement_co_counsellors
        with self.app.app_context():
            for table, row in ((sessions, snap["session"]), (engagements, snap["engagement"])):
                values = {k: v for k, v in row.items() if k != "id"}
                db.session.execute(table.update().where(table.c.id == row["id"]).values(**values))
            db.session.execute(co.delete().where(co.c.engagement_id == self.engagement_id))
            for uid in snap["co"]:
                db.session.execute(co.insert().values(engagement_id=self.engagement_id,
                                                      user_id=uid))
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
    for key, (role, team, name) in MATRIX_USERS.items():
        user = make.user(role, team=team, username=f"m-{key.replace('_', '-')}",
                         display_name=name)
        w.users[key], w.ids[key] = user, user.id
    w.sid = make.survivor(w.users["lead"], primary_language="km",
                          collaborator_ids=[w.ids["cw_collab"], w.ids["co_collab"]])
    for key, user in w.users.items():
        w.web[key] = login_web(app, user)
        w.api[key] = login_api(app, user)
    lead, sid = w.api["lead"], w.sid
    # An ended engagement, with a session whose notes only its counsellor may read.
    ended = start(lead, sid, w.users["co_ended"], started_on="2026-01-20").json
    w.other_session_id = record(w.api["co_ended"], sid, held_on="2026-01-25", modality="phone",
                                language="vi", notes=OTHER_NOTES).json["id"]
    assert lead.post(f"/api/v1/counselling-engagements/{ended['id']}/end",
                     json={"on": "2026-01-31"}).status_code == 200
    # The open engagement of the author, with a co-counsellor, and the session of the matrix.
    response = start(lead, sid, w.users["author"], started_on="2026-02-01",
                     co_counsellor_ids=[str(w.ids["co"])])
    assert response.status_code == 201, response.json
    w.engagement_id = uuid.UUID(response.json["id"])
    response = record(w.api["author"], sid, held_on="2026-02-10", duration_minutes=173,
                      modality="video", language="km", interpreter_used=True, attended=True,
                      notes=NOTES)
    assert response.status_code == 201, response.json
    w.session_id = uuid.UUID(response.json["id"])
    w.new = {
        "session": {
            "held_on": ("2026-02-12", date(2026, 2, 12)),
            "duration_minutes": (95, 95),
            "modality": ("phone", "phone"),
            "language": ("vi", "vi"),
            "interpreter_used": (False, False),
            "attended": (False, False),
            "notes": ("Changed synthetic notes.", "Changed synthetic notes."),
        },
        "engagement": {
            "started_on": ("2026-02-03", date(2026, 2, 3)),
            "co_counsellor_ids": ([str(w.ids["co"]), str(w.ids["co_none"])],
                                  sorted([w.ids["co"], w.ids["co_none"]])),
            "counsellor_id": (str(w.ids["co_none"]), None),
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
            assert user.role == ctx.role, ctx.key
            assert access.relationship(user, survivor) == ctx.relationship, ctx.key
            in_scope = db.session.scalar(select(func.count()).select_from(Survivor).where(
                Survivor.id == world.sid, access.scope_clause(user)))
            assert bool(in_scope) == (ctx.relationship != "none"), ctx.key


# --- one check per surface ------------------------------------------------------------------------

PAGE_MARKERS = {  # model -> field -> how its value of the matrix record reads on the page
    "session": {"held_on": "Feb 10, 2026", "duration_minutes": "<td>173</td>",
                "modality": "<td>Video</td>", "language": "<td>Khmer</td>",
                "notes": str(escape(NOTES)), "counsellor_id": "Aria Author"},
    "engagement": {"started_on": "Feb 1, 2026", "co_counsellor_ids": "Cora Cocounsellor",
                   "counsellor_id": "Aria Author"},
}


def check_page(world, ctx, model_key, name):
    response = world.get(ctx, "page")
    readable = world.expected(ctx, model_key, READ)
    assert response.status_code == (200 if readable else 404), ctx.key
    marker = PAGE_MARKERS[model_key].get(name)
    if marker is None:
        return
    if name in readable:
        assert marker in response.text, f"{ctx.key}: readable {name} not on the page"
    else:
        assert marker not in response.text, f"{ctx.key}: unreadable {name} on the page"


def check_form(world, ctx, model_key, name):
    response = world.get(ctx, f"form:{model_key}")
    readable = world.expected(ctx, model_key, READ)
    writable = world.expected(ctx, model_key, WRITE)
    offered = writable - {n for m, n in IMMUTABLE if m == model_key}
    if not readable:
        assert response.status_code == 404, ctx.key
    elif not offered:
        assert response.status_code == 403, ctx.key
    else:
        assert response.status_code == 200, ctx.key
    controls = control_names(response.text)
    assert (name in controls) == (name in offered), f"{ctx.key}: control for {name}"
    if model_key == "session" and name == "notes" and "notes" not in readable:
        assert "NOTES-MARKER" not in response.text, f"{ctx.key}: notes in the form"


def check_api_read(world, ctx, model_key, name):
    readable = world.expected(ctx, model_key, READ)
    one = world.get(ctx, f"api:{model_key}")
    listed = world.get(ctx, f"list:{model_key}")
    if not readable:
        assert one.status_code == 404 and listed.status_code == 404, ctx.key
        assert one.mimetype == "application/problem+json"
        return
    assert one.status_code == 200 and listed.status_code == 200, ctx.key
    item = next(i for i in listed.json["items"] if i["id"] == str(world.record_id(model_key)))
    assert (name in one.json) == (name in readable), f"{ctx.key}: {name} in GET one"
    assert (name in item) == (name in readable), f"{ctx.key}: {name} in the list"
    if name == "notes" and name not in readable:
        assert "NOTES-MARKER" not in one.text + listed.text, ctx.key


def check_api_write(world, ctx, model_key, name):
    readable = world.expected(ctx, model_key, READ)
    writable = world.expected(ctx, model_key, WRITE)
    sent, stored = world.new[model_key].get(name, (str(uuid.uuid4()), None))
    url = (f"/api/v1/counselling-sessions/{world.session_id}" if model_key == "session"
           else f"/api/v1/counselling-engagements/{world.engagement_id}")
    where = f"{ctx.key}: PATCH {model_key}.{name}"
    with world.preserved() as before:
        response = world.api[ctx.user].patch(url, json={name: sent})
        after = world.snapshot()
        if not readable:
            assert response.status_code == 404, where
            assert after == before, where
        elif (model_key, name) in IMMUTABLE and name in writable:
            assert response.status_code == 422, where
            assert after == before, where
        elif name in writable:
            assert response.status_code == 200, f"{where}: {response.text[:300]}"
            if name == "co_counsellor_ids":
                assert after["co"] == stored, where
            else:
                table = (CounsellingSession if model_key == "session"
                         else CounsellingEngagement).__table__
                assert decrypt_row(table, after[model_key], world.app)[name] == stored, where
        else:
            assert response.status_code == 403, f"{where}: {response.status_code}"
            assert response.json["fields"] == [name], where
            assert after == before, where


def check_timeline_page(world, ctx, model_key, name):
    response = world.get(ctx, "timeline_page")
    readable = world.expected(ctx, model_key, READ)
    assert response.status_code == (200 if readable else 404), ctx.key
    if readable:
        kind = "counselling.session" if model_key == "session" else \
            "counselling.engagement_started"
        assert f'data-kind="{kind}"' in response.text, ctx.key
    if model_key == "session" and name == "notes":
        assert (str(escape(NOTES)) in response.text) == (name in readable), ctx.key


def check_timeline_api(world, ctx, model_key, name):
    response = world.get(ctx, "timeline_api")
    readable = world.expected(ctx, model_key, READ)
    if not readable:
        assert response.status_code == 404, ctx.key
        return
    assert response.status_code == 200, ctx.key
    event = next(i for i in response.json["items"]
                 if i["record_id"] == str(world.record_id(model_key))
                 and i["kind"] in ("counselling.session", "counselling.engagement_started"))
    expected = name in readable and name in TIMELINE_FIELDS[model_key]
    assert (name in event["fields"]) == expected, f"{ctx.key}: {name} on the timeline"


CHECKS = {
    "page": check_page,
    "form": check_form,
    "api_read": check_api_read,
    "api_write": check_api_write,
    "timeline_page": check_timeline_page,
    "timeline_api": check_timeline_api,
}
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
    for model_key in MODELS:
        readable = world.expected(ctx, model_key, READ)
        response = world.get(ctx, f"api:{model_key}")
        if readable:
            assert set(response.json) == readable, (ctx.key, model_key)
        else:
            assert response.status_code == 404


@pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
def test_new_record_forms_offer_exactly_what_may_be_set(world, ctx):
    """New engagement: the engagement fields the policy lets the user write. New session:
    the session's facts plus its notes, for the counsellors of an open engagement only."""
    web = world.web[ctx.user]
    new_engagement = web.get(f"/survivors/{world.sid}/counselling/engagements/new")
    new_session = web.get(f"/survivors/{world.sid}/counselling/sessions/new")
    writable = {name for name, spec in field_specs(CounsellingEngagement).items()
                if WRITE in permissions(ctx.role, ctx.relationship, spec.tier)
                and not spec.read_only}
    if ctx.relationship == "none":
        assert new_engagement.status_code == 404 and new_session.status_code == 404
        return
    if writable:
        assert new_engagement.status_code == 200
        assert control_names(new_engagement.text) - {"csrf_token"} == writable
    else:
        assert new_engagement.status_code == 403
    if ctx.user in ("author", "co"):
        assert new_session.status_code == 200
        assert control_names(new_session.text) - {"csrf_token"} == set(
            counselling.SESSION_INPUT)
    elif ctx.role == "counsellor":  # assigned, but no open engagement of theirs
        assert new_session.status_code == 302
    else:
        assert new_session.status_code == 403


def test_patch_mixing_allowed_and_forbidden_fields_is_refused_whole(world):
    for user, body, forbidden in (
        ("lead", {"duration_minutes": 70, "notes": "overwrite"}, ["notes"]),
        ("author", {"notes": "overwrite", "duration_minutes": 70}, ["duration_minutes"]),
        ("sup", {"attended": False, "notes": "x", "counsellor_id": str(uuid.uuid4())},
         ["counsellor_id", "notes"]),
    ):
        with world.preserved() as before:
            response = world.api[user].patch(f"/api/v1/counselling-sessions/{world.session_id}",
                                             json=body)
            assert response.status_code == 403, (user, response.json)
            assert response.json["fields"] == forbidden
            assert world.snapshot() == before, user


# --- the privileged notes, everywhere -----------------------------------------------------------------


def _everything_seen_by(world, key: str) -> str:
    """Every page and API answer a user can get about the survivor's counselling."""
    web, api = world.web[key], world.api[key]
    sid = world.sid
    texts = [
        web.get(f"/survivors/{sid}/counselling").text,
        web.get(f"/counselling/sessions/{world.session_id}/edit").text,
        web.get(f"/counselling/sessions/{world.other_session_id}/edit").text,
        web.get(f"/survivors/{sid}/timeline").text,
        web.get(f"/survivors/{sid}").text,  # the record, with its access log
        web.get("/counselling/").text,
        api.get(f"/api/v1/survivors/{sid}/counselling-sessions").text,
        api.get(f"/api/v1/counselling-sessions/{world.session_id}").text,
        api.get(f"/api/v1/counselling-sessions/{world.other_session_id}").text,
        api.get(f"/api/v1/survivors/{sid}/timeline").text,
        api.get(f"/api/v1/survivors/{sid}/access-log").text,
    ]
    return "\n".join(texts)


@pytest.mark.parametrize("key", ["lead", "cw_collab", "sup", "co_collab", "co_none",
                                 "cw_other", "sup_other", "admin", "donor"])
def test_notes_never_reach_anyone_outside_the_engagement(world, key):
    seen = _everything_seen_by(world, key)
    assert "NOTES-MARKER-5150" not in seen, key
    assert "ENDED-NOTES-MARKER-77" not in seen, key


@pytest.mark.parametrize("key", ["author", "co"])
def test_the_engagement_counsellors_read_its_notes_and_no_others(world, key):
    seen = _everything_seen_by(world, key)
    assert str(escape(NOTES)) in seen and NOTES in seen, key
    assert "ENDED-NOTES-MARKER-77" not in seen, key  # another engagement's session


def test_notes_never_enter_the_audit_log(world):
    with world.app.app_context():
        rows = db.session.execute(text("SELECT * FROM audit_events")).all()
        db.session.rollback()
    assert rows
    for row in rows:
        assert "NOTES-MARKER" not in repr(tuple(row))


def test_timeline_provider_direct(world):
    """The timeline itself, asked directly, hides the notes from a caseworker and a supervisor."""
    from casework.survivors.timeline import timeline

    with world.app.test_request_context("/"):
        survivor = db.session.get(Survivor, world.sid)
        for key, sees in (("lead", False), ("sup", False), ("co_collab", False),
                          ("author", True), ("co", True)):
            user = db.session.get(User, world.ids[key])
            events = [e for e in timeline(user, survivor) if e.kind == "counselling.session"]
            assert len(events) == 2, key
            mine = next(e for e in events if e.record_id == world.session_id)
            other = next(e for e in events if e.record_id != world.session_id)
            assert ("notes" in mine.fields) == sees, key
            assert "notes" not in other.fields, key
            assert {"duration_minutes", "modality", "attended"} <= set(mine.fields), key
        db.session.rollback()


# --- fixed number of statements, whatever the number of records -------------------------------------


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


def _add_sessions(app, sid, engagement_id, counsellor_id, n: int, survivor_ids=None):
    with app.app_context():
        for i in range(n):
            db.session.add(CounsellingSession(
                survivor_id=(survivor_ids[i] if survivor_ids else sid),
                engagement_id=engagement_id[i] if isinstance(engagement_id, list)
                else engagement_id,
                counsellor_id=counsellor_id, held_on=date(2026, 2, 2) + timedelta(days=i % 200),
                duration_minutes=50, modality="phone", language="km", interpreter_used=False,
                attended=i % 3 != 0, notes=f"Synthetic note {i}."))
        db.session.commit()


def _statements_for(app, make, n: int) -> dict[str, int]:
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    cw = make.user("caseworker", team="North")
    co = make.user("counsellor", team="North")
    sids = [make.survivor(cw) for _ in range(n)]
    cw_api = login_api(app, cw)
    engagement_ids = [uuid.UUID(start(cw_api, sid, co).json["id"]) for sid in sids]
    # The survivor under test has n sessions; the counsellor's list spans n survivors.
    _add_sessions(app, sids[0], engagement_ids[0], co.id, n)
    _add_sessions(app, None, engagement_ids, co.id, n, survivor_ids=sids)
    cw_web, co_web, co_api = login_web(app, cw), login_web(app, co), login_api(app, co)
    counts = {}
    surfaces = {
        "page_caseworker": lambda: cw_web.get(f"/survivors/{sids[0]}/counselling"),
        "page_counsellor": lambda: co_web.get(f"/survivors/{sids[0]}/counselling"),
        "api_list": lambda: co_api.get(f"/api/v1/survivors/{sids[0]}/counselling-sessions"),
        "api_engagements": lambda: co_api.get(
            f"/api/v1/survivors/{sids[0]}/counselling-engagements"),
        "my_sessions": lambda: co_web.get("/counselling/"),
    }
    for name, call in surfaces.items():
        call()  # warm up (first-request caches)
        with count_statements(app) as statements:
            assert call().status_code == 200, name
        counts[name] = len(statements)
    with app.test_request_context("/"):
        survivor = db.session.get(Survivor, sids[0])
        user = db.session.get(User, co.id)
        db.session.expire_all()
        with count_statements(app) as statements:
            events = counselling.timeline_events(user, survivor)
        assert len([e for e in events if e.kind == "counselling.session"]) == n + 1
        counts["timeline_provider"] = len(statements)
        db.session.rollback()
    return counts


def test_statement_counts_do_not_grow_with_records(app, make):
    one = _statements_for(app, make, 1)
    many = _statements_for(app, make, 50)
    assert one == many, (one, many)
