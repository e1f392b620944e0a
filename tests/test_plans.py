"""The support plan through its pages and the API: items (HTCDS spl_Type) with an objective,
due and done dates and an assignee; who may be assigned; bad input refused with nothing
changed; the role × field × surface matrix of every plan item field; statement counts."""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, event, insert, select, update

import casework.models  # noqa: F401  (every model mapped before field_specs inspects them)
from casework.access.fields import field_specs
from casework.access.policy import READ, WRITE, permissions
from casework.auth.models import User
from casework.auth.service import deactivate_user
from casework.encryption import decrypt_row, encrypt_value
from casework.extensions import db, limiter
from casework.plans import service
from casework.plans.models import PlanItem
from casework.plans.views import COLUMNS
from casework.survivors.models import Survivor
from tests.conftest import Factory, _empty_all_tables, login_api, login_web

TODAY = date.today()
KB10 = "x" * (10 * 1024 + 1)


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def add_item(app, sid, assignee_id, **fields) -> uuid.UUID:
    values = {"type": "Education", "due_on": day(10), "objective": "Synthetic objective.",
              **fields}
    with app.app_context():
        item = PlanItem(survivor_id=sid, assignee_id=assignee_id, **values)
        db.session.add(item)
        db.session.commit()
        return item.id


def bulk_items(app, sid, assignee_id, count: int, **fields) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    with app.app_context():
        db.session.execute(insert(PlanItem), [
            {"id": i, "survivor_id": sid, "assignee_id": assignee_id, "type": "Health",
             "objective": encrypt_value(PlanItem.__table__, "objective", i, f"Bulk objective {n}"),
             "due_on": day(-5 - n % 20), **fields}
            for n, i in enumerate(ids)])
        db.session.commit()
    return ids


def row(app, item_id) -> dict:
    table = PlanItem.__table__
    with app.app_context():
        found = db.session.execute(select(table).where(table.c.id == item_id)).mappings().one()
        db.session.rollback()
        return decrypt_row(table, found)


def snapshot(app) -> list[dict]:
    table = PlanItem.__table__
    with app.app_context():
        rows = db.session.execute(select(table)).mappings().all()
        db.session.rollback()
    return sorted((dict(r) for r in rows), key=lambda r: str(r["id"]))


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


# --- workflows -----------------------------------------------------------------------------------


def test_plan_workflow_through_the_pages(app, make):
    cw = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="North")
    sid = make.survivor(cw, collaborator_ids=[counsellor.id])
    web = login_web(app, cw)
    page = web.get(f"/survivors/{sid}/plan")
    assert page.status_code == 200
    assert "The support plan has no items yet." in page.text
    assert 'name="objective"' in page.text and 'name="done_on"' not in page.text
    assert "Rights-based Training" in page.text  # HTCDS spl_Type labels
    added = web.post_form(f"/survivors/{sid}/plan", {
        "type": "Livelihood", "objective": "Write a CV (synthetic).",
        "due_on": day(-3).isoformat(), "assignee_id": str(counsellor.id)})
    assert added.status_code == 302, added.text[:3000]
    with app.app_context():
        item_id = db.session.scalar(select(PlanItem.id))
    stored = row(app, item_id)
    assert stored["type"] == "Livelihood" and stored["assignee_id"] == counsellor.id
    page = web.get(f"/survivors/{sid}/plan")
    assert "Write a CV (synthetic)." in page.text and "Overdue" in page.text
    assert "table-danger" in page.text and f"/plan-items/{item_id}/done" in page.text
    edit = web.get(f"/plan-items/{item_id}")
    assert edit.status_code == 200 and 'name="done_on"' in edit.text
    saved = web.post_form(f"/plan-items/{item_id}", {
        "type": "Livelihood", "objective": "Write a CV and a cover letter.",
        "due_on": day(7).isoformat(), "done_on": "", "assignee_id": str(counsellor.id)})
    assert saved.status_code == 302
    assert row(app, item_id)["objective"] == "Write a CV and a cover letter."
    assert "Overdue" not in web.get(f"/survivors/{sid}/plan").text
    done = web.post_form(f"/plan-items/{item_id}/done", {}, page=f"/survivors/{sid}/plan")
    assert done.status_code == 302
    assert row(app, item_id)["done_on"] == TODAY
    assert f"/plan-items/{item_id}/done" not in web.get(f"/survivors/{sid}/plan").text


def test_plan_workflow_through_the_api(app, make):
    cw = make.user("caseworker", team="North")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    created = api.post(f"/api/v1/survivors/{sid}/plan-items", json={
        "type": "Health", "objective": "Book a health check.", "due_on": day(5).isoformat()})
    assert created.status_code == 201, created.json
    body = created.json
    assert body["assignee_id"] == str(cw.id)  # the lead caseworker by default
    assert body["done_on"] is None and body["created_at"].endswith("Z")
    item_id = body["id"]
    patched = api.patch(f"/api/v1/plan-items/{item_id}", json={"done_on": TODAY.isoformat()})
    assert patched.status_code == 200 and patched.json["done_on"] == TODAY.isoformat()
    reopened = api.patch(f"/api/v1/plan-items/{item_id}", json={"done_on": None})
    assert reopened.status_code == 200 and reopened.json["done_on"] is None
    assert api.get(f"/api/v1/plan-items/{item_id}").json["objective"] == "Book a health check."
    bulk_items(app, sid, cw.id, 4)
    seen, cursor = [], None
    while True:
        page = api.get(f"/api/v1/survivors/{sid}/plan-items?limit=2"
                       + (f"&cursor={cursor}" if cursor else "")).json
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5 and item_id in seen
    assert api.get(f"/api/v1/survivors/{sid}/plan-items?cursor=nope").status_code == 400


def test_reads_and_writes_are_audited_by_field_name(app, make):
    from casework.audit.models import AuditEvent

    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    item_id = api.post(f"/api/v1/survivors/{sid}/plan-items", json={
        "type": "Legal", "objective": "Objective-marker-12.", "due_on": day(4).isoformat()}
    ).json["id"]
    api.patch(f"/api/v1/plan-items/{item_id}", json={"done_on": TODAY.isoformat()})
    login_web(app, cw).get(f"/survivors/{sid}/plan")
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == sid)).all()
        actions = {e.action: e for e in events}
        assert actions["plan_item.created"].fields == ["assignee_id", "due_on", "objective",
                                                       "type"]
        assert actions["plan_item.updated"].fields == ["done_on"]
        assert "objective" in actions["plan_item.listed"].fields
        assert actions["plan_item.viewed"].channel == "api"
        assert all("Objective-marker-12" not in str(e.fields) for e in events)


def test_supervisor_plans_without_the_objective_and_counsellor_only_reads(app, make):
    cw = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="North")
    supervisor = make.user("supervisor", team="North")
    sid = make.survivor(cw, collaborator_ids=[counsellor.id])
    sup = login_api(app, supervisor)
    refused = sup.post(f"/api/v1/survivors/{sid}/plan-items", json={
        "type": "Legal", "due_on": day(3).isoformat(), "objective": "Not theirs to write."})
    assert refused.status_code == 403 and refused.json["fields"] == ["objective"]
    created = sup.post(f"/api/v1/survivors/{sid}/plan-items", json={
        "type": "Legal", "due_on": day(3).isoformat(), "assignee_id": str(counsellor.id)})
    assert created.status_code == 201 and created.json["objective"] is None
    form = login_web(app, supervisor).get(f"/survivors/{sid}/plan")
    assert 'name="type"' in form.text and 'name="objective"' not in form.text
    item_id = created.json["id"]
    co = login_api(app, counsellor)
    assert "objective" not in co.get(f"/api/v1/plan-items/{item_id}").json
    before = snapshot(app)
    assert co.patch(f"/api/v1/plan-items/{item_id}",
                    json={"done_on": TODAY.isoformat()}).status_code == 403
    assert co.post(f"/api/v1/survivors/{sid}/plan-items",
                   json={"type": "Legal", "due_on": day(3).isoformat()}).status_code == 403
    co_web = login_web(app, counsellor)
    page = co_web.get(f"/survivors/{sid}/plan")
    assert page.status_code == 200 and "/done" not in page.text and 'name="type"' not in page.text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    assert co_web.client.post(f"/plan-items/{item_id}/done",
                              data={"csrf_token": token}).status_code == 403
    assert snapshot(app) == before


def test_who_may_be_assigned(app, make):
    cw = make.user("caseworker", team="North")
    teammate = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="South")  # another team, but collaborating
    outsider = make.user("caseworker", team="South")
    supervisor = make.user("supervisor", team="North")
    retired = make.user("caseworker", team="North")
    with app.test_request_context("/"):
        deactivate_user(db.session.get(User, retired.id))
        db.session.commit()
    sid = make.survivor(cw, collaborator_ids=[counsellor.id])
    api = login_api(app, cw)
    url = f"/api/v1/survivors/{sid}/plan-items"
    base = {"type": "SocialCare", "due_on": day(9).isoformat()}
    for person in (cw, teammate, counsellor):
        response = api.post(url, json={**base, "assignee_id": str(person.id)})
        assert response.status_code == 201, (person.username, response.json)
    before = snapshot(app)
    for person_id in (outsider.id, supervisor.id, retired.id, uuid.uuid4()):
        response = api.post(url, json={**base, "assignee_id": str(person_id)})
        assert response.status_code == 422 and "assignee_id" in response.json["errors"]
    assert snapshot(app) == before
    with app.test_request_context("/"):
        choices = {u.id for u in service.assignee_choices(db.session.get(Survivor, sid))}
    assert choices == {cw.id, teammate.id, counsellor.id}


def test_plan_items_are_404_outside_scope(app, make):
    cw = make.user("caseworker", team="North")
    sid = make.survivor(cw)
    item_id = add_item(app, sid, cw.id)
    for role, team in (("caseworker", "South"), ("supervisor", "South"), ("admin", None),
                       ("donor", None)):
        user = make.user(role, team=team)
        api = login_api(app, user)
        assert api.get(f"/api/v1/plan-items/{item_id}").status_code == 404
        assert api.patch(f"/api/v1/plan-items/{item_id}", json={"done_on": None}
                         ).status_code == 404
        assert api.get(f"/api/v1/survivors/{sid}/plan-items").status_code == 404
        web = login_web(app, user)
        assert web.get(f"/survivors/{sid}/plan").status_code == 404
        assert web.get(f"/plan-items/{item_id}").status_code == 404
    assert login_api(app, cw).get(f"/api/v1/plan-items/{uuid.uuid4()}").status_code == 404


# --- bad input -------------------------------------------------------------------------------------

PLAN_BAD = [
    ("type", "Cooking"), ("type", 5), ("type", None), ("type", ""), ("type", KB10),
    ("type", "Health\x00"), ("type", ["Health"]),
    ("objective", KB10), ("objective", 5), ("objective", "a\x00b"), ("objective", "bell\x07"),
    ("objective", "lone \ud800"), ("objective", {"x": 1}),
    ("due_on", "2026-02-30"), ("due_on", "soon"), ("due_on", 5), ("due_on", None),
    ("due_on", "1999-12-31"), ("due_on", "2999-01-01"), ("due_on", KB10), ("due_on", True),
    ("done_on", "TOMORROW"), ("done_on", "x"), ("done_on", 20260101), ("done_on", "1990-01-01"),
    ("done_on", [TODAY.isoformat()]),
    ("assignee_id", "nope"), ("assignee_id", 5), ("assignee_id", KB10), ("assignee_id", []),
    ("assignee_id", "UNKNOWN"),
    ("id", "FORGED"), ("survivor_id", "FORGED"), ("created_at", "2020-01-01T00:00:00Z"),
    ("updated_at", "2020-01-01T00:00:00Z"), ("colour", "red"),
]


def by_field(pairs) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


@pytest.mark.parametrize(("name", "values"), list(by_field(PLAN_BAD).items()),
                         ids=list(by_field(PLAN_BAD)))
def test_plan_bad_input_is_refused_and_changes_nothing(app, make, name, values):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    item_id = add_item(app, sid, cw.id)
    api = login_api(app, cw)
    before = snapshot(app)
    read_only = name in field_specs(PlanItem) and field_specs(PlanItem)[name].read_only
    for value in values:
        value = {"UNKNOWN": str(uuid.uuid4()), "FORGED": str(uuid.uuid4()),
                 "TOMORROW": day(1).isoformat()}.get(value, value) if isinstance(value, str) \
            else value
        created = api.post(f"/api/v1/survivors/{sid}/plan-items",
                           json={"type": "Health", "due_on": day(3).isoformat(), name: value})
        patched = api.patch(f"/api/v1/plan-items/{item_id}", json={name: value})
        for response in (created, patched):
            assert response.status_code == (403 if read_only else 422), (
                name, value, response.status_code, response.text[:300])
            assert response.mimetype == "application/problem+json"
            if read_only:
                assert response.json["fields"] == [name]
            else:
                assert name in response.json["errors"], response.json
        assert snapshot(app) == before, value


def test_plan_forms_refuse_bad_input(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    item_id = add_item(app, sid, cw.id)
    web = login_web(app, cw)
    before = snapshot(app)
    valid = {"type": "Health", "objective": "", "due_on": day(3).isoformat(),
             "assignee_id": str(cw.id)}
    for change in ({"type": "Cooking"}, {"type": ""}, {"due_on": "soon"}, {"due_on": ""},
                   {"assignee_id": str(uuid.uuid4())}, {"objective": "y" * 5001},
                   {"objective": "a\x00b"}, {"due_on": "1999-01-01"}):
        response = web.post_form(f"/survivors/{sid}/plan", {**valid, **change})
        assert response.status_code == 422, change
        assert "is-invalid" in response.text or "alert-danger" in response.text
    response = web.post_form(f"/plan-items/{item_id}", {**valid, "done_on": day(2).isoformat()})
    assert response.status_code == 422 and 'id="done_on-error"' in response.text
    assert snapshot(app) == before


def test_bodies_that_are_not_json_objects_are_400(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    item_id = add_item(app, sid, cw.id)
    api = login_api(app, cw)
    assert api.post(f"/api/v1/survivors/{sid}/plan-items", json=["x"]).status_code == 400
    assert api.patch(f"/api/v1/plan-items/{item_id}", data="x",
                     headers={"Content-Type": "text/plain"}).status_code == 400
    assert api.get(f"/api/v1/survivors/{sid}/plan-items?limit=500").status_code == 422


# --- timeline, demo --------------------------------------------------------------------------------


def test_timeline_shows_plan_events(app, make):
    cw = make.user("caseworker")
    counsellor = make.user("counsellor")
    sid = make.survivor(cw, collaborator_ids=[counsellor.id])
    add_item(app, sid, cw.id, type="Financial", objective="Open a bank account (marker-99).",
             done_on=day(-1), due_on=day(-2))
    items = login_api(app, cw).get(f"/api/v1/survivors/{sid}/timeline").json["items"]
    plan = {item["kind"]: item for item in items if item["record_type"] == "plan_item"}
    assert set(plan) == {"plan.added", "plan.done"}
    assert "Financial" in plan["plan.done"]["title"]
    assert plan["plan.done"]["fields"]["objective"] == "Open a bank account (marker-99)."
    counsellor_view = login_api(app, counsellor).get(f"/api/v1/survivors/{sid}/timeline")
    assert "marker-99" not in counsellor_view.text  # the objective is sensitive
    page = login_web(app, counsellor).get(f"/survivors/{sid}/timeline")
    assert 'data-kind="plan.done"' in page.text and "marker-99" not in page.text


def test_demo_seeds_plans_for_each_survivor(app, make):
    import random

    from casework.plans.demo import seed_demo

    users = {name: make.user(role, team=team, username=name)
             for name, role, team in (("cw.amara", "caseworker", "North"),
                                      ("cw.tuan", "caseworker", "North"),
                                      ("co.lina", "counsellor", "North"),
                                      ("sup.rosa", "supervisor", "North"),
                                      ("admin", "admin", None))}
    sids = [make.survivor(users["cw.amara" if i % 2 else "cw.tuan"],
                          collaborator_ids=[users["co.lina"].id] if i % 3 == 0 else [],
                          intake_date=day(-200 + i)) for i in range(12)]
    with app.test_request_context("/"):
        survivors = [db.session.get(Survivor, sid) for sid in sids]
        loaded = {k: db.session.get(User, u.id) for k, u in users.items()}
        seed_demo(random.Random(3), survivors, loaded)
        db.session.commit()
        items = db.session.scalars(select(PlanItem)).all()
    assert 12 <= len(items) <= 36
    assert {i.survivor_id for i in items} == set(sids)
    assert {i.assignee_id for i in items} <= {u.id for k, u in users.items() if k != "admin"}
    assert any(i.done_on is None and i.due_on < TODAY for i in items)  # some overdue
    for item in items:  # each assignee works on the case
        with app.app_context():
            survivor = db.session.get(Survivor, item.survivor_id)
            assert item.assignee_id in survivor.assigned_user_ids()


# --- statement counts ------------------------------------------------------------------------------


def _count_get(app, client, url: str) -> int:
    client.get(url)
    with statements(app) as seen:
        response = client.get(url)
    assert response.status_code == 200, response.text[:500]
    return len(seen)


def test_plan_page_api_and_timeline_do_not_grow_with_items(app, make):
    cw = make.user("caseworker")
    counsellor = make.user("counsellor")
    one = make.survivor(cw, collaborator_ids=[counsellor.id])
    many = make.survivor(cw, collaborator_ids=[counsellor.id])
    bulk_items(app, one, counsellor.id, 1)
    bulk_items(app, many, counsellor.id, 50)
    for user in (cw, counsellor, make.user("supervisor")):
        web, api = login_web(app, user), login_api(app, user)
        for client, url in ((web, "/survivors/{}/plan"), (api, "/api/v1/survivors/{}/plan-items"),
                            (api, "/api/v1/survivors/{}/timeline")):
            small = _count_get(app, client, url.format(one))
            large = _count_get(app, client, url.format(many))
            assert small == large, f"{user.role} {url}: {small} statements for 1, {large} for 50"


def test_timeline_provider_runs_a_fixed_number_of_queries(app, make):
    cw = make.user("caseworker")
    one, many = make.survivor(cw), make.survivor(cw)
    bulk_items(app, one, cw.id, 1, done_on=day(-1))
    bulk_items(app, many, cw.id, 50, done_on=day(-1))
    counts = []
    for sid, expected in ((one, 1), (many, 50)):
        with app.test_request_context("/"):
            user = db.session.get(User, cw.id)
            survivor = db.session.get(Survivor, sid)
            with statements(app) as seen:
                events = service.timeline_events(user, survivor)
            assert len(events) == 2 * expected
            counts.append(len(seen))
    # items, their assignees, and (once) the viewer's relationship to the survivor
    assert counts[0] == counts[1] <= 3, counts


# --- the matrix: role × relationship × plan item field × surface ------------------------------------

SPECS = field_specs(PlanItem)
FIELDS = list(SPECS)
OBJECTIVE_MARKER = "OBJECTIVE-MARKER-808"
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


CONTEXTS = [
    Context("caseworker-lead", "lead", "caseworker", "assigned"),
    Context("caseworker-other_team", "cw_south", "caseworker", "none"),
    Context("counsellor-collaborator", "counsellor", "counsellor", "assigned"),
    Context("supervisor-same_team", "sup", "supervisor", "team"),
    Context("supervisor-other_team", "sup_south", "supervisor", "none"),
    Context("admin", "admin", "admin", "none"),
    Context("donor", "donor", "donor", "none"),
]
USERS = {"lead": ("caseworker", "North"), "teammate": ("caseworker", "North"),
         "cw_south": ("caseworker", "South"), "counsellor": ("counsellor", "North"),
         "sup": ("supervisor", "North"), "sup_south": ("supervisor", "South"),
         "admin": ("admin", None), "donor": ("donor", None)}
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
        key = (user, url)
        if key not in self._pages:
            self._pages[key] = self.web[user].get(url)
        return self._pages[key]

    def items(self) -> dict:
        table = PlanItem.__table__
        with self.app.app_context():
            rows = db.session.execute(select(table)).mappings().all()
            db.session.rollback()
        return {r["id"]: dict(r) for r in rows}

    def restore(self, snap: dict) -> None:
        table = PlanItem.__table__
        with self.app.app_context():
            db.session.execute(delete(table).where(table.c.id.not_in(list(snap))))
            for item_id, values in snap.items():
                db.session.execute(update(table).where(table.c.id == item_id).values(
                    **{k: v for k, v in values.items() if k != "id"}))
            db.session.commit()

    @contextlib.contextmanager
    def preserved(self):
        snap = self.items()
        try:
            yield snap
        finally:
            if self.items() != snap:
                self.restore(snap)


@pytest.fixture(scope="class")
def world(app):
    """One world for the whole TestMatrix class (its tests do not wipe the tables)."""
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    make = Factory(app)
    w = World(app)
    users = {key: make.user(role, team=team, username=f"pm-{key}")
             for key, (role, team) in USERS.items()}
    w.ids = {key: user.id for key, user in users.items()}
    w.sid = make.survivor(users["lead"], collaborator_ids=[users["counsellor"].id])
    w.open = add_item(app, w.sid, users["lead"].id, type="Education",
                      objective=OBJECTIVE_MARKER, due_on=day(-3))
    w.done = add_item(app, w.sid, users["counsellor"].id, type="Health",
                      objective="Done objective.", due_on=day(-10), done_on=day(-12))
    for key, user in users.items():
        w.web[key] = login_web(app, user)
        w.api[key] = login_api(app, user)
    yield w
    with app.app_context():
        _empty_all_tables()


class TestMatrix:
    @pytest.fixture(autouse=True)
    def _clean_state(self):  # replaces conftest's per-test wipe for this class
        yield

    def new_value(self, world, name):
        return {
            "type": ("Health", "Health"),
            "objective": ("A new objective.", "A new objective."),
            "due_on": (day(20).isoformat(), day(20)),
            "done_on": (day(-1).isoformat(), day(-1)),
            "assignee_id": (str(world.ids["teammate"]), world.ids["teammate"]),
        }.get(name, ("2020-01-01T00:00:00Z" if name.endswith("_at") else str(uuid.uuid4()),
                     None))

    @pytest.mark.parametrize(("ctx", "name", "surface"), [
        pytest.param(ctx, name, surface, id=f"{ctx.key}-{name}-{surface}")
        for ctx in CONTEXTS for name in FIELDS for surface in SURFACES])
    def test_field(self, world, ctx, name, surface):
        getattr(self, f"check_{surface}")(world, ctx, name)

    def check_page(self, world, ctx, name):
        plan = world.page(ctx.user, f"/survivors/{world.sid}/plan")
        item = world.page(ctx.user, f"/plan-items/{world.open}")
        if not ctx.readable:
            assert plan.status_code == item.status_code == 404, ctx.key
            assert OBJECTIVE_MARKER not in plan.text + item.text
            return
        assert plan.status_code == item.status_code == 200, ctx.key
        readable = name in ctx.readable
        assert (f'data-field="{name}"' in plan.text) == (readable and name in COLUMNS), ctx.key
        assert (f'data-field="{name}"' in item.text) == (
            readable and name not in ("id", "survivor_id")), ctx.key
        if name == "objective":
            for page in (plan, item):
                assert (OBJECTIVE_MARKER in page.text) == readable, ctx.key

    def check_form(self, world, ctx, name):
        plan = world.page(ctx.user, f"/survivors/{world.sid}/plan")
        item = world.page(ctx.user, f"/plan-items/{world.open}")
        if not ctx.readable:
            assert plan.status_code == item.status_code == 404, ctx.key
            return
        controls = control_names(plan.text) | control_names(item.text)
        assert (name in controls) == (name in ctx.writable), f"{ctx.key}: control for {name}"
        if name == "done_on":
            assert (f"/plan-items/{world.open}/done" in plan.text) == (name in ctx.writable)

    def check_api_read(self, world, ctx, name):
        one = world.api[ctx.user].get(f"/api/v1/plan-items/{world.open}")
        listing = world.api[ctx.user].get(f"/api/v1/survivors/{world.sid}/plan-items")
        if not ctx.readable:
            assert one.status_code == listing.status_code == 404, ctx.key
            assert OBJECTIVE_MARKER not in one.text + listing.text
            return
        assert one.status_code == listing.status_code == 200, ctx.key
        assert (name in one.json) == (name in ctx.readable), ctx.key
        assert len(listing.json["items"]) == 2
        for entry in listing.json["items"]:
            assert (name in entry) == (name in ctx.readable), ctx.key
        if name == "objective":
            assert (OBJECTIVE_MARKER in listing.text) == (name in ctx.readable)

    def check_api_write(self, world, ctx, name):
        sent, stored = self.new_value(world, name)
        with world.preserved() as before:
            response = world.api[ctx.user].patch(f"/api/v1/plan-items/{world.open}",
                                                 json={name: sent})
            after = world.items()
            where = f"{ctx.key}: PATCH {name}"
            if not ctx.readable:
                assert response.status_code == 404, where
            elif name in ctx.writable:
                assert response.status_code == 200, (where, response.json)
                item = decrypt_row(PlanItem.__table__, after[world.open], world.app)
                assert item[name] == stored, where
            else:
                assert response.status_code == 403, (where, response.status_code)
                assert response.json["fields"] == [name], where
            if response.status_code != 200:
                assert after == before, f"{where} was refused but changed something"
            else:
                others = {k for k in before[world.open] if k not in (name, "updated_at")}
                assert {k: after[world.open][k] for k in others} == \
                    {k: before[world.open][k] for k in others}, where

    def check_timeline_api(self, world, ctx, name):
        response = world.api[ctx.user].get(f"/api/v1/survivors/{world.sid}/timeline")
        if not ctx.readable:
            assert response.status_code == 404, ctx.key
            return
        events = [e for e in response.json["items"] if e["record_type"] == "plan_item"]
        assert {e["kind"] for e in events} == {"plan.added", "plan.done"}
        for entry in events:
            assert (name in entry["fields"]) == (name in ctx.readable), ctx.key
        if name == "objective":
            assert (OBJECTIVE_MARKER in response.text) == (name in ctx.readable)

    def check_timeline_page(self, world, ctx, name):
        response = world.page(ctx.user, f"/survivors/{world.sid}/timeline")
        if not ctx.readable:
            assert response.status_code == 404, ctx.key
            return
        assert 'data-kind="plan.done"' in response.text
        if name == "objective":
            assert (OBJECTIVE_MARKER in response.text) == (name in ctx.readable), ctx.key

    @pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
    def test_api_keys_are_exactly_the_readable_fields(self, world, ctx):
        response = world.api[ctx.user].get(f"/api/v1/plan-items/{world.done}")
        if ctx.readable:
            assert set(response.json) == ctx.readable
        else:
            assert response.status_code == 404

    @pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
    def test_create_through_api(self, world, ctx):
        body = {"type": "Legal", "due_on": day(4).isoformat()}
        if "objective" in ctx.writable:
            body["objective"] = "Created in the matrix."
        with world.preserved() as before:
            response = world.api[ctx.user].post(f"/api/v1/survivors/{world.sid}/plan-items",
                                                json=body)
            after = world.items()
            if not ctx.readable:
                assert response.status_code == 404
            elif {"type", "due_on"} <= ctx.writable:
                assert response.status_code == 201, response.json
                assert len(after) == len(before) + 1
                assert set(response.json) == ctx.readable
            else:
                assert response.status_code == 403
            if response.status_code != 201:
                assert after == before

    @pytest.mark.parametrize("ctx", CONTEXTS, ids=[c.key for c in CONTEXTS])
    def test_crafted_form_post_cannot_write_forbidden_fields(self, world, ctx):
        web = world.web[ctx.user]
        source = web.get("/", follow_redirects=True).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', source).group(1)
        data = {"csrf_token": token, "type": "Education", "objective": "Forged objective.",
                "due_on": day(-3).isoformat(), "done_on": day(-1).isoformat(),
                "assignee_id": str(world.ids["lead"]), "survivor_id": str(uuid.uuid4()),
                "id": str(uuid.uuid4())}
        with world.preserved() as before:
            response = web.client.post(f"/plan-items/{world.open}", data=data)
            after = world.items()[world.open]
            if not ctx.readable:
                assert response.status_code == 404
            elif not ctx.writable:
                assert response.status_code == 403
            else:
                assert response.status_code == 302, response.text[:500]
            old = before[world.open]
            for name in SPECS:
                if after[name] != old[name]:
                    assert name in ctx.writable or name == "updated_at", (ctx.key, name)
