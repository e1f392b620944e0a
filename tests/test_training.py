"""Vocational training through its pages and the API: programmes (admins write, staff read),
enrolment, attendance, completion, certification and employment outcomes at 3 and 6 months;
invalid transitions and bad input answering clear errors with nothing changed; capacity under
concurrency; the role × field × surface matrix of every enrolment field; statement counts."""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, event, insert, select, update

import casework.models  # noqa: F401  (every model mapped before field_specs inspects them)
from casework.access.fields import field_specs
from casework.access.policy import READ, WRITE, permissions
from casework.auth.models import User
from casework.encryption import decrypt_row
from casework.extensions import db, limiter
from casework.referrals.models import Partner
from casework.survivors.models import Survivor
from casework.survivors.service import Conflict
from casework.training import service
from casework.training.models import Enrolment, TrainingProgramme
from tests.conftest import Factory, _empty_all_tables, login_api, login_web

TODAY = date.today()
KB10 = "x" * (10 * 1024 + 1)


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


# --- set-up helpers (direct, committed) ------------------------------------------------------------


def add_partner(app, name: str | None = None, services=("vocational_training",)) -> uuid.UUID:
    with app.app_context():
        partner = Partner(name=name or f"Skills partner {uuid.uuid4().hex[:6]}",
                          services=list(services), languages=[])
        db.session.add(partner)
        db.session.commit()
        return partner.id


def add_programme(app, *, starts: int = -30, ends: int = 60, capacity: int = 10,
                  name: str | None = None, partner_id=None) -> uuid.UUID:
    partner_id = partner_id or add_partner(app)
    with app.app_context():
        programme = TrainingProgramme(name=name or f"Programme {uuid.uuid4().hex[:6]}",
                                      provider_partner_id=partner_id, starts_on=day(starts),
                                      ends_on=day(ends), capacity=capacity)
        db.session.add(programme)
        db.session.commit()
        return programme.id


def add_enrolment(app, sid, pid, **fields) -> uuid.UUID:
    values = {"status": "enrolled", "enrolled_on": day(-40), "certified": False, **fields}
    with app.app_context():
        enrolment = Enrolment(survivor_id=sid, programme_id=pid, **values)
        db.session.add(enrolment)
        db.session.commit()
        return enrolment.id


def row(app, model, record_id) -> dict:
    table = model.__table__
    with app.app_context():
        found = db.session.execute(select(table).where(table.c.id == record_id)).mappings().one()
        db.session.rollback()
        return decrypt_row(table, found)


def snapshot(app) -> dict:
    """Every training row, to prove a refused request changed nothing."""
    out = {}
    with app.app_context():
        for model in (TrainingProgramme, Enrolment):
            table = model.__table__
            rows = db.session.execute(select(table)).mappings().all()
            out[table.name] = sorted((dict(r) for r in rows), key=lambda r: str(r["id"]))
        db.session.rollback()
    return out


@contextlib.contextmanager
def statements(app):
    """The SQL statements run inside the block."""
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


def bulk_enrolments(app, sid, count: int, **fields) -> list[uuid.UUID]:
    """``count`` programmes, the survivor enrolled in each (one transaction)."""
    partner_id = add_partner(app)
    programme_ids = [uuid.uuid4() for _ in range(count)]
    enrolment_ids = [uuid.uuid4() for _ in range(count)]
    with app.app_context():
        db.session.execute(insert(TrainingProgramme), [
            {"id": pid, "name": f"Bulk programme {i}", "provider_partner_id": partner_id,
             "starts_on": day(-200), "ends_on": day(-100), "capacity": 5}
            for i, pid in enumerate(programme_ids)])
        db.session.execute(insert(Enrolment), [
            {"id": eid, "survivor_id": sid, "programme_id": pid, "status": "completed",
             "enrolled_on": day(-210), "completed_on": day(-100), "certified": True,
             "attendance_rate": 90, **fields}
            for eid, pid in zip(enrolment_ids, programme_ids, strict=True)])
        db.session.commit()
    return enrolment_ids


# --- dates ------------------------------------------------------------------------------------------


def test_add_months_clamps_to_the_end_of_shorter_months():
    assert service.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert service.add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert service.add_months(date(2023, 11, 30), 3) == date(2024, 2, 29)
    assert service.add_months(date(2026, 10, 15), 6) == date(2027, 4, 15)
    assert service.add_months(date(2026, 3, 31), -3) == date(2025, 12, 31)


def test_latest_completion_due_matches_the_due_dates_exactly():
    """``completed_on <= latest_completion_due(today)`` iff the check is due by today."""
    start = date(2023, 10, 1)
    for offset in range(0, 560, 3):
        today = start + timedelta(days=offset)
        for months in (3, 6):
            cutoff = service.latest_completion_due(today, months)
            for delta in range(-40, 40):
                completed = cutoff + timedelta(days=delta)
                due = service.check_due_on(completed, months) <= today
                assert due == (completed <= cutoff), (today, months, completed)


# --- programmes ----------------------------------------------------------------------------------


def test_admin_adds_and_edits_programmes_through_the_pages(app, make):
    admin = make.user("admin")
    partner = add_partner(app, "Bright Skills Test (demo)")
    add_partner(app, "Shelter Only (demo)", services=("shelter",))
    web = login_web(app, admin)
    form = web.get("/training/new")
    assert form.status_code == 200
    assert "Bright Skills Test" in form.text and "Shelter Only" not in form.text
    created = web.post_form("/training/new", {
        "name": "Welding basics", "provider_partner_id": str(partner),
        "starts_on": day(10).isoformat(), "ends_on": day(100).isoformat(), "capacity": "12"})
    assert created.status_code == 302, created.text[:2000]
    listing = web.get("/training/")
    assert "Welding basics" in listing.text and "0 of 12" in listing.text
    with app.app_context():
        pid = db.session.scalar(select(TrainingProgramme.id))
    before = snapshot(app)
    refused = web.post_form(f"/training/{pid}/edit", {
        "name": "Welding basics", "provider_partner_id": str(partner),
        "starts_on": day(10).isoformat(), "ends_on": day(5).isoformat(), "capacity": "12"})
    assert refused.status_code == 422
    assert "cannot end before it starts" in refused.text and 'id="ends_on-error"' in refused.text
    assert snapshot(app) == before
    saved = web.post_form(f"/training/{pid}/edit", {
        "name": "Welding basics", "provider_partner_id": str(partner),
        "starts_on": day(10).isoformat(), "ends_on": day(100).isoformat(), "capacity": "20"})
    assert saved.status_code == 302
    assert row(app, TrainingProgramme, pid)["capacity"] == 20
    before = snapshot(app)
    bad = web.post_form("/training/new", {"name": "", "provider_partner_id": str(partner),
                                          "starts_on": "soon", "ends_on": "", "capacity": "many"})
    assert bad.status_code == 422 and snapshot(app) == before


def test_staff_read_programmes_and_only_admins_write_them(app, make):
    pid = add_programme(app, name="Sewing for beginners")
    for role in ("caseworker", "counsellor", "supervisor"):
        user = make.user(role)
        web = login_web(app, user)
        page = web.get("/training/")
        assert page.status_code == 200 and "Sewing for beginners" in page.text, role
        assert "/training/new" not in page.text and f"/training/{pid}/edit" not in page.text
        assert 'href="/training/"' in page.text  # the navigation link
        assert web.get("/training/new").status_code == 403
        assert web.get(f"/training/{pid}/edit").status_code == 403
        api = login_api(app, user)
        assert api.get("/api/v1/training-programmes").status_code == 200
        assert api.post("/api/v1/training-programmes", json={"name": "X"}).status_code == 403
        assert api.patch(f"/api/v1/training-programmes/{pid}",
                         json={"capacity": 3}).status_code == 403
    donor = make.user("donor")
    # A donor reaches their reports only: anything else is 404 (casework/web.py).
    assert login_web(app, donor).get("/training/").status_code == 404
    assert login_api(app, donor).get("/api/v1/training-programmes").status_code == 404
    assert row(app, TrainingProgramme, pid)["capacity"] == 10
    admin_page = login_web(app, make.user("admin")).get("/training/")
    assert f"/training/{pid}/edit" in admin_page.text and 'href="/training/"' in admin_page.text


def test_programmes_api_create_read_update_and_paginate(app, make):
    admin = make.user("admin")
    partner = add_partner(app)
    api = login_api(app, admin)
    created = api.post("/api/v1/training-programmes", json={
        "name": "Hospitality (demo)", "provider_partner_id": str(partner),
        "starts_on": day(-5).isoformat(), "ends_on": day(50).isoformat(), "capacity": 2})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["places_taken"] == 0 and body["capacity"] == 2
    assert body["created_at"].endswith("Z") and body["starts_on"] == day(-5).isoformat()
    pid = body["id"]
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    add_enrolment(app, sid, uuid.UUID(pid))
    assert api.get(f"/api/v1/training-programmes/{pid}").json["places_taken"] == 1
    patched = api.patch(f"/api/v1/training-programmes/{pid}", json={"capacity": 5})
    assert patched.status_code == 200 and patched.json["capacity"] == 5
    for i in range(4):
        add_programme(app, starts=-i, name=f"More {i}")
    seen, cursor = [], None
    while True:
        page = api.get("/api/v1/training-programmes?limit=2" + (f"&cursor={cursor}" if cursor
                                                                 else "")).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5
    assert api.get("/api/v1/training-programmes?cursor=garbage").status_code == 400
    assert api.get(f"/api/v1/training-programmes/{uuid.uuid4()}").status_code == 404


def test_capacity_cannot_drop_below_the_places_taken(app, make):
    admin = make.user("admin")
    cw = make.user("caseworker")
    pid = add_programme(app, capacity=3)
    for _ in range(2):
        add_enrolment(app, make.survivor(cw), pid)
    before = snapshot(app)
    response = login_api(app, admin).patch(f"/api/v1/training-programmes/{pid}",
                                           json={"capacity": 1})
    assert response.status_code == 409 and "2 places are taken" in response.json["detail"]
    assert snapshot(app) == before


PROGRAMME_BAD = [
    ("name", 5), ("name", ""), ("name", None), ("name", KB10), ("name", "a\x00b"),
    ("name", "lone \ud800"), ("name", ["x"]),
    ("provider_partner_id", "not-a-uuid"), ("provider_partner_id", 5),
    ("provider_partner_id", None), ("provider_partner_id", "UNKNOWN"),
    ("provider_partner_id", "SHELTER"), ("provider_partner_id", KB10),
    ("starts_on", "2026-13-01"), ("starts_on", "yesterday"), ("starts_on", 20260101),
    ("starts_on", "1999-12-31"), ("starts_on", "9999-01-01"), ("starts_on", None),
    ("starts_on", "2026-01-01T00:00:00"), ("starts_on", KB10), ("starts_on", "\x00"),
    ("starts_on", "20260101"), ("starts_on", "２０２６-０１-０１"), ("starts_on", "2026-01-01\n"),
    ("ends_on", "2026-02-30"), ("ends_on", "BEFORE_START"), ("ends_on", {}),
    ("capacity", 0), ("capacity", -1), ("capacity", "10"), ("capacity", 1.5),
    ("capacity", True), ("capacity", 10_001), ("capacity", None), ("capacity", 2**70),
    ("colour", "red"),
]


def by_field(pairs) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


@pytest.mark.parametrize(("name", "values"), list(by_field(PROGRAMME_BAD).items()),
                         ids=list(by_field(PROGRAMME_BAD)))
def test_programme_bad_input_is_refused_and_changes_nothing(app, make, name, values):
    admin = make.user("admin")
    partner = add_partner(app)
    shelter = add_partner(app, services=("shelter",))
    pid = add_programme(app, partner_id=partner)
    api = login_api(app, admin)
    before = snapshot(app)
    valid = {"name": "Valid", "provider_partner_id": str(partner),
             "starts_on": day(-30).isoformat(), "ends_on": day(60).isoformat(), "capacity": 5}
    for value in values:
        value = {"UNKNOWN": str(uuid.uuid4()), "SHELTER": str(shelter),
                 "BEFORE_START": day(-31).isoformat()}.get(value, value) \
            if isinstance(value, str) else value
        created = api.post("/api/v1/training-programmes", json={**valid, name: value})
        assert created.status_code == 422, (value, created.text[:300])
        assert name in created.json["errors"], (value, created.json)
        patched = api.patch(f"/api/v1/training-programmes/{pid}", json={name: value})
        assert patched.status_code == 422, (value, patched.text[:300])
        assert snapshot(app) == before, value


# --- enrolments: workflows -------------------------------------------------------------------------


def test_enrol_attend_complete_and_record_outcomes_through_the_pages(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = add_programme(app, starts=-20, ends=30, capacity=5, name="Bakery course")
    web = login_web(app, cw)
    page = web.get(f"/survivors/{sid}/training")
    assert page.status_code == 200
    assert "Bakery course" in page.text and "5 of 5 places left" in page.text
    assert 'name="certified"' not in page.text and 'name="status"' not in page.text
    enrolled = web.post_form(f"/survivors/{sid}/training", {
        "programme_id": str(pid), "enrolled_on": day(-25).isoformat(), "attendance_rate": ""})
    assert enrolled.status_code == 302, enrolled.text[:3000]
    with app.app_context():
        eid = db.session.scalar(select(Enrolment.id))
    listing = web.get(f"/survivors/{sid}/training")
    assert f"/enrolments/{eid}" in listing.text and "Enrolled" in listing.text
    detail = web.get(f"/enrolments/{eid}")
    assert detail.status_code == 200
    assert 'name="employed_at_3_months"' not in detail.text  # outcomes come after completion
    saved = web.post_form(f"/enrolments/{eid}", {"enrolled_on": day(-25).isoformat(),
                                                 "attendance_rate": "85"})
    assert saved.status_code == 302
    assert row(app, Enrolment, eid)["attendance_rate"] == 85
    done = web.post_form(f"/enrolments/{eid}/complete",
                         {"on": TODAY.isoformat(), "certified": "y"}, page=f"/enrolments/{eid}")
    assert done.status_code == 302, done.text[:3000]
    stored = row(app, Enrolment, eid)
    assert stored["status"] == "completed" and stored["completed_on"] == TODAY
    assert stored["certified"] is True
    detail = web.get(f"/enrolments/{eid}")
    assert 'name="employed_at_3_months"' in detail.text
    assert "will be due on" in detail.text
    too_early = web.post_form(f"/enrolments/{eid}", {
        "enrolled_on": day(-25).isoformat(), "attendance_rate": "85", "certified": "y",
        "employed_at_3_months": "yes", "employed_at_6_months": ""})
    assert too_early.status_code == 422
    assert 'id="edit-employed_at_3_months-error"' in too_early.text and "is due on" in too_early.text
    assert row(app, Enrolment, eid)["employed_at_3_months"] is None
    # Three months on, the check is due and the outcome can be recorded.
    with app.app_context():
        db.session.execute(update(Enrolment).where(Enrolment.id == eid)
                           .values(enrolled_on=day(-125), completed_on=day(-100)))
        db.session.commit()
    assert "is due (since" in web.get(f"/enrolments/{eid}").text
    recorded = web.post_form(f"/enrolments/{eid}", {
        "enrolled_on": day(-125).isoformat(), "attendance_rate": "85", "certified": "y",
        "employed_at_3_months": "yes", "employed_at_6_months": ""})
    assert recorded.status_code == 302
    assert row(app, Enrolment, eid)["employed_at_3_months"] is True


def test_withdraw_through_the_page_records_a_sensitive_reason(app, make):
    cw = make.user("caseworker")
    supervisor = make.user("supervisor")
    sid = make.survivor(cw)
    pid = add_programme(app)
    eid = add_enrolment(app, sid, pid)
    # The supervisor may end the enrolment but not write a (sensitive) reason.
    sup_page = login_web(app, supervisor).get(f"/enrolments/{eid}")
    assert "/withdraw" in sup_page.text and 'name="reason"' not in sup_page.text
    web = login_web(app, cw)
    response = web.post_form(f"/enrolments/{eid}/withdraw",
                             {"on": TODAY.isoformat(), "reason": "Moved away (synthetic)."},
                             page=f"/enrolments/{eid}")
    assert response.status_code == 302
    stored = row(app, Enrolment, eid)
    assert stored["status"] == "withdrawn" and stored["withdrawn_on"] == TODAY
    assert stored["withdraw_reason"] == "Moved away (synthetic)."
    assert "Moved away (synthetic)." in web.get(f"/survivors/{sid}/training").text


def test_enrolment_workflow_through_the_api(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = add_programme(app, starts=-30, ends=-1)
    api = login_api(app, cw)
    created = api.post(f"/api/v1/survivors/{sid}/enrolments",
                       json={"programme_id": str(pid), "enrolled_on": day(-31).isoformat()})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "enrolled" and body["certified"] is False
    assert body["employed_at_3_months"] is None and body["created_at"].endswith("Z")
    eid = body["id"]
    patched = api.patch(f"/api/v1/enrolments/{eid}", json={"attendance_rate": 92})
    assert patched.status_code == 200 and patched.json["attendance_rate"] == 92
    completed = api.post(f"/api/v1/enrolments/{eid}/complete",
                         json={"on": day(-1).isoformat(), "certified": True})
    assert completed.status_code == 200, completed.json
    assert completed.json["status"] == "completed" and completed.json["certified"] is True
    assert completed.json["completed_on"] == day(-1).isoformat()
    listed = api.get(f"/api/v1/survivors/{sid}/enrolments")
    assert listed.status_code == 200 and listed.json["next_cursor"] is None
    assert [item["id"] for item in listed.json["items"]] == [eid]
    assert api.get(f"/api/v1/enrolments/{eid}").json["attendance_rate"] == 92
    # The supervisor of the team may complete and correct outcomes (operational tier).
    supervisor = make.user("supervisor")
    sup = login_api(app, supervisor)
    assert sup.patch(f"/api/v1/enrolments/{eid}", json={"certified": False}).status_code == 200
    other = add_enrolment(app, sid, add_programme(app))
    withdrawn = sup.post(f"/api/v1/enrolments/{other}/withdraw", json={"on": TODAY.isoformat()})
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"


def test_reads_and_writes_are_audited_by_field_name(app, make):
    from casework.audit.models import AuditEvent

    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    eid = api.post(f"/api/v1/survivors/{sid}/enrolments",
                   json={"programme_id": str(add_programme(app))}).json["id"]
    api.patch(f"/api/v1/enrolments/{eid}", json={"attendance_rate": 64})
    api.post(f"/api/v1/enrolments/{eid}/withdraw",
             json={"on": TODAY.isoformat(), "reason": "Reason-marker-31 (synthetic)."})
    api.get(f"/api/v1/survivors/{sid}/enrolments")
    login_web(app, cw).get(f"/survivors/{sid}/training")
    counsellor = make.user("counsellor")
    refused = login_api(app, counsellor).patch(f"/api/v1/enrolments/{eid}",
                                               json={"attendance_rate": 1})
    assert refused.status_code == 404  # not assigned to the case
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == sid)
                                    .order_by(AuditEvent.id)).all()
        by_action = {}
        for audit_event in events:
            by_action.setdefault(audit_event.action, []).append(audit_event)
        assert by_action["enrolment.created"][0].fields == ["enrolled_on", "programme_id",
                                                            "status"]
        assert by_action["enrolment.updated"][0].fields == ["attendance_rate"]
        assert by_action["enrolment.withdrawn"][0].fields == ["status", "withdraw_reason",
                                                              "withdrawn_on"]
        assert {e.channel for e in by_action["enrolment.listed"]} == {"api", "web"}
        assert "withdraw_reason" in by_action["enrolment.listed"][0].fields
        assert "survivor.read.denied" in by_action
        for audit_event in events:
            assert "Reason-marker-31" not in str(audit_event.fields) + str(audit_event.reason)


def test_enrolments_list_paginates(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    bulk_enrolments(app, sid, 5)
    api = login_api(app, cw)
    seen, cursor = [], None
    while True:
        page = api.get(f"/api/v1/survivors/{sid}/enrolments?limit=2"
                       + (f"&cursor={cursor}" if cursor else "")).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5


def test_employment_outcomes_only_from_their_due_date(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    eid = add_enrolment(app, sid, add_programme(app, starts=-300, ends=-95),
                        status="completed", enrolled_on=day(-301), completed_on=day(-95))
    api = login_api(app, cw)
    three = api.patch(f"/api/v1/enrolments/{eid}", json={"employed_at_3_months": True})
    assert three.status_code == 200 and three.json["employed_at_3_months"] is True
    before = snapshot(app)
    six = api.patch(f"/api/v1/enrolments/{eid}", json={"employed_at_6_months": False})
    assert six.status_code == 422 and "employed_at_6_months" in six.json["errors"]
    assert snapshot(app) == before
    cleared = api.patch(f"/api/v1/enrolments/{eid}", json={"employed_at_3_months": None})
    assert cleared.status_code == 200 and cleared.json["employed_at_3_months"] is None


# --- invalid transitions: a clear error, nothing changed ----------------------------------------------


def _refused(app, response, status: int, before: dict, words: str):
    assert response.status_code == status, response.text[:2000]
    text = response.json["detail"] if response.is_json else response.text
    assert words in text, text[:2000]
    assert snapshot(app) == before


def test_enrolling_in_a_full_programme_is_refused(app, make):
    cw = make.user("caseworker")
    first, second = make.survivor(cw), make.survivor(cw)
    pid = add_programme(app, capacity=1, name="Tiny course")
    add_enrolment(app, first, pid)
    before = snapshot(app)
    api = login_api(app, cw)
    response = api.post(f"/api/v1/survivors/{second}/enrolments", json={"programme_id": str(pid)})
    _refused(app, response, 409, before, "is full")
    assert response.mimetype == "application/problem+json"
    page = login_web(app, cw).post_form(f"/survivors/{second}/training",
                                        {"programme_id": str(pid),
                                         "enrolled_on": TODAY.isoformat()})
    _refused(app, page, 409, before, "is full")
    # A withdrawal frees the place.
    with app.app_context():
        db.session.execute(update(Enrolment).values(status="withdrawn", withdrawn_on=TODAY))
        db.session.commit()
    assert api.post(f"/api/v1/survivors/{second}/enrolments",
                    json={"programme_id": str(pid)}).status_code == 201


def test_completing_before_the_programme_starts_is_refused(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = add_programme(app, starts=10, ends=40, name="Future course")
    eid = add_enrolment(app, sid, pid, enrolled_on=TODAY)
    before = snapshot(app)
    api = login_api(app, cw)
    response = api.post(f"/api/v1/enrolments/{eid}/complete", json={"on": TODAY.isoformat()})
    _refused(app, response, 409, before, "cannot be completed before the programme starts")
    page = login_web(app, cw)
    response = page.post_form(f"/enrolments/{eid}/complete", {"on": TODAY.isoformat()},
                              page=f"/enrolments/{eid}")
    _refused(app, response, 409, before, "before the programme starts")
    # A programme that has started: a completion date before its start is refused too.
    started = add_enrolment(app, sid, add_programme(app, starts=-5, ends=20),
                            enrolled_on=day(-10))
    before = snapshot(app)
    response = api.post(f"/api/v1/enrolments/{started}/complete",
                        json={"on": day(-7).isoformat()})
    assert response.status_code == 422 and "on" in response.json["errors"]
    assert snapshot(app) == before


def test_completing_twice_and_other_transitions_are_refused(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    web = login_web(app, cw)
    completed = add_enrolment(app, sid, add_programme(app), status="completed",
                              completed_on=day(-1))
    withdrawn = add_enrolment(app, sid, add_programme(app), status="withdrawn",
                              withdrawn_on=day(-1))
    ongoing_pid = add_programme(app)
    ongoing = add_enrolment(app, sid, ongoing_pid)
    before = snapshot(app)
    on = {"on": TODAY.isoformat()}
    _refused(app, api.post(f"/api/v1/enrolments/{completed}/complete", json=on), 409, before,
             "completed already")
    _refused(app, web.post_form(f"/enrolments/{completed}/complete", on,
                                page=f"/enrolments/{ongoing}"), 409, before, "completed already")
    _refused(app, api.post(f"/api/v1/enrolments/{withdrawn}/complete", json=on), 409, before,
             "withdrawn")
    _refused(app, api.post(f"/api/v1/enrolments/{completed}/withdraw", json=on), 409, before,
             "Only an ongoing enrolment")
    _refused(app, api.post(f"/api/v1/enrolments/{withdrawn}/withdraw", json=on), 409, before,
             "Only an ongoing enrolment")
    _refused(app, api.patch(f"/api/v1/enrolments/{ongoing}", json={"certified": True}), 409,
             before, "once the enrolment is completed")
    _refused(app, api.patch(f"/api/v1/enrolments/{ongoing}",
                            json={"employed_at_3_months": False}), 409, before,
             "once the enrolment is completed")
    _refused(app, api.post(f"/api/v1/survivors/{sid}/enrolments",
                           json={"programme_id": str(ongoing_pid)}), 409, before,
             "already enrolled")
    _refused(app, api.post(f"/api/v1/survivors/{sid}/enrolments",
                           json={"programme_id": str(ongoing_pid), "certified": True}), 409,
             before, "once the enrolment is completed")
    moved = api.patch(f"/api/v1/enrolments/{ongoing}", json={"programme_id": str(add_programme(
        app))})
    assert moved.status_code == 422 and "programme_id" in moved.json["errors"]
    ended = add_programme(app, starts=-60, ends=-30)
    before = snapshot(app)
    late = api.post(f"/api/v1/survivors/{sid}/enrolments",
                    json={"programme_id": str(ended), "enrolled_on": day(-10).isoformat()})
    assert late.status_code == 422 and "enrolled_on" in late.json["errors"]
    assert snapshot(app) == before


@pytest.mark.parametrize("values", [
    {"programme": "same"},  # a survivor is enrolled at most once per programme
    {"attendance_rate": 101}, {"attendance_rate": -1},
    {"status": "finished"}, {"status": "completed"},  # completed without a date
    {"status": "withdrawn"},  # withdrawn without a date
    {"certified": True},  # an outcome before completion
    {"employed_at_6_months": False},
], ids=lambda v: "-".join(f"{k}={v}" for k, v in v.items()))
def test_the_database_enforces_the_rules(app, make, values):
    from sqlalchemy.exc import IntegrityError

    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = add_programme(app)
    if values.pop("programme", None):
        add_enrolment(app, sid, pid)
    else:
        pid = add_programme(app)
    with app.app_context():
        db.session.add(Enrolment(survivor_id=sid, programme_id=pid, status=values.pop(
            "status", "enrolled"), enrolled_on=TODAY, certified=values.pop("certified", False),
            **values))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_programme_rules_are_enforced_by_the_database(app):
    from sqlalchemy.exc import IntegrityError

    partner = add_partner(app)
    for capacity, starts, ends in ((0, -1, 1), (5, 10, 1)):
        with app.app_context():
            db.session.add(TrainingProgramme(name="Bad", provider_partner_id=partner,
                                             starts_on=day(starts), ends_on=day(ends),
                                             capacity=capacity))
            with pytest.raises(IntegrityError):
                db.session.commit()
            db.session.rollback()


def test_capacity_holds_under_concurrent_enrolment(app, make):
    """Two enrolments into the last place at once: the second waits for the first's lock on
    the programme (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the single writer), then finds
    the programme full."""
    cw = make.user("caseworker")
    first_sid, second_sid = make.survivor(cw), make.survivor(cw)
    pid = add_programme(app, capacity=1)
    results: dict[str, str] = {}
    holding = threading.Event()
    release = threading.Event()

    def attempt(key, sid, hold):
        with app.test_request_context("/"):
            try:
                user = db.session.get(User, cw.id)
                survivor = db.session.get(Survivor, sid)
                service.enrol(user, survivor, {"programme_id": pid})
                if hold:
                    holding.set()
                    release.wait(20)
                db.session.commit()
                results[key] = "enrolled"
            except Conflict:
                db.session.rollback()
                results[key] = "full"
            except Exception as exc:  # pragma: no cover - reported below
                db.session.rollback()
                results[key] = repr(exc)
            finally:
                holding.set()

    first = threading.Thread(target=attempt, args=("first", first_sid, True))
    first.start()
    assert holding.wait(20)
    second = threading.Thread(target=attempt, args=("second", second_sid, False))
    second.start()
    time.sleep(0.5)
    assert "second" not in results, "the second enrolment did not wait for the first"
    release.set()
    first.join(30)
    second.join(30)
    assert results == {"first": "enrolled", "second": "full"}
    with app.app_context():
        assert len(db.session.scalars(select(Enrolment.id)).all()) == 1


# --- bad input on every field: a 4xx naming it, never a 500, nothing changed --------------------------

ENROLMENT_BAD = [
    ("programme_id", 5), ("programme_id", "nope"), ("programme_id", None), ("programme_id", ""),
    ("programme_id", "UNKNOWN"), ("programme_id", []), ("programme_id", KB10),
    ("programme_id", "a\x00b"),
    ("enrolled_on", "2026-02-30"), ("enrolled_on", 5), ("enrolled_on", "TOMORROW"),
    ("enrolled_on", "1999-01-01"), ("enrolled_on", ""), ("enrolled_on", None),
    ("enrolled_on", True), ("enrolled_on", KB10), ("enrolled_on", "\ud800"),
    ("attendance_rate", -1), ("attendance_rate", 101), ("attendance_rate", "50"),
    ("attendance_rate", 50.5), ("attendance_rate", True), ("attendance_rate", KB10),
    ("attendance_rate", 2**70), ("attendance_rate", {}),
    ("certified", "yes"), ("certified", 1), ("certified", None), ("certified", KB10),
    ("employed_at_3_months", "yes"), ("employed_at_3_months", 1), ("employed_at_3_months", []),
    ("employed_at_6_months", "no"), ("employed_at_6_months", 0), ("employed_at_6_months", KB10),
    ("status", "completed"), ("completed_on", TODAY.isoformat()), ("withdraw_reason", "x"),
    ("id", str(uuid.uuid4())), ("survivor_id", str(uuid.uuid4())), ("colour", "red"),
]


def _bad_value(value):
    if value == "UNKNOWN":
        return str(uuid.uuid4())
    if value == "TOMORROW":
        return day(1).isoformat()
    return value


@pytest.mark.parametrize(("name", "values"), list(by_field(ENROLMENT_BAD).items()),
                         ids=list(by_field(ENROLMENT_BAD)))
def test_enrolment_bad_input_is_refused(app, make, name, values):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    open_pid = add_programme(app)
    eid = add_enrolment(app, sid, add_programme(app, starts=-400, ends=-300), status="completed",
                        enrolled_on=day(-400), completed_on=day(-300))
    api = login_api(app, cw)
    before = snapshot(app)
    read_only = name in field_specs(Enrolment) and field_specs(Enrolment)[name].read_only
    for value in map(_bad_value, values):
        created = api.post(f"/api/v1/survivors/{sid}/enrolments",
                           json={"programme_id": str(open_pid), name: value})
        patched = api.patch(f"/api/v1/enrolments/{eid}", json={name: value})
        for response in (created, patched):
            assert response.status_code in ((403,) if read_only else (409, 422)), (
                name, value, response.status_code, response.text[:500])
            assert response.mimetype == "application/problem+json"
            if response.status_code == 422:
                assert name in response.json["errors"], response.json
            if response.status_code == 403:
                assert response.json["fields"] == [name]
        assert snapshot(app) == before, value


ACTION_BAD = [
    ("complete", {"on": "2026-02-30"}), ("complete", {"on": 5}), ("complete", {}),
    ("complete", {"on": None}), ("complete", {"on": "TOMORROW"}),
    ("complete", {"on": "1999-01-01"}), ("complete", {"on": KB10}),
    ("complete", {"on": "TODAY", "certified": "yes"}), ("complete", {"on": "TODAY", "x": 1}),
    ("withdraw", {"on": "nope"}), ("withdraw", {}), ("withdraw", {"on": "TOMORROW"}),
    ("withdraw", {"on": "TODAY", "reason": KB10}), ("withdraw", {"on": "TODAY", "reason": 5}),
    ("withdraw", {"on": "TODAY", "reason": "a\x00b"}),
    ("withdraw", {"on": "TODAY", "reason": "lone \udfff"}),
    ("withdraw", {"on": "TODAY", "reason": ["x"]}), ("withdraw", {"on": "TODAY", "why": "x"}),
]


@pytest.mark.parametrize(("action", "bodies"), list(by_field(ACTION_BAD).items()),
                         ids=list(by_field(ACTION_BAD)))
def test_action_bad_input_is_refused(app, make, action, bodies):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    eid = add_enrolment(app, sid, add_programme(app, starts=-30), enrolled_on=day(-31))
    api = login_api(app, cw)
    before = snapshot(app)
    for body in bodies:
        body = {k: {"TODAY": TODAY.isoformat(), "TOMORROW": day(1).isoformat()}.get(v, v)
                if isinstance(v, str) else v for k, v in body.items()}
        response = api.post(f"/api/v1/enrolments/{eid}/{action}", json=body)
        assert response.status_code == 422, (body, response.text[:500])
        assert response.json["errors"], body
        assert snapshot(app) == before, body


def test_bodies_that_are_not_json_objects_are_400(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    eid = add_enrolment(app, sid, add_programme(app))
    api = login_api(app, cw)
    for url in (f"/api/v1/survivors/{sid}/enrolments", f"/api/v1/enrolments/{eid}/complete",
                f"/api/v1/enrolments/{eid}/withdraw"):
        assert api.post(url, json=[1, 2]).status_code == 400
        assert api.post(url, data="not json", headers={"Content-Type": "text/plain"}
                        ).status_code == 400
    assert api.patch(f"/api/v1/enrolments/{eid}", json="x").status_code == 400
    assert api.get("/api/v1/enrolments/not-a-uuid").status_code == 404
    assert api.get(f"/api/v1/survivors/{sid}/enrolments?limit=0").status_code == 422


def test_page_forms_refuse_bad_input(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = add_programme(app)
    eid = add_enrolment(app, sid, add_programme(app, starts=-10))
    web = login_web(app, cw)
    before = snapshot(app)
    for data in ({"programme_id": str(pid), "enrolled_on": "someday"},
                 {"programme_id": str(uuid.uuid4()), "enrolled_on": TODAY.isoformat()},
                 {"programme_id": str(pid), "enrolled_on": TODAY.isoformat(),
                  "attendance_rate": "lots"},
                 {"programme_id": str(pid), "enrolled_on": TODAY.isoformat(),
                  "attendance_rate": "150"},
                 {"programme_id": str(pid), "enrolled_on": day(3).isoformat()}):
        response = web.post_form(f"/survivors/{sid}/training", data)
        assert response.status_code == 422, (data, response.status_code)
        assert "is-invalid" in response.text
    edit = web.post_form(f"/enrolments/{eid}", {"enrolled_on": "x", "attendance_rate": "-3"})
    assert edit.status_code == 422
    done = web.post_form(f"/enrolments/{eid}/complete", {"on": "tomorrow"},
                         page=f"/enrolments/{eid}")
    assert done.status_code == 422 and 'id="complete-on-error"' in done.text
    gone = web.post_form(f"/enrolments/{eid}/withdraw", {"on": TODAY.isoformat(),
                                                         "reason": "a\x00b"},
                         page=f"/enrolments/{eid}")
    assert gone.status_code == 422 and "control characters" in gone.text
    assert snapshot(app) == before


# --- reports, timeline, demo --------------------------------------------------------------------------


def test_training_outcomes_counts_a_period(app, make):
    cw = make.user("caseworker")
    a, b, c = make.survivor(cw), make.survivor(cw), make.survivor(cw)
    p1, p2 = add_programme(app, starts=-300, ends=-200), add_programme(app, starts=-30)
    add_enrolment(app, a, p1, status="completed", enrolled_on=day(-310), completed_on=day(-200),
                  certified=True, employed_at_3_months=True, employed_at_6_months=False)
    add_enrolment(app, b, p1, status="completed", enrolled_on=day(-310), completed_on=day(-200),
                  certified=False, employed_at_3_months=False)
    add_enrolment(app, c, p1, status="withdrawn", enrolled_on=day(-310), withdrawn_on=day(-250))
    add_enrolment(app, a, p2, enrolled_on=day(-5))
    with app.app_context():
        both = service.training_outcomes([a, b, c], day(-365), TODAY)
        assert both == {"enrolments": 4, "completions": 2, "certified": 1,
                        "employed_at_3_months": 1, "employed_at_6_months": 0}
        recent = service.training_outcomes(select(Survivor.id), day(-30), TODAY)
        assert recent == {"enrolments": 1, "completions": 0, "certified": 0,
                          "employed_at_3_months": 0, "employed_at_6_months": 0}
        assert service.training_outcomes([c], day(-365), TODAY)["enrolments"] == 1


def test_timeline_shows_training_events(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    eid = add_enrolment(app, sid, add_programme(app, starts=-100, ends=-10, name="Timeline course"),
                        status="completed", enrolled_on=day(-101), completed_on=day(-10),
                        certified=True)
    items = login_api(app, cw).get(f"/api/v1/survivors/{sid}/timeline").json["items"]
    kinds = {item["kind"]: item for item in items if item["record_type"] == "enrolment"}
    assert set(kinds) == {"training.enrolled", "training.completed"}
    assert kinds["training.completed"]["record_id"] == str(eid)
    assert "Timeline course" in kinds["training.completed"]["title"]
    assert kinds["training.completed"]["fields"]["certified"] is True
    page = login_web(app, cw).get(f"/survivors/{sid}/timeline")
    assert 'data-kind="training.completed"' in page.text and f"/enrolments/{eid}" in page.text


def test_demo_seeds_programmes_enrolments_and_outcomes(app, make):
    import random

    from casework.training.demo import seed_demo

    users = {name: make.user(role, team=team, username=name)
             for name, role, team in (("cw.amara", "caseworker", "North"),
                                      ("cw.tuan", "caseworker", "North"),
                                      ("co.lina", "counsellor", "North"),
                                      ("sup.rosa", "supervisor", "North"),
                                      ("admin", "admin", None))}
    survivors = [make.survivor(users["cw.amara" if i % 2 else "cw.tuan"],
                               intake_date=day(-400 + i)) for i in range(45)]
    with app.test_request_context("/"):
        rows = [db.session.get(Survivor, sid) for sid in survivors]
        users = {k: db.session.get(User, u.id) for k, u in users.items()}
        seed_demo(random.Random(7), rows, users)
        db.session.commit()
        programmes = db.session.scalars(select(TrainingProgramme)).all()
        assert len(programmes) == 3
        providers = db.session.scalars(select(Partner)).all()
        assert all(p.offers("vocational_training") and "(demo)" in p.name for p in providers)
        statuses = db.session.scalars(select(Enrolment.status)).all()
        assert 25 <= len(statuses) <= 40 and "completed" in statuses
        assert db.session.scalar(select(Enrolment.id).where(Enrolment.certified.is_(True)))
        assert db.session.scalar(select(Enrolment.id).where(
            Enrolment.employed_at_3_months.is_not(None)))


# --- statement counts ----------------------------------------------------------------------------------


def _count_get(app, client, url: str) -> int:
    client.get(url)  # warm caches (templates, compiled statements)
    with statements(app) as seen:
        response = client.get(url)
    assert response.status_code == 200, response.text[:500]
    return len(seen)


def test_survivor_training_page_and_api_do_not_grow_with_enrolments(app, make):
    cw = make.user("caseworker")
    one, many = make.survivor(cw), make.survivor(cw)
    bulk_enrolments(app, one, 1)
    ids = bulk_enrolments(app, many, 50)
    web, api = login_web(app, cw), login_api(app, cw)
    assert str(ids[-1]) in web.get(f"/survivors/{many}/training").text
    for client, url in ((web, "/survivors/{}/training"), (api, "/api/v1/survivors/{}/enrolments"),
                        (api, "/api/v1/survivors/{}/timeline")):
        small = _count_get(app, client, url.format(one))
        large = _count_get(app, client, url.format(many))
        assert small == large, f"{url}: {small} statements for 1 record, {large} for 50"
    supervisor = login_web(app, make.user("supervisor"))
    assert _count_get(app, supervisor, f"/survivors/{one}/training") == \
        _count_get(app, supervisor, f"/survivors/{many}/training")


def test_timeline_provider_runs_a_fixed_number_of_queries(app, make):
    cw = make.user("caseworker")
    one, many = make.survivor(cw), make.survivor(cw)
    bulk_enrolments(app, one, 1)
    bulk_enrolments(app, many, 50)
    counts = []
    for sid, expected in ((one, 1), (many, 50)):
        with app.test_request_context("/"):
            user = db.session.get(User, cw.id)
            survivor = db.session.get(Survivor, sid)
            with statements(app) as seen:
                events = service.timeline_events(user, survivor)
            assert len(events) == 2 * expected
            counts.append(len(seen))
    # enrolments, their programmes, and (once) the viewer's relationship to the survivor
    assert counts[0] == counts[1] <= 3, counts


def test_timeline_page_does_not_grow_with_enrolments(app, make):
    cw = make.user("caseworker")
    one, many = make.survivor(cw), make.survivor(cw)
    bulk_enrolments(app, one, 1)
    bulk_enrolments(app, many, 50)
    web = login_web(app, cw)
    assert _count_get(app, web, f"/survivors/{one}/timeline") == \
        _count_get(app, web, f"/survivors/{many}/timeline")


def test_programme_list_does_not_grow_with_programmes(app, make):
    admin = make.user("admin")
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    add_programme(app)
    web, api = login_web(app, admin), login_api(app, admin)
    small = (_count_get(app, web, "/training/"),
             _count_get(app, api, "/api/v1/training-programmes"))
    bulk_enrolments(app, sid, 49)
    large = (_count_get(app, web, "/training/"),
             _count_get(app, api, "/api/v1/training-programmes"))
    assert small == large


# --- the matrix: role × relationship × enrolment field × surface ------------------------------------

SPECS = field_specs(Enrolment)
FIELDS = list(SPECS)
WITHDRAW_MARKER = "WITHDRAW-MARKER-551"
# Fields set by the actions rather than PATCH, and the action that sets each.
ACTION_FIELDS = {"status": "complete", "completed_on": "complete", "withdrawn_on": "withdraw",
                 "withdraw_reason": "withdraw"}
SURFACES = ("page", "form", "api_read", "api_write", "timeline_api", "timeline_page")


@dataclass(frozen=True)
class Context:
    key: str
    user: str
    role: str
    relationship: str

    def perms(self, name: str) -> frozenset:
        return permissions(self.role, self.relationship, SPECS[name].tier)

    @property
    def readable(self) -> set[str]:
        return {name for name in SPECS if READ in self.perms(name)}

    @property
    def writable(self) -> set[str]:
        return {name for name in SPECS if WRITE in self.perms(name) and not SPECS[name].read_only}

    def action_writable(self, name: str) -> bool:
        """May set ``name`` through its action (needs write on its tier and the status's)."""
        return WRITE in self.perms(name) and WRITE in self.perms("status")


CONTEXTS = [
    Context("caseworker-lead", "lead", "caseworker", "assigned"),
    Context("caseworker-other_team", "cw_south", "caseworker", "none"),
    Context("counsellor-collaborator", "counsellor", "counsellor", "assigned"),
    Context("supervisor-same_team", "sup", "supervisor", "team"),
    Context("supervisor-other_team", "sup_south", "supervisor", "none"),
    Context("admin", "admin", "admin", "none"),
    Context("donor", "donor", "donor", "none"),
]
USERS = {"lead": ("caseworker", "North"), "cw_south": ("caseworker", "South"),
         "counsellor": ("counsellor", "North"), "sup": ("supervisor", "North"),
         "sup_south": ("supervisor", "South"), "admin": ("admin", None),
         "donor": ("donor", None)}
_CONTROL_NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"', re.I)


def control_names(html: str) -> set[str]:
    return set(_CONTROL_NAME.findall(html))


class World:
    def __init__(self, app):
        self.app = app
        self.ids: dict = {}
        self.web: dict = {}
        self.api: dict = {}
        self._pages: dict = {}

    def page(self, user: str, url: str):
        """GET once per user and page (reads do not change what the next read shows)."""
        key = (user, url)
        if key not in self._pages:
            self._pages[key] = self.web[user].get(url)
        return self._pages[key]

    def enrolments(self) -> dict:
        table = Enrolment.__table__
        with self.app.app_context():
            rows = db.session.execute(select(table)).mappings().all()
            db.session.rollback()
        return {r["id"]: dict(r) for r in rows}

    def restore(self, snap: dict) -> None:
        table = Enrolment.__table__
        with self.app.app_context():
            db.session.execute(delete(table).where(table.c.id.not_in(list(snap))))
            for record_id, values in snap.items():
                db.session.execute(update(table).where(table.c.id == record_id).values(
                    **{k: v for k, v in values.items() if k != "id"}))
            db.session.commit()

    @contextlib.contextmanager
    def preserved(self):
        snap = self.enrolments()
        try:
            yield snap
        finally:
            if self.enrolments() != snap:
                self.restore(snap)


@pytest.fixture(scope="class")
def world(app):
    """One world for the whole TestMatrix class (its tests do not wipe the tables)."""
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    make = Factory(app)
    w = World(app)
    users = {key: make.user(role, team=team, username=f"tm-{key}")
             for key, (role, team) in USERS.items()}
    w.ids = {key: user.id for key, user in users.items()}
    w.sid = make.survivor(users["lead"], collaborator_ids=[users["counsellor"].id])
    w.completed = add_enrolment(
        app, w.sid, add_programme(app, starts=-400, ends=-300, name="Matrix done course"),
        status="completed", enrolled_on=day(-410), completed_on=day(-300), certified=True,
        attendance_rate=90)
    w.ongoing = add_enrolment(app, w.sid, add_programme(app, starts=-30, ends=30),
                              enrolled_on=day(-31), attendance_rate=70)
    w.withdrawn = add_enrolment(app, w.sid, add_programme(app, starts=-90, ends=-20),
                                status="withdrawn", enrolled_on=day(-91),
                                withdrawn_on=day(-60), withdraw_reason=WITHDRAW_MARKER)
    w.open_programme = add_programme(app, starts=5, ends=60, name="Matrix open course")
    w.completed_programme = row(app, Enrolment, w.completed)["programme_id"]
    for key, user in users.items():
        w.web[key] = login_web(app, user)
        w.api[key] = login_api(app, user)
    yield w
    with app.app_context():
        _empty_all_tables()


class TestMatrix:
    """All cases share one world built once; each case that may change a record restores it."""

    @pytest.fixture(autouse=True)
    def _clean_state(self):  # replaces conftest's per-test wipe for this class
        yield

    def new_value(self, world, name):
        """(JSON value to send, value then stored) for a PATCH of the completed enrolment."""
        return {
            "programme_id": (str(world.completed_programme), world.completed_programme),
            "enrolled_on": (day(-405).isoformat(), day(-405)),
            "attendance_rate": (77, 77),
            "certified": (False, False),
            "employed_at_3_months": (True, True),
            "employed_at_6_months": (False, False),
        }.get(name, ("2020-01-01" if "_on" in name else "forged", None))

    # --- one case per context × field × surface

    @pytest.mark.parametrize(("ctx", "name", "surface"), [
        pytest.param(ctx, name, surface, id=f"{ctx.key}-{name}-{surface}")
        for ctx in CONTEXTS for name in FIELDS for surface in SURFACES])
    def test_field(self, world, ctx, name, surface):
        getattr(self, f"check_{surface}")(world, ctx, name)

    def check_page(self, world, ctx, name):
        for url in (f"/survivors/{world.sid}/training", f"/enrolments/{world.completed}",
                    f"/enrolments/{world.withdrawn}"):
            response = world.page(ctx.user, url)
            if not ctx.readable:
                assert response.status_code == 404, (ctx.key, url)
                continue
            assert response.status_code == 200, (ctx.key, url)
            listed = f'data-field="{name}"' in response.text
            expected = name in ctx.readable and name not in ("id", "survivor_id")
            assert listed == expected, f"{ctx.key}: {name} listed={listed} on {url}"
            if name == "withdraw_reason" and url != f"/enrolments/{world.completed}":
                shown = WITHDRAW_MARKER in response.text
                assert shown == (name in ctx.readable), f"{ctx.key}: reason on {url}"

    def check_form(self, world, ctx, name):
        pages = [world.page(ctx.user, url) for url in (
            f"/survivors/{world.sid}/training", f"/enrolments/{world.completed}",
            f"/enrolments/{world.ongoing}")]
        if not ctx.readable:
            assert all(p.status_code == 404 for p in pages), ctx.key
            return
        controls = set().union(*(control_names(p.text) for p in pages))
        ongoing = pages[2].text
        if not SPECS[name].read_only:
            assert (name in controls) == (name in ctx.writable), f"{ctx.key}: control {name}"
            return
        assert name not in controls, f"{ctx.key}: a control for read-only {name}"
        if name in ("status", "completed_on"):
            present = f"/enrolments/{world.ongoing}/complete" in ongoing
        elif name == "withdrawn_on":
            present = f"/enrolments/{world.ongoing}/withdraw" in ongoing
        elif name == "withdraw_reason":
            present = 'name="reason"' in ongoing
        else:
            return
        assert present == ctx.action_writable(name), f"{ctx.key}: action form for {name}"

    def check_api_read(self, world, ctx, name):
        one = world.api[ctx.user].get(f"/api/v1/enrolments/{world.withdrawn}")
        listing = world.api[ctx.user].get(f"/api/v1/survivors/{world.sid}/enrolments")
        if not ctx.readable:
            assert one.status_code == listing.status_code == 404, ctx.key
            assert WITHDRAW_MARKER not in one.text + listing.text
            return
        assert one.status_code == listing.status_code == 200, ctx.key
        assert (name in one.json) == (name in ctx.readable), f"{ctx.key}: {name} in API"
        assert len(listing.json["items"]) == 3
        for item in listing.json["items"]:
            assert (name in item) == (name in ctx.readable), f"{ctx.key}: {name} in list"
        if name == "withdraw_reason":
            assert (WITHDRAW_MARKER in listing.text) == (name in ctx.readable)

    def check_api_write(self, world, ctx, name):
        api = world.api[ctx.user]
        sent, stored = self.new_value(world, name)
        with world.preserved() as before:
            response = api.patch(f"/api/v1/enrolments/{world.completed}", json={name: sent})
            after = world.enrolments()
            where = f"{ctx.key}: PATCH {name}"
            if not ctx.readable:
                assert response.status_code == 404, where
            elif name in ctx.writable:
                assert response.status_code == 200, (where, response.json)
                assert after[world.completed][name] == stored, where
            else:
                assert response.status_code == 403, (where, response.status_code)
                assert response.json["fields"] == [name], where
            if response.status_code != 200:
                assert after == before, f"{where} was refused but changed something"
        if name not in ACTION_FIELDS:
            return
        action = ACTION_FIELDS[name]
        body = {"on": TODAY.isoformat()}
        if name == "withdraw_reason":
            body["reason"] = "A new reason."
        with world.preserved() as before:
            response = api.post(f"/api/v1/enrolments/{world.ongoing}/{action}", json=body)
            after = world.enrolments()
            where = f"{ctx.key}: {action} ({name})"
            if not ctx.readable:
                assert response.status_code == 404, where
            elif ctx.action_writable(name):
                assert response.status_code == 200, (where, response.json)
                assert after[world.ongoing][name] not in (None, "enrolled"), where
            else:
                assert response.status_code == 403, where
                assert name in response.json["fields"], where
                assert after == before, where

    def check_timeline_api(self, world, ctx, name):
        response = world.api[ctx.user].get(f"/api/v1/survivors/{world.sid}/timeline")
        if not ctx.readable:
            assert response.status_code == 404, ctx.key
            return
        assert response.status_code == 200, ctx.key
        events = [e for e in response.json["items"] if e["record_type"] == "enrolment"]
        assert {e["kind"] for e in events} == {"training.enrolled", "training.completed",
                                               "training.withdrawn"}
        for item in events:
            assert (name in item["fields"]) == (name in ctx.readable), f"{ctx.key}: {name}"
        if name == "withdraw_reason":
            assert (WITHDRAW_MARKER in response.text) == (name in ctx.readable)

    def check_timeline_page(self, world, ctx, name):
        response = world.page(ctx.user, f"/survivors/{world.sid}/timeline")
        if not ctx.readable:
            assert response.status_code == 404, ctx.key
            return
        assert response.status_code == 200
        assert 'data-kind="training.withdrawn"' in response.text
        if name == "withdraw_reason":
            assert (WITHDRAW_MARKER in response.text) == (name in ctx.readable), ctx.key

    # --- whole-surface checks per context

    @pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
    def test_api_keys_are_exactly_the_readable_fields(self, world, ctx):
        response = world.api[ctx.user].get(f"/api/v1/enrolments/{world.completed}")
        if ctx.readable:
            assert set(response.json) == ctx.readable, ctx.key
        else:
            assert response.status_code == 404

    @pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
    def test_enrol_through_api_and_page(self, world, ctx):
        may = "programme_id" in ctx.writable
        for surface in ("api", "page"):
            with world.preserved() as before:
                if surface == "api":
                    response = world.api[ctx.user].post(
                        f"/api/v1/survivors/{world.sid}/enrolments",
                        json={"programme_id": str(world.open_programme)})
                    created = 201
                else:
                    web = world.web[ctx.user]
                    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                                      web.get("/training/").text or web.get("/").text)
                    data = {"programme_id": str(world.open_programme),
                            "enrolled_on": TODAY.isoformat(),
                            "csrf_token": token.group(1) if token else ""}
                    response = web.client.post(f"/survivors/{world.sid}/training", data=data)
                    created = 302
                after = world.enrolments()
                if not ctx.readable:
                    assert response.status_code == 404, (ctx.key, surface)
                elif may:
                    assert response.status_code == created, (ctx.key, surface, response.text[:300])
                    assert len(after) == len(before) + 1
                else:
                    assert response.status_code == 403, (ctx.key, surface)
                if not may:
                    assert after == before, (ctx.key, surface)

    @pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
    def test_crafted_edit_post_cannot_write_forbidden_fields(self, world, ctx):
        web = world.web[ctx.user]
        page = world.page(ctx.user, "/training/") if ctx.role != "donor" else None
        source = page.text if page is not None and page.status_code == 200 else \
            web.get("/", follow_redirects=True).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', source).group(1)
        data = {"csrf_token": token, "enrolled_on": day(-410).isoformat(),
                "attendance_rate": "90", "certified": "y", "status": "withdrawn",
                "withdraw_reason": "forged", "completed_on": TODAY.isoformat(),
                "employed_at_6_months": "no", "programme_id": str(world.open_programme)}
        with world.preserved() as before:
            response = web.client.post(f"/enrolments/{world.completed}", data=data)
            after = world.enrolments()[world.completed]
            if not ctx.readable:
                assert response.status_code == 404
            elif not ctx.writable:
                assert response.status_code == 403
            for name in ("status", "withdraw_reason", "completed_on", "programme_id"):
                assert after[name] == before[world.completed][name], (ctx.key, name)
