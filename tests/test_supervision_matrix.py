"""Role × relationship × field × surface for the supervision records (Reassignment,
ClosureRequest), computed from the access policy; and the timeline provider's statement count
does not grow with the number of records."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from casework.access.fields import field_specs
from casework.access.policy import READ, permissions
from casework.auth.models import Organisation, User
from casework.extensions import db
from casework.supervision.models import ClosureRequest, Reassignment
from casework.survivors.models import Survivor
from tests.conftest import login_api, login_web

CONTEXTS = [
    ("caseworker-lead", "lead", "caseworker", "assigned"),
    ("caseworker-other_team", "cw_other", "caseworker", "none"),
    ("counsellor-collaborator", "counsellor", "counsellor", "assigned"),
    ("supervisor-same_team", "sup", "supervisor", "team"),
    ("supervisor-other_team", "sup_other", "supervisor", "none"),
    ("admin", "admin", "admin", "none"),
    ("donor", "donor", "donor", "none"),
]
MARKERS = {(ClosureRequest, "reason"): "CLOSE-REASON-MARK-17",
           (ClosureRequest, "comment"): "RETURN-COMMENT-MARK-23",
           (Reassignment, "reason"): "MOVE-REASON-MARK-29"}
SURFACES = ("api_read", "timeline_api", "timeline_page")


def readable(model, role, rel) -> set[str]:
    return {name for name, spec in field_specs(model).items()
            if READ in permissions(role, rel, spec.tier)}


class World:
    pass


@pytest.fixture(scope="module")
def world(app):
    """Built once: a survivor reassigned to ``lead`` and a returned closure request."""
    from tests.conftest import Factory, _empty_all_tables

    with app.app_context():
        _empty_all_tables()
    make = Factory(app)
    w = World()
    w.app = app
    users = {
        "lead": make.user("caseworker", team="North"),
        "old_lead": make.user("caseworker", team="North"),
        "cw_other": make.user("caseworker", team="South"),
        "counsellor": make.user("counsellor", team="North"),
        "sup": make.user("supervisor", team="North"),
        "sup_other": make.user("supervisor", team="South"),
        "admin": make.user("admin"),
        "donor": make.user("donor"),
    }
    w.sid = make.survivor(users["old_lead"])
    with app.app_context():
        s = db.session.get(Survivor, w.sid)
        s.collaborators = [db.session.get(User, users["counsellor"].id)]
        db.session.add(Organisation(name="Matrix (demo)", closures_need_approval=True))
        db.session.commit()
    sup = login_api(app, users["sup"])
    moved = sup.post("/api/v1/supervision/reassign", json={
        "survivor_ids": [str(w.sid)], "to_user_id": str(users["lead"].id),
        "reason": MARKERS[(Reassignment, "reason")]})
    assert moved.status_code == 200, moved.json
    lead = login_api(app, users["lead"])
    request = lead.post(f"/api/v1/survivors/{w.sid}/close",
                        json={"reason": MARKERS[(ClosureRequest, "reason")]})
    assert request.status_code == 202, request.json
    w.rid = request.json["id"]
    assert sup.post(f"/api/v1/closure-requests/{w.rid}/return", json={
        "comment": MARKERS[(ClosureRequest, "comment")]}).status_code == 200
    w.responses = {}
    for key, user in users.items():
        api, web = login_api(app, user), login_web(app, user)
        w.responses[key] = {
            "api_read": api.get(f"/api/v1/closure-requests/{w.rid}"),
            "timeline_api": api.get(f"/api/v1/survivors/{w.sid}/timeline"),
            "timeline_page": web.get(f"/survivors/{w.sid}/timeline"),
        }
    yield w
    with app.app_context():
        _empty_all_tables()


@pytest.fixture(autouse=True)
def _clean_state():  # the module's world is built once; each other test uses its own teams
    yield


MATRIX = [pytest.param(ctx, model, name, surface,
                       id=f"{ctx[0]}-{model.__name__}-{name}-{surface}")
          for ctx in CONTEXTS for model in (ClosureRequest, Reassignment)
          for name in field_specs(model) for surface in SURFACES
          if not (model is Reassignment and surface == "api_read")]

TIMELINE_FIELDS = {
    ClosureRequest: {"requested_status", "reason", "status", "decided_by", "comment"},
    Reassignment: {"from_user_id", "to_user_id", "reason"},
}
RECORD_TYPES = {ClosureRequest: "closure_request", Reassignment: "reassignment"}


@pytest.mark.parametrize(("ctx", "model", "name", "surface"), MATRIX)
def test_field_matrix(world, ctx, model, name, surface):
    key, user, role, rel = ctx
    can_read = readable(model, role, rel)
    visible = bool(can_read)
    where = f"{key} {model.__name__}.{name} {surface}"
    response = world.responses[user][surface]
    marker = MARKERS.get((model, name))
    if not visible:
        assert response.status_code == 404, where
        return
    assert response.status_code == 200, where
    if surface == "api_read":
        assert (name in response.json) == (name in can_read), where
    elif surface == "timeline_api":
        items = [i for i in response.json["items"] if i["record_type"] == RECORD_TYPES[model]]
        assert items, where
        if name in TIMELINE_FIELDS[model]:
            assert any(name in i["fields"] for i in items) == (name in can_read), where
        else:
            assert not any(name in i["fields"] for i in items), where
    if marker:
        assert (marker in response.text) == (name in can_read), where


def test_timeline_provider_statements_do_not_grow(app, make):
    from casework.supervision.service import timeline_events

    counts = {}
    for size in (1, 50):
        sup = make.user("supervisor", team=f"T{size}")
        lead = make.user("caseworker", team=f"T{size}")
        other = make.user("caseworker", team=f"T{size}")
        sid = make.survivor(lead)
        with app.app_context():
            for i in range(size):
                db.session.add(Reassignment(survivor_id=sid, from_user_id=lead.id,
                                            to_user_id=other.id, reason=f"r{i}",
                                            by_user_id=sup.id))
                db.session.add(ClosureRequest(survivor_id=sid, requested_by=lead.id,
                                              requested_status="Closed", reason=f"c{i}",
                                              status="returned", decided_by=sup.id,
                                              decided_at=datetime.now(UTC), comment="x"))
            db.session.commit()
        with app.test_request_context("/"):
            user = db.session.get(User, sup.id)
            survivor = db.session.get(Survivor, sid)
            timeline_events(user, survivor)  # warm caches
            seen = []

            def listener(conn, cursor, statement, *args, seen=seen):
                seen.append(statement)

            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                events = timeline_events(user, survivor)
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
            assert len(events) == 3 * size
            counts[size] = len(seen)
    assert counts[1] == counts[50], counts


def test_unknown_request_ids_are_404(app, make):
    sup = make.user("supervisor")
    api = login_api(app, sup)
    assert api.get(f"/api/v1/closure-requests/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/closure-requests/not-a-uuid").status_code == 404
