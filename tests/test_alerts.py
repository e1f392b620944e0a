"""The signed-in user: alerts (overdue plan items, employment checks due), the navigation
badge, GET /api/v1/me, /me/alerts and /me/caseload. Alerts name survivors by case number
only; the badge costs one statement whatever the number of alerts."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date, timedelta

from sqlalchemy import event, insert, select, update

from casework.audit.models import AuditEvent
from casework.auth.models import User
from casework.extensions import db
from casework.me import service
from casework.plans.models import PlanItem
from casework.referrals.models import Partner
from casework.survivors.models import Survivor
from casework.training.models import Enrolment, TrainingProgramme
from tests.conftest import login_api, login_web

TODAY = date.today()
NAME_MARKERS = ("Zyxwqname", "Lastmarker", "Knownmarker")
ALERT_KEYS = {"kind", "due_on", "case_number", "survivor_id", "record_id", "message"}


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def named_survivor(make, lead, **fields):
    return make.survivor(lead, first_name=NAME_MARKERS[0], last_name=NAME_MARKERS[1],
                         known_as=NAME_MARKERS[2], **fields)


def case_number(app, sid) -> str:
    with app.app_context():
        return db.session.get(Survivor, sid).case_number


def add_item(app, sid, assignee_id, **fields) -> uuid.UUID:
    values = {"type": "Health", "due_on": day(-2), "objective": "Synthetic.", **fields}
    with app.app_context():
        item = PlanItem(survivor_id=sid, assignee_id=assignee_id, **values)
        db.session.add(item)
        db.session.commit()
        return item.id


def add_programme(app, name="Alert course") -> uuid.UUID:
    with app.app_context():
        partner = Partner(name=f"Partner {uuid.uuid4().hex[:6]}",
                          services=["vocational_training"], languages=[])
        db.session.add(partner)
        db.session.flush()
        programme = TrainingProgramme(name=name, provider_partner_id=partner.id,
                                      starts_on=day(-500), ends_on=day(-400), capacity=500)
        db.session.add(programme)
        db.session.commit()
        return programme.id


def add_completed(app, sid, pid, completed_on: date, **fields) -> uuid.UUID:
    with app.app_context():
        enrolment = Enrolment(survivor_id=sid, programme_id=pid, status="completed",
                              enrolled_on=day(-500), completed_on=completed_on,
                              certified=True, **fields)
        db.session.add(enrolment)
        db.session.commit()
        return enrolment.id


@contextlib.contextmanager
def statements(app):
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def alerts_of(app, user_id):
    with app.test_request_context("/"):
        user = db.session.get(User, user_id)
        found = service.alerts_for(user, audit_read=False)
        count = service.alert_count(user)
        db.session.rollback()
    assert count == len(found), (count, found)
    return found


# --- what is an alert --------------------------------------------------------------------------------


def test_overdue_plan_items_of_the_assignee(app, make):
    cw = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="North")
    sid = named_survivor(make, cw, collaborator_ids=[counsellor.id])
    overdue = add_item(app, sid, counsellor.id, due_on=day(-3), type="Livelihood")
    add_item(app, sid, counsellor.id, due_on=TODAY)  # due today: not overdue yet
    add_item(app, sid, counsellor.id, due_on=day(-9), done_on=day(-8))  # done
    mine = add_item(app, sid, cw.id, due_on=day(-1))
    found = alerts_of(app, counsellor.id)
    assert [(a.kind, a.record_id) for a in found] == [("plan_item.overdue", overdue)]
    alert = found[0]
    assert alert.case_number == case_number(app, sid) and alert.survivor_id == sid
    assert alert.due_on == day(-3) and "Livelihood" in alert.message
    assert [a.record_id for a in alerts_of(app, cw.id)] == [mine]
    assert alerts_of(app, make.user("supervisor", team="North").id) == []


def test_employment_checks_due_for_survivors_the_user_leads(app, make):
    cw = make.user("caseworker", team="North")
    collaborator = make.user("caseworker", team="North")
    sid = named_survivor(make, cw, collaborator_ids=[collaborator.id])
    pid = add_programme(app, name="Bakery (alerts)")
    both = add_completed(app, sid, pid, completed_on=day(-200))
    other_sid = named_survivor(make, cw)
    only_three = add_completed(app, other_sid, add_programme(app), completed_on=day(-100))
    add_completed(app, named_survivor(make, cw), add_programme(app), completed_on=day(-30))
    recorded_sid = named_survivor(make, cw)
    add_completed(app, recorded_sid, add_programme(app), completed_on=day(-200),
                  employed_at_3_months=True, employed_at_6_months=False)
    found = alerts_of(app, cw.id)
    kinds = sorted((a.record_id, a.kind) for a in found)
    assert kinds == sorted([(both, "employment_check.3_months"),
                            (both, "employment_check.6_months"),
                            (only_three, "employment_check.3_months")])
    six = next(a for a in found if a.kind == "employment_check.6_months")
    with app.test_request_context("/"):
        from casework.training.service import add_months

        assert six.due_on == add_months(day(-200), 6)
    assert "Bakery (alerts)" in six.message
    # Recording the outcome ends the reminder; collaborators do not get the reminders.
    login_api(app, cw).patch(f"/api/v1/enrolments/{both}", json={"employed_at_3_months": False})
    assert {(a.record_id, a.kind) for a in alerts_of(app, cw.id)} == {
        (both, "employment_check.6_months"), (only_three, "employment_check.3_months")}
    assert alerts_of(app, collaborator.id) == []


def test_closed_cases_and_cases_out_of_scope_raise_no_alerts(app, make):
    cw = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="North")
    closed = named_survivor(make, cw, collaborator_ids=[counsellor.id])
    add_item(app, closed, counsellor.id)
    add_completed(app, closed, add_programme(app), completed_on=day(-200))
    login_api(app, cw).post(f"/api/v1/survivors/{closed}/close", json={"reason": "Done."})
    # Assigned to a team member who does not work on the case: no access, so no alert.
    teammate = make.user("counsellor", team="North")
    sid = named_survivor(make, cw)
    add_item(app, sid, teammate.id)
    assert alerts_of(app, counsellor.id) == []
    assert alerts_of(app, cw.id) == []
    assert alerts_of(app, teammate.id) == []


def test_alerts_name_case_numbers_never_names(app, make):
    cw = make.user("caseworker", team="North")
    sid = named_survivor(make, cw)
    item = add_item(app, sid, cw.id, objective="Objective-marker-77 (sensitive).")
    enrolment = add_completed(app, sid, add_programme(app), completed_on=day(-100))
    api = login_api(app, cw)
    response = api.get("/api/v1/me/alerts")
    assert response.status_code == 200
    items = response.json["items"]
    assert len(items) == 2
    for entry in items:
        assert set(entry) == ALERT_KEYS
        assert entry["case_number"] == case_number(app, sid)
        assert entry["survivor_id"] == str(sid)
    assert {entry["record_id"] for entry in items} == {str(item), str(enrolment)}
    page = login_web(app, cw).get("/me/alerts")
    assert page.status_code == 200
    assert case_number(app, sid) in page.text
    assert f"/survivors/{sid}/plan" in page.text and f"/enrolments/{enrolment}" in page.text
    for text in (response.text, page.text):
        for marker in (*NAME_MARKERS, "Objective-marker-77"):
            assert marker not in text
    # Seeing an alert is seeing the case number: audited like a caseload listing.
    with app.app_context():
        listed = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "survivor.listed", AuditEvent.subject_id == sid)).all()
        assert listed and all(event.fields == ["case_number"] for event in listed)


def test_alerts_page_and_badge_for_each_role(app, make):
    cw = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="North")
    sid = named_survivor(make, cw, collaborator_ids=[counsellor.id])
    add_item(app, sid, counsellor.id)
    add_item(app, sid, counsellor.id, due_on=day(-20))
    web = login_web(app, counsellor)
    page = web.get("/survivors/")
    assert 'data-alert-count="2"' in page.text and 'href="/me/alerts"' in page.text
    assert 'data-alert-count=' not in login_web(app, cw).get("/survivors/").text
    assert 'href="/me/alerts"' in login_web(app, cw).get("/survivors/").text
    for role in ("admin", "donor"):
        other = login_web(app, make.user(role))
        home = other.get("/", follow_redirects=True)
        assert 'href="/me/alerts"' not in home.text
        # A donor reaches their reports only, anything else is 404 (casework/web.py).
        assert other.get("/me/alerts").status_code == (404 if role == "donor" else 403)
        alerts = login_api(app, make.user(role)).get("/api/v1/me/alerts")
        if role == "donor":
            assert alerts.status_code == 404
        else:
            assert alerts.json == {"items": []}
    # Error pages keep the badge working.
    missing = web.get(f"/survivors/{uuid.uuid4()}")
    assert missing.status_code == 404 and 'data-alert-count="2"' in missing.text
    assert "Nothing is overdue" in login_web(app, cw).get("/me/alerts").text


# --- /me and /me/caseload ------------------------------------------------------------------------------


def test_profile(app, make):
    cw = make.user("caseworker", team="North", display_name="Amara Test")
    body = login_api(app, cw).get("/api/v1/me").json
    assert body == {"id": str(cw.id), "username": cw.username, "display_name": "Amara Test",
                    "role": "caseworker", "team": "North"}
    donor = make.user("donor")
    assert login_api(app, donor).get("/api/v1/me").json["team"] is None
    assert login_api(app, donor).get("/api/v1/me/caseload").status_code == 404  # confined
    assert login_api(app, make.user("admin")).get("/api/v1/me/caseload").status_code == 403


def test_caseload_of_caseworkers_and_supervisors(app, make):
    amara = make.user("caseworker", team="North")
    tuan = make.user("caseworker", team="North")
    south = make.user("caseworker", team="South")
    supervisor = make.user("supervisor", team="North")
    mine = [make.survivor(amara) for _ in range(3)]
    theirs = [make.survivor(tuan) for _ in range(2)]
    elsewhere = make.survivor(south)
    api = login_api(app, amara)
    body = api.get("/api/v1/me/caseload").json
    assert {item["id"] for item in body["items"]} == {str(s) for s in mine}
    assert body["next_cursor"] is None and "first_name" in body["items"][0]
    sup = login_api(app, supervisor)
    team = sup.get("/api/v1/me/caseload").json["items"]
    assert {item["id"] for item in team} == {str(s) for s in mine + theirs}
    assert str(elsewhere) not in {item["id"] for item in team}
    assert all("first_name" not in item for item in team)  # identifying: not for supervisors
    filtered = sup.get(f"/api/v1/me/caseload?lead_caseworker_id={tuan.id}").json["items"]
    assert {item["id"] for item in filtered} == {str(s) for s in theirs}
    outside = sup.get(f"/api/v1/me/caseload?lead_caseworker_id={south.id}").json["items"]
    assert outside == []
    seen, cursor = [], None
    while True:
        page = sup.get("/api/v1/me/caseload?limit=2" + (f"&cursor={cursor}" if cursor
                                                         else "")).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5
    assert sup.get("/api/v1/me/caseload?lead_caseworker_id=nope").status_code == 422
    assert sup.get("/api/v1/me/caseload?cursor=%00").status_code == 400
    assert sup.get("/api/v1/me/caseload?limit=0").status_code == 422


# --- statement counts ------------------------------------------------------------------------------------


def _bulk_alerts(app, lead_id, assignee_id, count: int) -> None:
    """``count`` survivors led by ``lead_id``, each with an overdue item for the assignee and
    an employment check due for the lead."""
    make_ids = []
    with app.test_request_context("/"):
        from casework.survivors import service as survivors

        lead = db.session.get(User, lead_id)
        assignee = db.session.get(User, assignee_id)
        for _ in range(count):
            survivor = survivors.create(lead, {"intake_date": day(-300),
                                               "first_name": NAME_MARKERS[0],
                                               "collaborator_ids": [assignee.id]})
            make_ids.append(survivor.id)
        db.session.commit()
    pid = add_programme(app)
    with app.app_context():
        db.session.execute(insert(PlanItem), [
            {"id": uuid.uuid4(), "survivor_id": sid, "assignee_id": assignee_id,
             "type": "Health", "due_on": day(-2)} for sid in make_ids])
        db.session.execute(insert(Enrolment), [
            {"id": uuid.uuid4(), "survivor_id": sid, "programme_id": pid,
             "status": "completed", "enrolled_on": day(-500), "completed_on": day(-100),
             "certified": False} for sid in make_ids])
        db.session.commit()


def _count(app, client, url: str) -> int:
    client.get(url)
    with statements(app) as seen:
        response = client.get(url)
    assert response.status_code == 200
    return len(seen)


def test_alerts_and_badge_do_not_grow_with_the_number_of_alerts(app, make):
    counts = {}
    for size in (1, 50):
        lead = make.user("caseworker", team=f"T{size}")
        counsellor = make.user("counsellor", team=f"T{size}")
        _bulk_alerts(app, lead.id, counsellor.id, size)
        assert len(alerts_of(app, lead.id)) == size
        assert len(alerts_of(app, counsellor.id)) == size
        web_lead, web_co = login_web(app, lead), login_web(app, counsellor)
        api_lead = login_api(app, lead)
        page = web_lead.get("/me/alerts")
        assert page.text.count('data-kind="employment_check.3_months"') == size
        assert f'data-alert-count="{size}"' in page.text
        counts[size] = (
            _count(app, web_lead, "/me/alerts"),
            _count(app, web_co, "/me/alerts"),
            _count(app, api_lead, "/api/v1/me/alerts"),
            _count(app, web_lead, "/training/"),  # a page whose only alert work is the badge
        )
    assert counts[1] == counts[50], counts
    # The badge is a single statement on a page that does nothing else with alerts.
    lead = make.user("caseworker", team="Solo")
    web = login_web(app, lead)
    web.get("/training/")
    with statements(app) as seen:
        web.get("/training/")
    badge = [s for s in seen if "plan_items" in s]
    assert len(badge) == 1, badge


def test_alert_count_matches_alerts_across_month_ends(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = add_programme(app)
    ids = [add_completed(app, make.survivor(cw), pid, completed_on=day(-offset))
           for offset in range(85, 100)]
    ids += [add_completed(app, make.survivor(cw), pid, completed_on=day(-offset))
            for offset in range(175, 190)]
    assert ids and sid
    with app.test_request_context("/"):
        user = db.session.get(User, cw.id)
        for shift in range(0, 400, 7):
            today = day(shift)
            found = service.alerts_for(user, today, audit_read=False)
            assert service.alert_count(user, today) == len(found), today
        db.session.rollback()
    with app.app_context():
        db.session.execute(update(Enrolment).values(employed_at_3_months=True,
                                                    employed_at_6_months=True))
        db.session.commit()
    assert alerts_of(app, cw.id) == []
