"""Closed-loop referrals: the workflow through the pages and the API, approvals, consent as
the gate for issuing, partners that are full, alerts, bad input, and who sees what."""

from __future__ import annotations

import contextlib
import html
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update

import casework.models  # noqa: F401
from casework.access.fields import field_specs
from casework.access.policy import READ, WRITE, permissions
from casework.audit.models import AuditEvent
from casework.auth.models import Organisation, User
from casework.consent import texts
from casework.consent.models import Consent
from casework.consent.service import form_for
from casework.encryption import decrypt_row
from casework.extensions import db, limiter
from casework.referrals import service as referral_service
from casework.referrals.models import Partner, Referral, ReferralLetter
from casework.survivors.models import Survivor
from tests.conftest import Factory, _empty_all_tables, login_api, login_web


def make_partner(app, name="Harbour Legal (demo)", accepting=True,
                 services=("legal_aid", "counselling")):
    with app.app_context():
        partner = Partner(name=name, services=list(services), languages=["en"],
                          accepting_referrals=accepting, contact_email="intake@harbour.example",
                          address="1 Quay Road (demo)")
        db.session.add(partner)
        db.session.commit()
        return partner.id


def set_accepting(app, pid, accepting):
    with app.app_context():
        db.session.get(Partner, pid).accepting_referrals = accepting
        db.session.commit()


def set_need_approval(app, value):
    with app.app_context():
        org = db.session.scalar(select(Organisation))
        if org is None:
            org = Organisation(name="Test Network (demo)")
            db.session.add(org)
        org.referrals_need_approval = value
        db.session.commit()


def grant(api, sid, pid, **extra):
    body = {"purpose": "referral_sharing", "partner_id": str(pid),
            "scope": ["identity"], "status": "granted", "method": "written", "language": "en",
            **extra}
    response = api.post(f"/api/v1/survivors/{sid}/consents", json=body)
    assert response.status_code == 201, response.json
    return response.json["id"]


def draft(api, sid, pid, **extra):
    body = {"survivor_id": str(sid), "partner_id": str(pid), "service": "legal_aid",
            "reason": "Needs advice on a residence permit.", **extra}
    response = api.post("/api/v1/referrals", json=body)
    assert response.status_code == 201, response.json
    return response.json


def row(app, rid) -> dict:
    rid = rid if isinstance(rid, uuid.UUID) else uuid.UUID(str(rid))
    with app.app_context():
        table = Referral.__table__
        values = dict(db.session.execute(select(table).where(table.c.id == rid)).mappings().one())
        db.session.rollback()
        return values


@pytest.fixture
def team(app, make):
    """A caseworker and the team's supervisor, a survivor, a partner."""
    cw = make.user("caseworker", team="North")
    sup = make.user("supervisor", team="North")
    sid = make.survivor(cw)
    pid = make_partner(app)
    return {"cw": cw, "sup": sup, "sid": sid, "pid": pid,
            "api": login_api(app, cw), "sup_api": login_api(app, sup)}


# --- the workflow -----------------------------------------------------------------------------


def test_the_whole_loop_through_the_api(app, team):
    api, sup_api, sid, pid = team["api"], team["sup_api"], team["sid"], team["pid"]
    grant(api, sid, pid)
    referral = draft(api, sid, pid, language="fr")
    rid = referral["id"]
    assert referral["status"] == "draft" and referral["language"] == "fr"
    assert referral["reference"] is None and referral["created_by"] == str(team["cw"].id)
    assert api.post(f"/api/v1/referrals/{rid}/submit").json["status"] == "awaiting_approval"
    # The author cannot approve; the team's supervisor does.
    assert api.post(f"/api/v1/referrals/{rid}/approve").status_code == 403
    approved = sup_api.post(f"/api/v1/referrals/{rid}/approve")
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert approved.json["approved_by"] == str(team["sup"].id)
    issued = api.post(f"/api/v1/referrals/{rid}/issue")
    assert issued.status_code == 200, issued.json
    assert issued.json["status"] == "issued"
    assert re.fullmatch(r"RF-[0-9A-Z]{4}-[0-9A-Z]{4}", issued.json["reference"])
    assert issued.json["issued_at"].endswith("Z")
    pdf = api.get(f"/api/v1/referrals/{rid}/letter.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    assert api.post(f"/api/v1/referrals/{rid}/accept").json["status"] == "accepted"
    done = api.post(f"/api/v1/referrals/{rid}/complete")
    assert done.json["status"] == "completed" and done.json["completed_at"]
    listed = api.get(f"/api/v1/referrals?survivor_id={sid}").json
    assert [item["id"] for item in listed["items"]] == [rid]
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"referral.created", "referral.submitted", "referral.approved", "referral.issued",
            "referral.accepted", "referral.completed", "referral.letter_downloaded"} <= actions


def test_without_approval_setting_submit_goes_straight_to_approved(app, team):
    set_need_approval(app, False)
    api = team["api"]
    rid = draft(api, team["sid"], team["pid"])["id"]
    assert api.post(f"/api/v1/referrals/{rid}/submit").json["status"] == "approved"
    assert row(app, rid)["approved_by"] is None


def test_declined_with_the_partners_reason(app, team):
    api, sid, pid = team["api"], team["sid"], team["pid"]
    set_need_approval(app, False)
    grant(api, sid, pid)
    rid = draft(api, sid, pid)["id"]
    api.post(f"/api/v1/referrals/{rid}/submit")
    api.post(f"/api/v1/referrals/{rid}/issue")
    missing = api.post(f"/api/v1/referrals/{rid}/decline", json={})
    assert missing.status_code == 422 and "reason" in missing.json["errors"]
    assert row(app, rid)["status"] == "issued"
    declined = api.post(f"/api/v1/referrals/{rid}/decline",
                        json={"reason": "No places until next month."})
    assert declined.status_code == 200
    assert declined.json["status"] == "declined"
    assert declined.json["decline_reason"] == "No places until next month."
    assert declined.json["responded_at"].endswith("Z")


def test_invalid_transitions_answer_409_and_change_nothing(app, team):
    api, sid, pid = team["api"], team["sid"], team["pid"]
    rid = draft(api, sid, pid)["id"]
    before = row(app, rid)
    for action in ("approve", "issue", "accept", "decline", "complete"):
        body = {"reason": "x"} if action == "decline" else None
        client = team["sup_api"] if action == "approve" else api
        response = client.post(f"/api/v1/referrals/{rid}/{action}", json=body)
        assert response.status_code == 409, (action, response.json)
        assert response.mimetype == "application/problem+json"
        assert "draft" in response.json["detail"]
        assert row(app, rid) == before
    api.post(f"/api/v1/referrals/{rid}/withdraw", json={"reason": "Survivor moved away."})
    after = row(app, rid)
    assert after["status"] == "withdrawn"
    assert decrypt_row(Referral.__table__, after, app)["withdraw_reason"] == "Survivor moved away."
    for action in ("submit", "withdraw"):
        response = api.post(f"/api/v1/referrals/{rid}/{action}", json={"reason": "again"}
                            if action == "withdraw" else None)
        assert response.status_code == 409
    assert row(app, rid) == after
    # A draft only can be changed.
    patched = api.patch(f"/api/v1/referrals/{rid}", json={"reason": "Changed."})
    assert patched.status_code == 409 and row(app, rid) == after


def test_issue_needs_a_current_consent_for_that_partner(app, team):
    api, sid, pid = team["api"], team["sid"], team["pid"]
    other = make_partner(app, name="Other Partner (demo)")
    set_need_approval(app, False)
    grant(api, sid, other)  # consent for another partner does not count
    rid = draft(api, sid, pid)["id"]
    api.post(f"/api/v1/referrals/{rid}/submit")
    before = row(app, rid)
    refused = api.post(f"/api/v1/referrals/{rid}/issue")
    assert refused.status_code == 409
    assert "Harbour Legal (demo)" in refused.json["detail"]
    assert "referral sharing" in refused.json["detail"]
    assert refused.json["missing_consent"] == {"purpose": "referral_sharing",
                                               "partner_id": str(pid)}
    assert row(app, rid) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReferralLetter)) == 0
    # Through the page: a clear error, nothing changed.
    web = login_web(app, team["cw"])
    page = web.post_form(f"/referrals/{rid}/issue", {}, page=f"/referrals/{rid}")
    assert page.status_code == 409
    assert 'id="referral-error"' in page.text and "Harbour Legal (demo)" in page.text
    assert row(app, rid) == before
    # With the consent it issues.
    grant(api, sid, pid)
    assert api.post(f"/api/v1/referrals/{rid}/issue").status_code == 200


def test_issue_refused_after_withdrawal_or_expiry(app, team):
    api, sid, pid = team["api"], team["sid"], team["pid"]
    set_need_approval(app, False)
    cid = grant(api, sid, pid)
    assert api.post(f"/api/v1/consents/{cid}/withdraw", json={"reason": "Changed mind."}
                    ).status_code == 201
    rid = draft(api, sid, pid)["id"]
    api.post(f"/api/v1/referrals/{rid}/submit")
    refused = api.post(f"/api/v1/referrals/{rid}/issue")
    assert refused.status_code == 409 and refused.json["missing_consent"]
    # An expired grant (recorded last year, expired yesterday) does not count either.
    with app.app_context():
        form = form_for(texts.CURRENT_VERSION, "en")
        db.session.add(Consent(
            survivor_id=sid, purpose="referral_sharing", partner_id=pid, scope=["identity"],
            status="granted", method="written", language="en", form_id=form.id,
            form_version=form.version, form_language="en", form_sha256=form.sha256,
            expires_on=date.today() - timedelta(days=1), recorded_by=team["cw"].id,
            recorded_at=datetime.now(UTC) - timedelta(days=1)))
        db.session.commit()
    refused = api.post(f"/api/v1/referrals/{rid}/issue")
    assert refused.status_code == 409 and refused.json["missing_consent"]
    assert row(app, rid)["status"] == "approved"
    page = login_web(app, team["cw"]).get(f"/referrals/{rid}")
    assert 'id="consent-state"' in page.text and "None in force" in page.text


def test_a_partner_that_is_full_is_refused_with_a_clear_message(app, team):
    api, sid, pid = team["api"], team["sid"], team["pid"]
    set_accepting(app, pid, False)
    refused = api.post("/api/v1/referrals", json={
        "survivor_id": str(sid), "partner_id": str(pid), "service": "legal_aid",
        "reason": "Advice."})
    assert refused.status_code == 422
    assert "not accepting referrals" in refused.json["errors"]["partner_id"][0]
    page = login_web(app, team["cw"]).post_form(f"/survivors/{sid}/referrals", {
        "partner_id": str(pid), "service": "legal_aid", "language": "en", "reason": "Advice."})
    assert page.status_code == 422 and "not accepting referrals" in page.text
    # A partner that fills up after the draft: submit and issue are refused (409).
    set_accepting(app, pid, True)
    set_need_approval(app, False)
    grant(api, sid, pid)
    rid = draft(api, sid, pid)["id"]
    set_accepting(app, pid, False)
    response = api.post(f"/api/v1/referrals/{rid}/submit")
    assert response.status_code == 409 and "not accepting referrals" in response.json["detail"]
    set_accepting(app, pid, True)
    api.post(f"/api/v1/referrals/{rid}/submit")
    set_accepting(app, pid, False)
    response = api.post(f"/api/v1/referrals/{rid}/issue")
    assert response.status_code == 409 and "not accepting" in response.json["detail"]
    assert row(app, rid)["status"] == "approved"


def test_the_loop_through_the_pages(app, team):
    sid, pid = team["sid"], team["pid"]
    web = login_web(app, team["cw"])
    sup_web = login_web(app, team["sup"])
    grant(team["api"], sid, pid, scope=["identity", "contact"])
    listing = web.get(f"/survivors/{sid}/referrals")
    assert listing.status_code == 200 and 'name="partner_id"' in listing.text
    bad = web.post_form(f"/survivors/{sid}/referrals", {"partner_id": str(pid),
                                                        "service": "shelter", "language": "en",
                                                        "reason": ""})
    assert bad.status_code == 422
    assert 'id="service-error"' in bad.text and 'id="reason-error"' in bad.text
    created = web.post_form(f"/survivors/{sid}/referrals", {
        "partner_id": str(pid), "service": "legal_aid", "language": "es",
        "reason": "Asesoría jurídica."})
    assert created.status_code == 302
    url = created.headers["Location"]
    rid = url.rsplit("/", 1)[-1]
    page = web.get(url)
    assert 'data-action="submit"' in page.text and "In force" in page.text
    edited = web.post_form(f"/referrals/{rid}/edit", {"partner_id": str(pid),
                                                      "service": "counselling",
                                                      "language": "es", "reason": "Apoyo."})
    assert edited.status_code == 302 and row(app, rid)["service"] == "counselling"
    assert web.post_form(f"/referrals/{rid}/submit", {}, page=url).status_code == 302
    page = sup_web.get(url)
    assert 'data-action="approve"' in page.text and "Waiting for a supervisor" in page.text
    assert sup_web.post_form(f"/referrals/{rid}/approve", {}, page=url).status_code == 302
    page = web.get(url)
    assert "Approved by" in page.text and 'data-action="issue"' in page.text
    assert web.post_form(f"/referrals/{rid}/issue", {}, page=url).status_code == 302
    page = web.get(url)
    assert "Download the letter" in page.text
    letter = web.get(f"/referrals/{rid}/letter.pdf")
    assert letter.status_code == 200 and letter.mimetype == "application/pdf"
    assert letter.data == team["api"].get(f"/api/v1/referrals/{rid}/letter.pdf").data
    no_reason = web.post_form(f"/referrals/{rid}/decline", {"reason": ""}, page=url)
    assert no_reason.status_code == 422 and 'id="reason-decline-error"' in no_reason.text
    assert row(app, rid)["status"] == "issued"
    assert web.post_form(f"/referrals/{rid}/decline", {"reason": "Full this month."},
                         page=url).status_code == 302
    page = web.get(url)
    assert "Full this month." in page.text and 'data-status="declined"' in page.text
    index = sup_web.get("/referrals?status=declined")
    assert index.status_code == 200 and f"/referrals/{rid}" in index.text


def test_who_may_do_what(app, team, make):
    sid, pid, api = team["sid"], team["pid"], team["api"]
    counsellor = make.user("counsellor", team="North")
    other_sup = make.user("supervisor", team="South")
    stranger = make.user("caseworker", team="South")
    donor = make.user("donor")
    with app.app_context():
        survivor = db.session.get(Survivor, sid)
        survivor.collaborators = [db.session.get(User, counsellor.id)]
        db.session.commit()
    rid = draft(api, sid, pid)["id"]
    api.post(f"/api/v1/referrals/{rid}/submit")
    c_api = login_api(app, counsellor)
    assert c_api.get(f"/api/v1/referrals/{rid}").status_code == 200
    assert "reason" not in c_api.get(f"/api/v1/referrals/{rid}").json  # sensitive
    assert c_api.post(f"/api/v1/referrals/{rid}/withdraw", json={"reason": "x"}
                      ).status_code == 403
    assert c_api.post("/api/v1/referrals", json={"survivor_id": str(sid),
                                                 "partner_id": str(pid),
                                                 "service": "legal_aid",
                                                 "reason": "x"}).status_code == 403
    for user in (other_sup, stranger, donor):
        client = login_api(app, user)
        assert client.get(f"/api/v1/referrals/{rid}").status_code == 404
        assert client.post(f"/api/v1/referrals/{rid}/approve").status_code == 404
        assert client.get(f"/api/v1/referrals?survivor_id={sid}").status_code in (200, 403,
                                                                                 404)
        if client.get("/api/v1/referrals").status_code == 200:
            assert client.get("/api/v1/referrals").json["items"] == []
    assert row(app, rid)["status"] == "awaiting_approval"


# --- alerts ----------------------------------------------------------------------------------------


def test_referrals_waiting_on_the_partner_raise_an_alert(app, team, make):
    api, sid, pid = team["api"], team["sid"], team["pid"]
    set_need_approval(app, False)
    grant(api, sid, pid)
    rid = draft(api, sid, pid)["id"]
    api.post(f"/api/v1/referrals/{rid}/submit")
    api.post(f"/api/v1/referrals/{rid}/issue")
    waiting = draft(api, sid, pid)["id"]
    set_need_approval(app, True)
    api.post(f"/api/v1/referrals/{waiting}/submit")
    with app.test_request_context("/"):
        cw = db.session.get(User, team["cw"].id)
        sup = db.session.get(User, team["sup"].id)
        assert referral_service.alerts_for(cw) == []
        assert [a.kind for a in referral_service.alerts_for(sup)] == [
            "referral.awaiting_approval"]
        later = date.today() + timedelta(days=referral_service.response_days() + 1)
        alerts = referral_service.alerts_for(cw, today=later)
        assert [(a.kind, str(a.record_id)) for a in alerts] == [
            ("referral.awaiting_partner", rid)]
        assert alerts[0].case_number.startswith("CW-") and "Harbour" in alerts[0].message
        assert referral_service.alert_count(cw, today=later) == 1
        assert referral_service.alert_count(sup, today=later) == 2
        stranger = db.session.get(User, make.user("caseworker", team="South").id)
        assert referral_service.alerts_for(stranger, today=later) == []
        db.session.rollback()
    api.post(f"/api/v1/referrals/{rid}/accept")
    with app.test_request_context("/"):
        cw = db.session.get(User, team["cw"].id)
        assert referral_service.alerts_for(cw, today=later) == []


# --- bad input ---------------------------------------------------------------------------------------

LONG = "x" * 10_000


@pytest.mark.parametrize(("change", "field", "status"), [
    ({"survivor_id": None}, "survivor_id", 422),
    ({"survivor_id": "nope"}, "survivor_id", 422),
    ({"survivor_id": 5}, "survivor_id", 422),
    ({"partner_id": None}, "partner_id", 422),
    ({"partner_id": "not-a-uuid"}, "partner_id", 422),
    ({"partner_id": str(uuid.uuid4())}, "partner_id", 422),
    ({"partner_id": ["x"]}, "partner_id", 422),
    ({"service": "spa"}, "service", 422),
    ({"service": None}, "service", 422),
    ({"service": "shelter"}, "service", 422),  # not offered by the partner
    ({"service": "legal\x00aid"}, "service", 422),
    ({"reason": ""}, "reason", 422),
    ({"reason": LONG}, "reason", 422),
    ({"reason": "a\x00b"}, "reason", 422),
    ({"reason": "\udc00"}, "reason", 422),
    ({"reason": 42}, "reason", 422),
    ({"language": "de"}, "language", 422),
    ({"language": 1}, "language", 422),
    ({"colour": "red"}, "colour", 422),
    ({"status": "issued"}, None, 403),
    ({"reference": "RF-FAKE-0000"}, None, 403),
])
def test_bad_referral_input_is_refused(app, team, change, field, status):
    body = {"survivor_id": str(team["sid"]), "partner_id": str(team["pid"]),
            "service": "legal_aid", "reason": "Advice.", **change}
    response = team["api"].post("/api/v1/referrals", json=body)
    assert response.status_code == status, response.json
    if field:
        assert field in response.json["errors"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Referral)) == 0


def test_bad_action_and_patch_input(app, team):
    api = team["api"]
    rid = draft(api, team["sid"], team["pid"])["id"]
    before = row(app, rid)
    for body in ({"reason": LONG}, {"reason": "a\x00b"}, {"reason": 3}, {"reason": ["x"]}):
        response = api.post(f"/api/v1/referrals/{rid}/withdraw", json=body)
        assert response.status_code in (400, 422), body
    assert api.post(f"/api/v1/referrals/{rid}/submit", json={"reason": "why"}
                    ).status_code == 422
    for body in ({"service": "spa"}, {"partner_id": "x"}, {"reason": LONG}, {"status": "issued"},
                 {"colour": 1}):
        response = api.patch(f"/api/v1/referrals/{rid}", json=body)
        assert response.status_code in (403, 422), body
    assert api.patch(f"/api/v1/referrals/{rid}", data="[", headers={
        "Content-Type": "application/json"}).status_code == 400
    assert api.get(f"/api/v1/referrals/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/referrals?status=lost").status_code == 422
    assert api.get("/api/v1/referrals?cursor=zzz").status_code == 400
    assert api.get("/api/v1/referrals?survivor_id=nope").status_code == 422
    assert row(app, rid) == before
    assert api.get(f"/api/v1/referrals/{rid}/letter.pdf").status_code == 404


# --- statement counts ------------------------------------------------------------------------------


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


def test_lists_and_timeline_use_a_fixed_number_of_statements(app, make):
    cw = make.user("caseworker")
    counts = {}
    for n in (1, 50):
        sid = make.survivor(cw)
        pid = make_partner(app, name=f"Partner {n} (demo)")
        with app.test_request_context("/"):
            user = db.session.get(User, cw.id)
            survivor = db.session.get(Survivor, sid)
            for _ in range(n):
                referral_service.create_referral(user, survivor, {
                    "partner_id": pid, "service": "legal_aid", "reason": "Advice."})
            db.session.commit()
        web, api = login_web(app, cw), login_api(app, cw)
        with counting(app) as page:
            assert web.get(f"/survivors/{sid}/referrals").status_code == 200
        with counting(app) as index:
            assert web.get("/referrals").status_code == 200
        with counting(app) as listing:
            assert len(api.get(f"/api/v1/referrals?survivor_id={sid}&limit=200"
                               ).json["items"]) == n
        with app.test_request_context("/"), counting(app) as provider:
            user = db.session.get(User, cw.id)
            survivor = db.session.get(Survivor, sid)
            provider.clear()
            assert len(referral_service.timeline_events(user, survivor)) == n
        counts[n] = (len(page), len(index), len(listing), len(provider))
    assert counts[1] == counts[50], counts


# --- the matrix: role × relationship × referral field × surface ------------------------------------

SPECS = field_specs(Referral)
FIELDS = list(SPECS)
SURFACES = ("page", "form", "api_read", "api_write", "timeline_api", "timeline_page")
MARKERS = {"reason": "REASON-MARKER-31", "decline_reason": "DECLINE-MARKER-42"}
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


def readable(role, rel):
    return {n for n, s in SPECS.items() if READ in permissions(role, rel, s.tier)}


def may_manage(role, rel):
    return role == "caseworker" and rel == "assigned"


def writable(role, rel):
    if not may_manage(role, rel):
        return set()
    return {n for n, s in SPECS.items() if WRITE in permissions(role, rel, s.tier)
            and not s.read_only}


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
    w.users = {key: make.user(role, team=team, username=f"r-{key}")
               for key, (role, team) in USERS.items()}
    w.sid = make.survivor(w.users["lead"], collaborator_ids=[w.users["counsellor"].id])
    w.pid = make_partner(app)
    lead = login_api(app, w.users["lead"])
    grant(lead, w.sid, w.pid)
    # A declined referral: every field has a value.
    w.rid = draft(lead, w.sid, w.pid, reason=MARKERS["reason"])["id"]
    assert lead.post(f"/api/v1/referrals/{w.rid}/submit").status_code == 200
    assert login_api(app, w.users["sup"]).post(
        f"/api/v1/referrals/{w.rid}/approve").status_code == 200
    assert lead.post(f"/api/v1/referrals/{w.rid}/issue").status_code == 200
    assert lead.post(f"/api/v1/referrals/{w.rid}/decline",
                     json={"reason": MARKERS["decline_reason"]}).status_code == 200
    # A draft, for the write surfaces.
    w.draft_id = draft(lead, w.sid, w.pid)["id"]
    w.web = {key: login_web(app, user) for key, user in w.users.items()}
    w.api = {key: login_api(app, user) for key, user in w.users.items()}
    w.responses = {key: {
        "page": w.web[key].get(f"/referrals/{w.rid}"),
        "form": w.web[key].get(f"/survivors/{w.sid}/referrals"),
        "edit": w.web[key].get(f"/referrals/{w.draft_id}/edit"),
        "api_read": w.api[key].get(f"/api/v1/referrals/{w.rid}"),
        "timeline_api": w.api[key].get(f"/api/v1/survivors/{w.sid}/timeline"),
        "timeline_page": w.web[key].get(f"/survivors/{w.sid}/timeline"),
    } for key in USERS}
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
    assert SPECS["reason"].tier == "sensitive" and SPECS["decline_reason"].read_only
    assert {"partner_id", "service", "reason", "language", "status", "reference",
            "issued_at", "survivor_id"} <= set(SPECS)


def _label(world, name):
    from casework.referrals.labels import FIELD_LABELS

    with world.app.test_request_context("/"):
        return str(FIELD_LABELS[name])


MATRIX = [pytest.param(ctx, name, surface, id=f"{ctx[0]}-{name}-{surface}")
          for ctx in CONTEXTS for name in FIELDS for surface in SURFACES]
PAGE_FIELDS = ("status", "partner_id", "service", "language", "reason", "reference",
               "issued_at", "created_by", "created_at", "submitted_at", "approved_by",
               "approved_at", "responded_at", "decline_reason", "completed_at", "withdrawn_at",
               "withdraw_reason", "returned_by", "returned_at", "return_comment",
               "updated_at")


@pytest.mark.parametrize(("ctx", "name", "surface"), MATRIX)
def test_field_matrix(world, ctx, name, surface):
    key, user, role, rel = ctx
    can_read = readable(role, rel)
    visible = bool(can_read)
    where = f"{key} {name} {surface}"
    marker = MARKERS.get(name)
    responses = world.responses[user]
    if surface == "page":
        response = responses["page"]
        assert response.status_code == (200 if visible else 404), where
        shown = {html.unescape(label) for label in
                 re.findall(r'<dt class="col-sm-5">([^<]*)</dt>', response.text)}
        assert (_label(world, name) in shown) == (name in can_read and name in PAGE_FIELDS), where
        if marker:
            assert (marker in response.text) == (name in can_read), where
    elif surface == "form":
        for which in ("form", "edit"):
            response = responses[which]
            if not visible:
                assert response.status_code == 404, where
            names = set(re.findall(r'<(?:input|select|textarea)\b[^>]*?\bname="([^"]+)"',
                                   response.text))
            expected = name in writable(role, rel)
            # The referral page's reason boxes (decline/withdraw) are not the reason field.
            assert (name in names) == expected, (where, which)
        if not may_manage(role, rel) and visible:
            assert responses["edit"].status_code == 403, where
    elif surface == "api_read":
        response = responses["api_read"]
        if not visible:
            assert response.status_code == 404, where
            return
        assert (name in response.json) == (name in can_read), where
        if marker and name not in can_read:
            assert marker not in response.text, where
    elif surface == "api_write":
        _check_write(world, key, user, role, rel, name)
    elif surface == "timeline_api":
        response = responses["timeline_api"]
        if not visible:
            assert response.status_code == 404, where
            return
        events = [e for e in response.json["items"] if e["record_type"] == "referral"]
        assert len(events) == 2, where
        for item in events:
            assert (name in item["fields"]) == (name in can_read), where
    else:
        response = responses["timeline_page"]
        if not visible:
            assert response.status_code == 404, where
            return
        assert 'data-kind="referral.declined"' in response.text, where
        if marker:
            assert (marker in response.text) == (name in can_read), where


WRITE_VALUES = {
    "partner_id": None, "service": "counselling", "reason": "A new reason.", "language": "th",
    "status": "issued", "reference": "RF-AAAA-BBBB", "issued_at": "2020-01-01T00:00:00Z",
    "created_by": str(uuid.uuid4()), "submitted_at": "2020-01-01T00:00:00Z",
    "approved_by": str(uuid.uuid4()), "approved_at": "2020-01-01T00:00:00Z",
    "responded_at": "2020-01-01T00:00:00Z", "decline_reason": "Forged.",
    "completed_at": "2020-01-01T00:00:00Z", "withdrawn_at": "2020-01-01T00:00:00Z",
    "withdraw_reason": "Forged.", "id": str(uuid.uuid4()), "survivor_id": str(uuid.uuid4()),
    "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
    "returned_by": str(uuid.uuid4()), "returned_at": "2020-01-01T00:00:00Z",
    "return_comment": "Forged.",
}


def _check_write(world, key, user, role, rel, name):
    """PATCH of the draft naming ``name``: stored iff writable, else 403/404, unchanged."""
    assert set(WRITE_VALUES) == set(SPECS), "a write value for every referral field"
    value = str(world.pid) if name == "partner_id" else WRITE_VALUES[name]
    before = row(world.app, world.draft_id)
    response = world.api[user].patch(f"/api/v1/referrals/{world.draft_id}", json={name: value})
    where = f"{key} PATCH {name}"
    if not readable(role, rel):
        assert response.status_code == 404, where
    elif not may_manage(role, rel):
        assert response.status_code == 403, where
    elif name in writable(role, rel):
        assert response.status_code == 200, (where, response.json)
        assert response.json[name] == value, where
        # Put the draft back as it was.
        with world.app.app_context():
            table = Referral.__table__
            db.session.execute(update(table).where(table.c.id == uuid.UUID(world.draft_id)).values(
                {k: v for k, v in before.items() if k != "id"}))
            db.session.commit()
        return
    else:
        assert response.status_code == 403, where
        assert response.json["fields"] == [name], where
    assert row(world.app, world.draft_id) == before, where


def test_the_openapi_document_has_the_contract_paths(app):
    from openapi_spec_validator import validate

    document = app.test_client().get("/api/v1/openapi.json").json
    validate(document)
    paths = document["paths"]
    for path in ("/api/v1/survivors/{survivor_id}/consents", "/api/v1/consents/{consent_id}/withdraw",
                 "/api/v1/referrals", "/api/v1/referrals/{referral_id}",
                 "/api/v1/referrals/{referral_id}/letter.pdf",
                 "/api/v1/letters/verify/{reference}",
                 *(f"/api/v1/referrals/{{referral_id}}/{action}" for action in
                   ("submit", "approve", "issue", "accept", "decline", "complete", "withdraw"))):
        assert path in paths, path
    schemas = document["components"]["schemas"]
    assert set(schemas["Referral"]["properties"]) == set(field_specs(Referral))
    assert set(schemas["Consent"]["properties"]) == set(field_specs(Consent))
    assert paths["/api/v1/letters/verify/{reference}"]["get"]["security"] == []
