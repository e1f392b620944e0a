"""The consent log: recording, withdrawing, the one sharing question, append-only storage,
bad input, and who sees and writes which field on every surface."""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from datetime import date, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import event, func, select, text

import casework.models  # noqa: F401  (every model mapped before field_specs inspects them)
from casework.access.fields import field_specs
from casework.access.policy import READ, WRITE, permissions
from casework.audit.models import AuditEvent
from casework.consent import service as consent_service
from casework.consent.models import Consent, ConsentForm
from casework.extensions import db, limiter
from casework.referrals.models import Partner
from casework.survivors.models import Survivor
from tests.conftest import Factory, _empty_all_tables, login_api, login_web


def make_partner(app, name="Harbour Legal (demo)", accepting=True, services=("legal_aid",)):
    with app.app_context():
        partner = Partner(name=name, services=list(services), languages=["en"],
                          accepting_referrals=accepting, contact_email="intake@harbour.example")
        db.session.add(partner)
        db.session.commit()
        return partner.id


def grant_body(partner_id, **extra):
    return {"purpose": "referral_sharing", "partner_id": str(partner_id),
            "scope": ["identity", "demographics"], "status": "granted", "method": "written",
            "language": "en", **extra}


def count_consents(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Consent))


def scope_now(app, sid, pid, on=None):
    with app.app_context():
        return consent_service.sharing_scope(sid, pid, on=on)


# --- workflows ---------------------------------------------------------------------------------


def test_record_list_and_withdraw_through_the_api(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = make_partner(app)
    api = login_api(app, cw)
    created = api.post(f"/api/v1/survivors/{sid}/consents",
                       json=grant_body(pid, interpreter="Ana Interpreter",
                                       expires_on=(date.today() + timedelta(days=90)).isoformat()))
    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "granted" and body["scope"] == ["identity", "demographics"]
    assert body["partner_id"] == str(pid) and body["recorded_by"] == str(cw.id)
    assert body["recorded_at"].endswith("Z") and body["form_version"] == "2026-1"
    assert scope_now(app, sid, pid) == {"identity", "demographics"}

    listed = api.get(f"/api/v1/survivors/{sid}/consents").json
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert listed["next_cursor"] is None
    assert api.get(f"/api/v1/consents/{body['id']}").json["interpreter"] == "Ana Interpreter"

    withdrawn = api.post(f"/api/v1/consents/{body['id']}/withdraw",
                         json={"reason": "Changed her mind."})
    assert withdrawn.status_code == 201, withdrawn.json
    assert withdrawn.json["status"] == "withdrawn"
    assert withdrawn.json["withdraws_id"] == body["id"]
    assert withdrawn.json["notes"] == "Changed her mind."
    assert scope_now(app, sid, pid) is None
    # The grant itself is unchanged: a withdrawal is a new record.
    assert api.get(f"/api/v1/consents/{body['id']}").json["status"] == "granted"
    items = api.get(f"/api/v1/survivors/{sid}/consents").json["items"]
    assert [i["status"] for i in items] == ["withdrawn", "granted"]

    again = api.post(f"/api/v1/consents/{body['id']}/withdraw", json={"reason": "Again."})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    of_withdrawal = api.post(f"/api/v1/consents/{withdrawn.json['id']}/withdraw",
                             json={"reason": "x"})
    assert of_withdrawal.status_code == 409
    assert count_consents(app) == 2
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEvent.action)))
    assert "consent.recorded" in actions and "consent.withdrawn" in actions
    assert "consent.viewed" in actions


def test_list_pages_with_a_cursor(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    for _ in range(3):
        assert api.post(f"/api/v1/survivors/{sid}/consents", json={
            "purpose": "contact", "status": "granted", "method": "verbal",
            "language": "vi"}).status_code == 201
    first = api.get(f"/api/v1/survivors/{sid}/consents?limit=2").json
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = api.get(f"/api/v1/survivors/{sid}/consents?limit=2&cursor={first['next_cursor']}")
    assert len(second.json["items"]) == 1 and second.json["next_cursor"] is None
    ids = {i["id"] for i in first["items"]} | {i["id"] for i in second.json["items"]}
    assert len(ids) == 3
    bad = api.get(f"/api/v1/survivors/{sid}/consents?cursor=nonsense")
    assert bad.status_code == 400


def test_the_latest_decision_counts(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = make_partner(app)
    other = make_partner(app, name="Bright Skills (demo)")
    api = login_api(app, cw)
    url = f"/api/v1/survivors/{sid}/consents"
    expires = date.today() + timedelta(days=30)
    assert api.post(url, json=grant_body(pid, expires_on=expires.isoformat())).status_code == 201
    # Only for that partner, only for that purpose.
    assert scope_now(app, sid, other) is None
    assert api.post(url, json={"purpose": "data_processing", "status": "granted",
                               "method": "written", "language": "en"}).status_code == 201
    assert scope_now(app, sid, pid) == {"identity", "demographics"}
    # Expiry: in force up to and including expires_on.
    assert scope_now(app, sid, pid, on=expires) == {"identity", "demographics"}
    assert scope_now(app, sid, pid, on=expires + timedelta(days=1)) is None
    # A later refusal ends it at once.
    assert api.post(url, json={**grant_body(pid), "status": "refused", "scope": []}
                    ).status_code == 201
    assert scope_now(app, sid, pid) is None
    # A new grant with a narrower scope replaces it.
    assert api.post(url, json=grant_body(pid, scope=["contact"])).status_code == 201
    assert scope_now(app, sid, pid) == {"contact"}


def test_form_texts_are_stored_once_with_their_hash(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = make_partner(app)
    api = login_api(app, cw)
    url = f"/api/v1/survivors/{sid}/consents"
    th = api.post(url, json=grant_body(pid, language="th")).json
    km = api.post(url, json=grant_body(pid, language="km", interpreter="Sok Interpreter")).json
    again = api.post(url, json=grant_body(pid, language="th")).json
    with app.app_context():
        forms = {(f.version, f.language): f for f in db.session.scalars(select(ConsentForm))}
    assert set(forms) == {("2026-1", "th"), ("2026-1", "en")}
    thai = forms[("2026-1", "th")]
    assert thai.sha256 == hashlib.sha256(thai.text.encode()).hexdigest()
    assert th["form_sha256"] == again["form_sha256"] == thai.sha256
    assert th["form_language"] == "th"
    # Khmer has no text of its own: the English text, read through an interpreter.
    assert km["language"] == "km" and km["form_language"] == "en"
    assert km["form_sha256"] == forms[("2026-1", "en")].sha256
    form = api.get("/api/v1/consent-forms/2026-1/th").json
    assert form["sha256"] == thai.sha256 and form["text"] == thai.text
    assert api.get("/api/v1/consent-forms/1999-9/en").status_code == 404


def test_a_minor_needs_a_guardian(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, date_of_birth=date(2012, 3, 3))
    pid = make_partner(app)
    api = login_api(app, cw)
    refused = api.post(f"/api/v1/survivors/{sid}/consents", json=grant_body(pid))
    assert refused.status_code == 422 and "method" in refused.json["errors"]
    ok = api.post(f"/api/v1/survivors/{sid}/consents", json=grant_body(pid, method="guardian"))
    assert ok.status_code == 201


def test_record_and_withdraw_through_the_pages(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = make_partner(app)
    web = login_web(app, cw)
    url = f"/survivors/{sid}/consents"
    page = web.get(url)
    assert page.status_code == 200
    assert 'name="scope"' in page.text and 'name="interpreter"' in page.text
    assert "No consent has been recorded" in page.text
    bad = web.post_form(url, {"purpose": "referral_sharing", "status": "granted",
                              "method": "written", "language": "en", "form_version": "2026-1"})
    assert bad.status_code == 422
    assert 'id="partner_id-error"' in bad.text and 'id="scope-error"' in bad.text
    assert count_consents(app) == 0
    done = web.post_form(url, {"purpose": "referral_sharing", "partner_id": str(pid),
                               "scope": ["identity", "contact"], "status": "granted",
                               "method": "verbal", "language": "es", "form_version": "2026-1",
                               "interpreter": "Pat Interpreter"})
    assert done.status_code == 302, done.text[:2000]
    page = web.get(url)
    assert "Harbour Legal (demo)" in page.text and 'data-in-force="1"' in page.text
    assert "Pat Interpreter" in page.text
    with app.app_context():
        cid = db.session.scalar(select(Consent.id))
    # Withdrawing needs a reason; nothing changes without one.
    missing = web.post_form(f"/consents/{cid}/withdraw", {"reason": ""}, page=url)
    assert missing.status_code == 422 and f'id="reason-{cid}-error"' in missing.text
    assert count_consents(app) == 1 and scope_now(app, sid, pid) == {"identity", "contact"}
    done = web.post_form(f"/consents/{cid}/withdraw", {"reason": "Not given."}, page=url)
    assert done.status_code == 302
    assert scope_now(app, sid, pid) is None
    page = web.get(url)
    assert 'data-in-force="1"' not in page.text and "withdrawn later" in page.text
    again = web.post_form(f"/consents/{cid}/withdraw", {"reason": "Again."}, page=url)
    assert again.status_code == 409 and count_consents(app) == 2


def test_who_may_record(app, make):
    cw = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="North")
    sup = make.user("supervisor", team="North")
    stranger = make.user("caseworker", team="South")
    donor, admin = make.user("donor"), make.user("admin")
    sid = make.survivor(cw, collaborator_ids=[counsellor.id])
    pid = make_partner(app)
    cid = login_api(app, cw).post(f"/api/v1/survivors/{sid}/consents",
                                  json=grant_body(pid)).json["id"]
    for user, status in ((counsellor, 403), (sup, 403), (stranger, 404), (donor, 404),
                         (admin, 404)):
        api = login_api(app, user)
        assert api.post(f"/api/v1/survivors/{sid}/consents", json=grant_body(pid)
                        ).status_code == status, user.role
        assert api.post(f"/api/v1/consents/{cid}/withdraw", json={"reason": "x"}
                        ).status_code == status, user.role
        web = login_web(app, user)
        expected_page = 200 if status == 403 else 404
        page = web.get(f"/survivors/{sid}/consents")
        assert page.status_code == expected_page, user.role
        assert 'name="purpose"' not in page.text and "Withdraw</button>" not in page.text
    assert count_consents(app) == 1


# --- append-only, in the database ------------------------------------------------------------


def test_the_database_refuses_to_change_or_delete_consents(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = make_partner(app)
    login_api(app, cw).post(f"/api/v1/survivors/{sid}/consents", json=grant_body(pid))
    with app.app_context():
        for statement in ("UPDATE consents SET status = 'refused'",
                          "DELETE FROM consents",
                          "UPDATE consent_forms SET text = 'forged'"):
            with pytest.raises(Exception, match="append-only"):
                with db.engine.begin() as conn:
                    conn.execute(text(statement))
        with db.engine.begin() as conn:
            assert conn.execute(select(Consent.status)).scalar() == "granted"
            # Erasing the survivor (retention) takes their consent records with them.
            conn.execute(Survivor.__table__.delete().where(Survivor.__table__.c.id == sid))
            assert conn.execute(select(func.count()).select_from(Consent)).scalar() == 0


# --- bad input: never 500, nothing stored ------------------------------------------------------

LONG = "x" * 10_000


@pytest.mark.parametrize(("change", "field"), [
    ({"purpose": None}, "purpose"),
    ({"purpose": "marketing"}, "purpose"),
    ({"purpose": ["referral_sharing"]}, "purpose"),
    ({"purpose": "referral\x00sharing"}, "purpose"),
    ({"partner_id": None}, "partner_id"),
    ({"partner_id": "not-a-uuid"}, "partner_id"),
    ({"partner_id": str(uuid.uuid4())}, "partner_id"),
    ({"partner_id": 12}, "partner_id"),
    ({"scope": "identity"}, "scope"),
    ({"scope": ["identity", "bank_details"]}, "scope"),
    ({"scope": [1, 2]}, "scope"),
    ({"scope": []}, "scope"),
    ({"status": "withdrawn"}, "status"),
    ({"status": "maybe"}, "status"),
    ({"status": True}, "status"),
    ({"method": "telepathy"}, "method"),
    ({"method": None}, "method"),
    ({"language": "xx"}, "language"),
    ({"language": "\ud800"}, "language"),
    ({"language": LONG}, "language"),
    ({"interpreter": LONG}, "interpreter"),
    ({"interpreter": "A\x00B"}, "interpreter"),
    ({"interpreter": ["x"]}, "interpreter"),
    ({"notes": LONG}, "notes"),
    ({"notes": "\ud83d"}, "notes"),
    ({"form_version": "1999-1"}, "form_version"),
    ({"form_version": 5}, "form_version"),
    ({"expires_on": "2020-01-01"}, "expires_on"),
    ({"expires_on": "9999-12-31"}, "expires_on"),
    ({"expires_on": "31/12/2030"}, "expires_on"),
    ({"expires_on": 20300101}, "expires_on"),
    ({"colour": "red"}, "colour"),
    ({"status": "refused"}, "scope"),
])
def test_bad_input_is_refused_and_nothing_is_stored(app, make, change, field):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = make_partner(app)
    api = login_api(app, cw)
    response = api.post(f"/api/v1/survivors/{sid}/consents", json={**grant_body(pid), **change})
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]
    assert count_consents(app) == 0


def test_partner_only_for_sharing_and_odd_bodies(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = make_partner(app)
    api = login_api(app, cw)
    url = f"/api/v1/survivors/{sid}/consents"
    response = api.post(url, json={"purpose": "contact", "partner_id": str(pid),
                                   "status": "granted", "method": "verbal", "language": "en"})
    assert response.status_code == 422 and "partner_id" in response.json["errors"]
    assert api.post(url, json=["not", "an", "object"]).status_code == 400
    assert api.post(url, data="{", headers={"Content-Type": "application/json"}
                    ).status_code == 400
    forged = api.post(url, json={**grant_body(pid), "recorded_at": "2020-01-01T00:00:00Z"})
    assert forged.status_code == 403 and forged.json["fields"] == ["recorded_at"]
    cid = api.post(url, json=grant_body(pid)).json["id"]
    for body in ({"reason": LONG}, {"reason": "a\x00b"}, {"reason": ""}, {"reason": 5},
                 {}, {"reason": "ok", "method": "smoke"}):
        response = api.post(f"/api/v1/consents/{cid}/withdraw", json=body)
        assert response.status_code in (400, 422), (body, response.status_code)
    assert api.get(f"/api/v1/consents/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/consent-forms/2026-1/e%00").status_code == 404
    assert count_consents(app) == 1


# --- statement counts: the log page and the timeline do not grow with the records -------------


@contextlib.contextmanager
def counting(app):
    statements = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def _add_consents(app, cw, sid, pid, n):
    from casework.auth.models import User

    with app.test_request_context("/"):
        user = db.session.get(User, cw.id)
        survivor = db.session.get(Survivor, sid)
        for i in range(n):
            consent_service.record(user, survivor, grant_body(pid, scope=["contact"],
                                                              notes=f"Note {i}"))
        db.session.commit()


def test_log_page_and_timeline_use_a_fixed_number_of_statements(app, make):
    cw = make.user("caseworker")
    counts = {}
    for n in (1, 50):
        sid = make.survivor(cw)
        pid = make_partner(app, name=f"Partner {n} (demo)")
        _add_consents(app, cw, sid, pid, n)
        web = login_web(app, cw)
        api = login_api(app, cw)
        with counting(app) as page:
            assert web.get(f"/survivors/{sid}/consents").status_code == 200
        with counting(app) as listing:
            assert len(api.get(f"/api/v1/survivors/{sid}/consents?limit=200").json["items"]) == n
        from casework.auth.models import User

        with app.test_request_context("/"), counting(app) as provider:
            user = db.session.get(User, cw.id)
            survivor = db.session.get(Survivor, sid)
            provider.clear()
            assert len(consent_service.timeline_events(user, survivor)) == n
        counts[n] = (len(page), len(listing), len(provider))
    assert counts[1] == counts[50], counts


# --- the matrix: role × relationship × consent field × surface -------------------------------

SPECS = field_specs(Consent)
FIELDS = list(SPECS)
SURFACES = ("page", "form", "api_read", "api_write", "timeline_api", "timeline_page")
# Columns of the log table (the page shows these fields, each under its label).
PAGE_COLUMNS = ("recorded_at", "purpose", "scope", "status", "method", "language",
                "interpreter", "form_version", "expires_on", "recorded_by", "notes")
MARKERS = {"interpreter": "INTERP-MARKER-55", "notes": "NOTES-MARKER-66"}
WITHDRAW_MARKER = "WITHDRAW-MARKER-77"

# (key, user, role, relationship)
CONTEXTS = [
    ("caseworker-lead", "lead", "caseworker", "assigned"),
    ("caseworker-other_team", "cw_other", "caseworker", "none"),
    ("counsellor-collaborator", "counsellor", "counsellor", "assigned"),
    ("supervisor-same_team", "sup", "supervisor", "team"),
    ("supervisor-other_team", "sup_other", "supervisor", "none"),
    ("admin", "admin", "admin", "none"),
    ("donor", "donor", "donor", "none"),
]
USERS = {"lead": ("caseworker", "North"), "cw_other": ("caseworker", "South"),
         "counsellor": ("counsellor", "North"), "sup": ("supervisor", "North"),
         "sup_other": ("supervisor", "South"), "admin": ("admin", None),
         "donor": ("donor", None)}


def readable(role, rel) -> set[str]:
    return {n for n, s in SPECS.items() if READ in permissions(role, rel, s.tier)}


def may_record(role, rel) -> bool:
    return role == "caseworker" and rel == "assigned"


def writable(role, rel) -> set[str]:
    if not may_record(role, rel):
        return set()
    return {n for n, s in SPECS.items()
            if WRITE in permissions(role, rel, s.tier) and not s.read_only}


class World:
    pass


@pytest.fixture(scope="module")
def world(app):
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    make = Factory(app)
    w = World()
    w.app = app
    w.users = {key: make.user(role, team=team, username=f"m-{key}")
               for key, (role, team) in USERS.items()}
    w.sid = make.survivor(w.users["lead"], collaborator_ids=[w.users["counsellor"].id])
    w.pid = make_partner(app)
    lead_api = login_api(app, w.users["lead"])
    grant = lead_api.post(f"/api/v1/survivors/{w.sid}/consents", json=grant_body(
        w.pid, interpreter=MARKERS["interpreter"], notes=MARKERS["notes"],
        expires_on=(date.today() + timedelta(days=300)).isoformat()))
    assert grant.status_code == 201, grant.json
    w.grant_id = grant.json["id"]
    withdrawal = lead_api.post(f"/api/v1/consents/{w.grant_id}/withdraw",
                               json={"reason": WITHDRAW_MARKER})
    assert withdrawal.status_code == 201
    w.withdrawal_id = withdrawal.json["id"]
    w.web = {key: login_web(app, user) for key, user in w.users.items()}
    w.api = {key: login_api(app, user) for key, user in w.users.items()}
    # Read surfaces, fetched once per user before any write of the matrix.
    w.responses = {}
    for key in USERS:
        w.responses[key] = {
            "page": w.web[key].get(f"/survivors/{w.sid}/consents"),
            "api_read": w.api[key].get(f"/api/v1/consents/{w.grant_id}"),
            "api_read_withdrawal": w.api[key].get(f"/api/v1/consents/{w.withdrawal_id}"),
            "timeline_api": w.api[key].get(f"/api/v1/survivors/{w.sid}/timeline"),
            "timeline_page": w.web[key].get(f"/survivors/{w.sid}/timeline"),
        }
    yield w
    with app.app_context():
        _empty_all_tables()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """conftest's per-test wipe, except for the matrix, which shares one world."""
    if "world" in request.fixturenames or "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    yield


def test_world(world):
    assert world.responses["lead"]["page"].status_code == 200
    assert set(SPECS) >= {"purpose", "partner_id", "scope", "status", "method", "language",
                          "interpreter", "form_version", "expires_on", "recorded_by",
                          "recorded_at"}
    assert SPECS["interpreter"].tier == "sensitive" and SPECS["notes"].tier == "sensitive"
    assert SPECS["language"].tier == "demographic"
    assert {s.tier for s in SPECS.values()} <= {"operational", "demographic", "sensitive"}


MATRIX = [pytest.param(ctx, name, surface, id=f"{ctx[0]}-{name}-{surface}")
          for ctx in CONTEXTS for name in FIELDS for surface in SURFACES]


@pytest.mark.parametrize(("ctx", "name", "surface"), MATRIX)
def test_field_matrix(world, ctx, name, surface):
    key, user, role, rel = ctx
    can_read = readable(role, rel)
    visible = bool(can_read)
    where = f"{key} {name} {surface}"
    marker = MARKERS.get(name)
    if surface == "page":
        response = world.responses[user]["page"]
        assert response.status_code == (200 if visible else 404), where
        label = str(escape(_label(world, name)))
        header = f'<th scope="col">{label}</th>'
        if name in can_read and name in PAGE_COLUMNS:
            assert header in response.text, where
        else:
            assert header not in response.text, where
        if marker:
            assert (marker in response.text) == (name in can_read), where
            assert (WITHDRAW_MARKER in response.text) == ("notes" in can_read)
    elif surface == "form":
        response = world.responses[user]["page"]
        names = set(re.findall(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"',
                               response.text))
        assert (name in names) == (name in writable(role, rel)), where
    elif surface == "api_read":
        for which in ("api_read", "api_read_withdrawal"):
            response = world.responses[user][which]
            if not visible:
                assert response.status_code == 404, where
                assert response.mimetype == "application/problem+json"
                continue
            assert response.status_code == 200, where
            assert (name in response.json) == (name in can_read), where
            if marker and name not in can_read:
                assert marker not in response.text, where
    elif surface == "api_write":
        _check_api_write(world, key, user, role, rel, name)
    elif surface == "timeline_api":
        response = world.responses[user]["timeline_api"]
        if not visible:
            assert response.status_code == 404, where
            return
        events = [e for e in response.json["items"] if e["record_type"] == "consent"]
        assert len(events) == 2, where
        for item in events:
            assert (name in item["fields"]) == (name in can_read), where
    else:
        response = world.responses[user]["timeline_page"]
        if not visible:
            assert response.status_code == 404, where
            return
        assert 'data-kind="consent.granted"' in response.text, where
        assert 'data-kind="consent.withdrawn"' in response.text, where
        if marker:
            assert (marker in response.text) == (name in can_read), where


def _label(world, name):
    from casework.consent.labels import FIELD_LABELS

    with world.app.test_request_context("/"):
        return str(FIELD_LABELS.get(name, name))


WRITE_VALUES = {
    "id": str(uuid.uuid4()), "survivor_id": str(uuid.uuid4()), "purpose": "referral_sharing",
    "partner_id": None, "scope": ["identity"], "status": "granted", "method": "verbal",
    "language": "th", "interpreter": "New Interpreter", "notes": "New notes.",
    "form_version": "2026-1", "form_language": "th", "form_sha256": "0" * 64,
    "expires_on": None, "withdraws_id": str(uuid.uuid4()), "recorded_by": str(uuid.uuid4()),
    "recorded_at": "2020-01-01T00:00:00Z",
}


def _check_api_write(world, key, user, role, rel, name):
    assert set(WRITE_VALUES) == set(SPECS), "a write value for every consent field"
    value = WRITE_VALUES[name]
    if name == "partner_id":
        value = str(world.pid)
    if name == "expires_on":
        value = (date.today() + timedelta(days=10)).isoformat()
    body = {**grant_body(world.pid, scope=["contact"]), name: value}
    before = count_consents(world.app)
    response = world.api[user].post(f"/api/v1/survivors/{world.sid}/consents", json=body)
    where = f"{key} POST {name}"
    if not readable(role, rel):
        assert response.status_code == 404, where
    elif not may_record(role, rel):
        assert response.status_code == 403, where
    elif name in writable(role, rel):
        assert response.status_code == 201, (where, response.json)
        assert response.json[name] == value, where
    else:
        assert response.status_code == 403, where
        assert response.json["fields"] == [name], where
    assert count_consents(world.app) == before + (response.status_code == 201), where
