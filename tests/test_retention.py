"""Retention and erasure: erasure on request approved by a supervisor (pages and API) leaves
the survivor's name nowhere — database, audit log, stored letters — keeps the statistics and
issues a certificate without identifying data; the retention run (dry run first); the
survivor's own data export (subject access)."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta

import pypdf
import pytest
from sqlalchemy import func, select, text

from casework import crypto
from casework.audit.models import AuditEvent
from casework.auth.models import Organisation
from casework.consent.models import Consent
from casework.extensions import db
from casework.plans.models import PlanItem
from casework.referrals.letters import letter_aad
from casework.referrals.models import ReferralLetter
from casework.retention.models import ErasureRequest
from casework.shelters.models import Placement
from casework.survivors.models import Survivor
from tests.conftest import ENGINE, login_api, login_web
from tests.test_letters import issue, make_partner
from tests.test_shelters import admit_direct, make_shelter

FIRST, LAST = "Zorblaxia", "Quennefeldt"
CANARIES = (FIRST, LAST, "Zorbie", "+44 7700 900461", "zorblaxia.q@example.org",
            "17 Quennefeldt Lane")


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def team(app, make):
    sup = make.user("supervisor", team="North")
    cw = make.user("caseworker", team="North")
    other_sup = make.user("supervisor", team="South")
    sid = make.survivor(cw, first_name=FIRST, last_name=LAST, known_as="Zorbie",
                        phone="+44 7700 900461", email="zorblaxia.q@example.org",
                        address="17 Quennefeldt Lane",
                        narrative=f"{FIRST} was recruited through a friend.",
                        risk_notes=f"{FIRST} {LAST} fears the recruiter.")
    pid = make_partner(app)
    cw_api = login_api(app, cw)
    # A letter that carries the name, a consent whose withdrawal note names her, a plan item
    # and a placement that names her: all must lose the name; the services must stay counted.
    issue(app, cw_api, sid, pid, ["identity", "demographics"],
          reason=f"{FIRST} needs legal advice.")
    consent = cw_api.post(f"/api/v1/survivors/{sid}/consents", json={
        "purpose": "contact", "status": "granted", "method": "verbal", "language": "en",
        "interpreter": f"Interpreter for {FIRST}"})
    assert consent.status_code == 201, consent.json
    withdrawn = cw_api.post(f"/api/v1/consents/{consent.json['id']}/withdraw",
                            json={"reason": f"{FIRST} prefers not to be called."})
    assert withdrawn.status_code == 201, withdrawn.json
    with app.app_context():
        db.session.add(PlanItem(survivor_id=sid, assignee_id=cw.id, type="Education",
                                due_on=date(2026, 6, 1), objective=f"{FIRST} enrols in school"))
        db.session.commit()
    shelter = make_shelter(app)
    admit_direct(app, sid, shelter.id, admitted_on=date(2026, 2, 1))
    return dict(sup=sup, cw=cw, other_sup=other_sup, sid=sid, cw_api=cw_api)


def _orm_values_with_canary(app) -> list[str]:
    """Every value of every row of every mapped table, read (and decrypted) through the ORM,
    that contains a canary."""
    hits = []
    with app.app_context():
        for mapper in db.Model.registry.mappers:
            model = mapper.class_
            for row in db.session.scalars(select(model)):
                for attr in mapper.column_attrs:
                    value = getattr(row, attr.key)
                    if isinstance(value, bytes):
                        continue
                    shown = json.dumps(value, default=str, ensure_ascii=False)
                    hits += [f"{model.__tablename__}.{attr.key}" for c in CANARIES
                             if c in shown]
    return hits


def _letters_with_canary(app) -> list[str]:
    hits = []
    with app.app_context():
        for letter in db.session.scalars(select(ReferralLetter)):
            pdf = crypto.decrypt(letter.pdf, letter_aad(letter))
            body = pdf_text(pdf) if pdf else ""
            hits += [letter.reference for c in (FIRST, LAST) if c in body]
    return hits


def _raw_database(app) -> bytes:
    """The whole database as bytes: the SQLite file after a checkpoint, or a pg_dump."""
    with app.app_context():
        url = db.engine.url
        db.session.remove()
        db.engine.dispose()
        if ENGINE == "sqlite":
            with sqlite3.connect(url.database) as conn:
                assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
            data = open(url.database, "rb").read()
            try:
                data += open(url.database + "-wal", "rb").read()
            except FileNotFoundError:
                pass
            return data
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return subprocess.run(["pg_dump", "--no-owner", "--data-only", dsn],
                              capture_output=True, check=True, timeout=120).stdout


def _counts(app, sid) -> dict:
    with app.app_context():
        return {
            "survivors": db.session.scalar(select(func.count()).select_from(Survivor)),
            "placements": db.session.scalar(select(func.count()).select_from(Placement)
                                            .where(Placement.survivor_id == sid)),
            "plan_items": db.session.scalar(select(func.count()).select_from(PlanItem)),
            "consents": db.session.scalar(select(func.count()).select_from(Consent)),
            "letters": db.session.scalar(select(func.count()).select_from(ReferralLetter)),
        }


def _actions(app) -> list[str]:
    with app.app_context():
        return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


# --- erasure on request ------------------------------------------------------------------------


def test_erasure_through_the_pages_leaves_the_name_nowhere(app, team):
    sid = team["sid"]
    assert _orm_values_with_canary(app), "the canary must be there before the erasure"
    assert _letters_with_canary(app)
    before = _counts(app, sid)

    cw_web = login_web(app, team["cw"])
    page = cw_web.get(f"/survivors/{sid}")
    assert f"/survivors/{sid}/erasure" in page.text
    sent = cw_web.post_form(f"/survivors/{sid}/erasure", {
        "requested_on": date.today().isoformat(),
        "reason": f"{FIRST} asked on the phone to be forgotten."})
    assert sent.status_code == 302, sent.text[:500]
    with app.app_context():
        request = db.session.scalar(select(ErasureRequest))
        request_id = request.id
        assert request.status == "pending"

    sup_web = login_web(app, team["sup"])
    inbox = sup_web.get("/supervision/approvals")
    assert f'data-erasure-request="{request_id}"' in inbox.text
    done = sup_web.post_form(f"/supervision/approvals/erasures/{request_id}/approve", {},
                             page="/supervision/approvals")
    assert done.status_code == 302, done.text[:500]

    # Nowhere: every value through the ORM (decrypted), the raw database, the letters.
    assert _orm_values_with_canary(app) == []
    assert _letters_with_canary(app) == []
    raw = _raw_database(app)
    for canary in CANARIES:
        assert canary.encode() not in raw, canary
    with app.app_context():
        for event in db.session.scalars(select(AuditEvent)):
            blob = json.dumps([event.fields, event.reason, event.actor_username])
            assert FIRST not in blob and LAST not in blob
        survivor = db.session.get(Survivor, sid)
        assert survivor.erased_at is not None and survivor.first_name is None
        assert survivor.case_number.startswith("CW-") and survivor.gender == "Feminine"
        # Not even the keyed digests of the name, birth date or phone remain.
        from casework.survivors.search import SurvivorSearchKey

        assert db.session.scalars(select(SurvivorSearchKey).where(
            SurvivorSearchKey.survivor_id == sid)).all() == []
    # The statistics keep counting the survivor and their services.
    assert _counts(app, sid) == before
    assert "survivor.erased" in _actions(app)

    # The certificate: from the case's erasure page, without any identifying value.
    page = cw_web.get(f"/survivors/{sid}/erasure")
    assert f"/erasure-requests/{request_id}/certificate.pdf" in page.text
    cert = cw_web.get(f"/erasure-requests/{request_id}/certificate.pdf")
    assert cert.status_code == 200 and cert.mimetype == "application/pdf"
    body = pdf_text(cert.data)
    assert "Deletion certificate" in body and "supervisor" in body
    with app.app_context():
        assert db.session.get(Survivor, sid).case_number in body
    for canary in CANARIES:
        assert canary not in body
    assert sup_web.get(f"/erasure-requests/{request_id}/certificate.pdf").status_code == 200
    # The letter cannot be downloaded any more; its verification says not to use it.
    with app.app_context():
        letter = db.session.scalar(select(ReferralLetter))
        assert letter.size == 0 and letter.revocation == "consent_withdrawn"
        referral_id = letter.referral_id
    assert team["cw_api"].get(f"/api/v1/referrals/{referral_id}/letter.pdf").status_code == 404
    # A second request is refused: already erased.
    again = team["cw_api"].post(f"/api/v1/survivors/{sid}/erasure-requests",
                                json={"reason": "Again."})
    assert again.status_code == 409


def test_erasure_through_the_api_and_who_may_decide(app, team, make):
    sid, cw_api = team["sid"], team["cw_api"]
    sup_api, other_api = login_api(app, team["sup"]), login_api(app, team["other_sup"])
    # Bad input: a clear error, nothing recorded.
    for body, field in (({}, "reason"), ({"reason": "   "}, "reason"),
                        ({"reason": "Asked.", "requested_on": "yesterday"}, "requested_on"),
                        ({"reason": "Asked.", "requested_on": "2999-01-01"}, "requested_on"),
                        ({"reason": "Asked.", "colour": "red"}, "colour")):
        refused = cw_api.post(f"/api/v1/survivors/{sid}/erasure-requests", json=body)
        assert refused.status_code == 422, body
        assert field in refused.json["errors"], refused.json
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ErasureRequest)) == 0
    # A supervisor does not record requests; another team's supervisor does not see the case.
    assert sup_api.post(f"/api/v1/survivors/{sid}/erasure-requests",
                        json={"reason": "Asked."}).status_code == 403
    created = cw_api.post(f"/api/v1/survivors/{sid}/erasure-requests",
                          json={"reason": "Asked in person.", "requested_on": "2026-03-01"})
    assert created.status_code == 201, created.json
    rid = created.json["id"]
    assert created.json["status"] == "pending" and created.json["requested_on"] == "2026-03-01"
    assert cw_api.post(f"/api/v1/survivors/{sid}/erasure-requests",
                       json={"reason": "Twice."}).status_code == 409

    # The caseworker cannot approve; another team's supervisor gets 404; nothing changes.
    assert cw_api.post(f"/api/v1/erasure-requests/{rid}/approve").status_code == 403
    assert other_api.post(f"/api/v1/erasure-requests/{rid}/approve").status_code == 404
    assert other_api.get(f"/api/v1/erasure-requests/{rid}").status_code == 404
    assert sup_api.post(f"/api/v1/erasure-requests/{rid}/refuse",
                        json={"comment": ""}).status_code == 422
    with app.app_context():
        assert db.session.get(Survivor, sid).first_name == FIRST
        assert db.session.get(Survivor, sid).erased_at is None
    assert sup_api.get(f"/api/v1/erasure-requests/{rid}/certificate.pdf").status_code == 404

    approved = sup_api.post(f"/api/v1/erasure-requests/{rid}/approve")
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved" and approved.json["erased_at"]
    assert sup_api.post(f"/api/v1/erasure-requests/{rid}/approve").status_code == 409
    cert = sup_api.get(f"/api/v1/erasure-requests/{rid}/certificate.pdf")
    assert cert.status_code == 200 and FIRST not in pdf_text(cert.data)
    assert other_api.get(f"/api/v1/erasure-requests/{rid}/certificate.pdf").status_code == 404
    assert _orm_values_with_canary(app) == []
    record = cw_api.get(f"/api/v1/survivors/{sid}").json
    assert record["first_name"] is None and record["narrative"] is None
    assert "erasure.certificate_downloaded" in _actions(app)


def test_a_refused_request_erases_nothing(app, team):
    sid, cw_api = team["sid"], team["cw_api"]
    rid = cw_api.post(f"/api/v1/survivors/{sid}/erasure-requests",
                      json={"reason": "Asked by letter."}).json["id"]
    sup_web = login_web(app, team["sup"])
    missing = sup_web.post_form(f"/supervision/approvals/erasures/{rid}/refuse",
                                {"comment": ""}, page="/supervision/approvals")
    assert missing.status_code == 422
    refused = sup_web.post_form(f"/supervision/approvals/erasures/{rid}/refuse",
                                {"comment": "Court case pending: records must be kept."},
                                page="/supervision/approvals")
    assert refused.status_code == 302
    with app.app_context():
        request = db.session.get(ErasureRequest, uuid.UUID(rid))
        assert request.status == "refused" and request.certificate is None
        assert db.session.get(Survivor, sid).first_name == FIRST
    page = login_web(app, team["cw"]).get(f"/survivors/{sid}/erasure")
    assert "Court case pending" in page.text


# --- retention ---------------------------------------------------------------------------------


def _close(app, sid, closed_at, reason=f"{FIRST} moved abroad."):
    with app.app_context():
        survivor = db.session.get(Survivor, sid)
        survivor.status, survivor.closed_at = "Closed", closed_at
        survivor.closure_reason = reason
        db.session.commit()


def _set_retention(app, years):
    with app.app_context():
        org = db.session.scalar(select(Organisation))
        org.retention_years_after_closure = years
        db.session.commit()


def test_retention_dry_run_lists_then_run_anonymises_once(app, team, make):
    sid = team["sid"]
    recent = make.survivor(team["cw"], first_name="Recentia", last_name="Keepme")
    open_case = make.survivor(team["cw"], first_name="Openia", last_name="Keepme")
    _close(app, sid, datetime.now(UTC) - timedelta(days=365 * 6))
    _close(app, recent, datetime.now(UTC) - timedelta(days=365), "Moved on.")
    runner = app.test_cli_runner()

    # No period set: nothing to do.
    result = runner.invoke(args=["retention", "run", "--dry-run"])
    assert result.exit_code == 0 and "nothing to do" in result.output

    _set_retention(app, 5)
    before = _counts(app, sid)
    result = runner.invoke(args=["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        case_number = db.session.get(Survivor, sid).case_number
        recent_number = db.session.get(Survivor, recent).case_number
    assert case_number in result.output and recent_number not in result.output
    assert "1 case(s) would be anonymised" in result.output
    assert "identifying details: 7" in result.output and "Dry run" in result.output
    with app.app_context():
        assert db.session.get(Survivor, sid).first_name == FIRST
        assert db.session.get(Survivor, sid).erased_at is None
    assert "retention.dry_run" in _actions(app)

    result = runner.invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "1 case(s) anonymised" in result.output
    assert _orm_values_with_canary(app) == []
    assert _letters_with_canary(app) == []
    assert _counts(app, sid) == before
    with app.app_context():
        assert db.session.get(Survivor, recent).first_name == "Recentia"
        assert db.session.get(Survivor, open_case).first_name == "Openia"
        assert db.session.scalar(select(func.count()).select_from(ErasureRequest)) == 0
    actions = _actions(app)
    assert "retention.run" in actions and actions.count("survivor.erased") == 1

    again = runner.invoke(args=["retention", "run"])
    assert again.exit_code == 0 and "0 case(s) anonymised" in again.output
    assert _actions(app).count("survivor.erased") == 1


def test_retention_years_from_config_and_bad_values(app, team):
    _close(app, team["sid"], datetime.now(UTC) - timedelta(days=365 * 3))
    app.config["RETENTION_YEARS_AFTER_CLOSURE"] = 2
    try:
        result = app.test_cli_runner().invoke(args=["retention", "run", "--dry-run"])
    finally:
        app.config["RETENTION_YEARS_AFTER_CLOSURE"] = None
    assert result.exit_code == 0 and "1 case(s) would be anonymised" in result.output


# --- subject access ----------------------------------------------------------------------------


def test_subject_access_json_and_pdf(app, team, make):
    sid, cw_api = team["sid"], team["cw_api"]
    cw_web = login_web(app, team["cw"])
    cw_web.get(f"/survivors/{sid}")  # a read, which the access log must show
    exported = cw_web.get(f"/survivors/{sid}/subject-access.json")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    data = json.loads(exported.data)
    assert data["survivor"]["first_name"] == FIRST
    assert data["survivor"]["narrative"].startswith(FIRST)
    assert len(data["records"]["placements"]) == 1
    assert len(data["records"]["plan_items"]) == 1
    assert len(data["records"]["consents"]) == 3  # sharing for the letter, contact, withdrawal
    assert len(data["letters"]) == 1 and data["letters"][0]["reference"]
    assert {"survivor.viewed", "survivor.created"} <= {e["action"] for e in data["access_log"]}

    api_export = cw_api.get(f"/api/v1/survivors/{sid}/subject-access")
    assert api_export.status_code == 200 and api_export.json["case_number"] == data["case_number"]
    pdf = cw_web.get(f"/survivors/{sid}/subject-access.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    body = pdf_text(pdf.data)
    assert FIRST in body and "Who looked at or changed your data" in body
    assert _actions(app).count("survivor.subject_access_export") == 3

    # The team's supervisor may produce it once they have broken the glass (it carries the
    # survivor's names); another team's supervisor and a counsellor not.
    sup_api = login_api(app, team["sup"])
    assert sup_api.get(f"/api/v1/survivors/{sid}/subject-access").status_code == 403
    assert sup_api.post(f"/api/v1/survivors/{sid}/break-glass", json={
        "reason": "The survivor asked us for everything we hold."}).status_code == 200
    assert sup_api.get(f"/api/v1/survivors/{sid}/subject-access").status_code == 200
    assert login_api(app, team["other_sup"]).get(
        f"/api/v1/survivors/{sid}/subject-access").status_code == 404
    outsider = make.user("caseworker", team="North")
    assert login_api(app, outsider).get(
        f"/api/v1/survivors/{sid}/subject-access").status_code == 404


def test_privileged_counselling_notes_are_listed_as_withheld(app, team, make):
    sid, cw_api = team["sid"], team["cw_api"]
    counsellor = make.user("counsellor", team="North")
    started = cw_api.post(f"/api/v1/survivors/{sid}/counselling-engagements",
                          json={"counsellor_id": str(counsellor.id), "started_on": "2026-02-01"})
    assert started.status_code == 201, started.json
    co_api = login_api(app, counsellor)
    session = co_api.post(f"/api/v1/survivors/{sid}/counselling-sessions", json={
        "held_on": "2026-02-10", "duration_minutes": 50, "modality": "in_person",
        "language": "km", "interpreter_used": False, "attended": True,
        "notes": "Privnotemarker session content"})
    assert session.status_code == 201, session.json
    data = cw_api.get(f"/api/v1/survivors/{sid}/subject-access").json
    assert "Privnotemarker" not in json.dumps(data)
    assert len(data["records"]["counselling_sessions"]) == 1
    assert data["withheld"] == [{"record": "counselling_sessions", "fields": ["notes"],
                                 "count": 1, "why": data["withheld"][0]["why"]}]


def test_consents_stay_append_only_for_survivors_not_erased(app, team):
    with app.app_context():
        consent = db.session.scalar(select(Consent).where(Consent.notes.is_not(None)))
        consent_id = consent.id
        db.session.rollback()
        with pytest.raises(Exception, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE consents SET notes = NULL WHERE id = :id"),
                             {"id": consent_id if ENGINE == "postgresql" else consent_id.hex})
