"""The audit log: the hash chain detects tampering, every access is recorded (names of
fields, never their values), denials survive the rollback of the request they belong to,
the access log is shown only to those entitled, and the table is append-only in SQL."""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy.exc
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from casework import audit
from casework.audit.models import (
    APPEND_ONLY_DDL,
    DROP_APPEND_ONLY_DDL,
    AuditEvent,
    CanonicalBatch,
    canonical_bytes,
)
from casework.extensions import db
from tests.conftest import PASSWORD, ApiClient, WebClient, login_api, login_web

UNIQUE_NAME = "Zephyrine-Quillfeather"


# --- helpers -------------------------------------------------------------------------------------


def events(app, action: str | None = None, **where) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        for name, value in where.items():
            stmt = stmt.where(getattr(AuditEvent, name) == value)
        rows = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return rows


def verify(app) -> audit.VerifyResult:
    with app.app_context():
        return audit.verify()


def cli_verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


@contextmanager
def tampering(app):
    """A connection on which the append-only triggers are off, as an attacker with database
    rights could arrange; they are back in place afterwards whatever happens."""
    with app.app_context():
        dialect = db.engine.dialect.name
        try:
            with db.engine.begin() as conn:
                for statement in DROP_APPEND_ONLY_DDL[dialect]:
                    conn.execute(text(statement))
            with db.engine.begin() as conn:
                yield conn
        finally:
            with db.engine.begin() as conn:
                for statement in DROP_APPEND_ONLY_DDL[dialect]:
                    conn.execute(text(statement))
                for statement in APPEND_ONLY_DDL[dialect]:
                    conn.execute(text(statement))


def make_chain(app, make, length: int = 6) -> None:
    """At least ``length`` audit events, through ordinary use."""
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    while len(events(app)) < length:
        assert api.get(f"/api/v1/survivors/{sid}").status_code == 200


def assert_broken_at(app, bad_id: int) -> None:
    result = verify(app)
    assert not result.ok
    assert result.first_bad_id == bad_id, result
    assert result.problem
    run = cli_verify(app)
    assert run.exit_code != 0
    assert f"BROKEN at event {bad_id}" in run.output, run.output


def row_text(event: AuditEvent) -> str:
    return json.dumps({c.name: str(getattr(event, c.name)) for c in AuditEvent.__table__.columns},
                      ensure_ascii=False)


# --- verification --------------------------------------------------------------------------------


def test_fresh_chain_verifies(app, make):
    make_chain(app, make)
    count = len(events(app))
    result = verify(app)
    assert result.ok and result.first_bad_id is None
    assert result.checked == count
    run = cli_verify(app)
    assert run.exit_code == 0, run.output
    assert f"Audit chain intact: {count} events checked." in run.output


def test_empty_chain_verifies(app):
    assert verify(app).ok
    run = cli_verify(app)
    assert run.exit_code == 0 and "0 events" in run.output


def test_chain_links_each_row_to_the_one_before(app, make):
    make_chain(app, make)
    rows = events(app)
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == "0" * 64
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.prev_hash == before.hash
    assert all(r.hash == r.compute_hash() for r in rows)


_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)  # quotes, controls, any script
_UUIDS = st.none() | st.uuids()
_EVENT = st.fixed_dictionaries({
    "id": st.integers(min_value=1, max_value=2**53),
    "occurred_at": st.datetimes(timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3, minutes=-30))])),
    "actor_id": _UUIDS, "actor_username": st.none() | _TEXT, "action": _TEXT,
    "subject_type": st.none() | _TEXT, "subject_id": _UUIDS, "team_id": _UUIDS,
    "fields": st.none() | st.lists(_TEXT, max_size=4), "reason": st.none() | _TEXT,
    "channel": st.sampled_from(["web", "api", "cli"]), "ip": st.none() | _TEXT,
})


@settings(max_examples=300, deadline=None)
@given(st.lists(_EVENT, min_size=1, max_size=6), st.data())
def test_a_batch_of_events_hashes_the_same_bytes_as_one_event_alone(batch, data):
    """write_pending's fast canonical form (CanonicalBatch) is byte for byte the one verify
    recomputes (canonical_bytes), also when events share all but their id and subject, as a
    list's fifty do, and when the same instant is written in two zones."""
    shared = batch[0]
    for row in list(batch):
        batch.append({**shared, "id": row["id"], "subject_id": row["subject_id"]})
    moved = data.draw(st.sampled_from([UTC, timezone(timedelta(hours=2))]))
    batch.append({**shared, "occurred_at": shared["occurred_at"].astimezone(moved)})
    canonical = CanonicalBatch()
    assert [canonical(row) for row in batch] == [canonical_bytes(row) for row in batch]
    assert None not in canonical._frames.values()  # each took the fast way, none fell back


def test_events_are_written_when_their_transaction_commits_in_the_order_recorded(app):
    with app.app_context():
        audit.record(None, "digest.sent", actor_username="first")
        audit.record(None, "digest.sent", actor_username="second")
        # Not yet in the table: the chain is locked and appended to at the commit only.
        assert db.session.scalar(select(AuditEvent.id).limit(1)) is None
        db.session.commit()
    assert [e.actor_username for e in events(app)] == ["first", "second"]
    assert verify(app).ok


def test_a_rolled_back_transaction_writes_none_of_its_events(app):
    with app.app_context():
        audit.record(None, "digest.sent", actor_username="never")  # no query before it
        db.session.rollback()
        audit.record(None, "digest.sent", actor_username="kept")
        db.session.commit()
    assert [e.actor_username for e in events(app)] == ["kept"]
    assert verify(app).ok


def test_a_rolled_back_savepoint_takes_only_its_own_events(app):
    with app.app_context():
        audit.record(None, "digest.sent", actor_username="before")
        try:
            with db.session.begin_nested():
                audit.record(None, "digest.sent", actor_username="inside")
                raise RuntimeError("the savepoint rolls back")
        except RuntimeError:
            pass
        with db.session.begin_nested():
            audit.record(None, "digest.sent", actor_username="released")
        audit.record(None, "digest.sent", actor_username="after")
        db.session.commit()
    assert [e.actor_username for e in events(app)] == ["before", "released", "after"]
    assert verify(app).ok


def test_concurrent_transactions_append_one_unbroken_chain(app):
    """Transactions that record at once (threads, each its own session and connection)
    still number and link their events without a gap: the chain is locked at the append."""
    import threading

    threads, per_thread = 6, 5
    barrier = threading.Barrier(threads)
    failures = []

    def work(n):
        try:
            with app.app_context():
                barrier.wait(30)
                db.session.scalar(select(AuditEvent.id).limit(1))  # (SQLite: waits its turn)
                for i in range(per_thread):
                    audit.record(None, "digest.sent", actor_username=f"t{n}", reason=str(i))
                db.session.commit()
        except Exception as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not failures
    rows = events(app)
    assert [r.id for r in rows] == list(range(1, threads * per_thread + 1))
    for n in range(threads):  # each transaction's events stay together, in their order
        mine = [r for r in rows if r.actor_username == f"t{n}"]
        assert [r.reason for r in mine] == [str(i) for i in range(per_thread)]
        assert [r.id for r in mine] == list(range(mine[0].id, mine[0].id + per_thread))
    assert verify(app).ok


@pytest.mark.parametrize(("column", "value"), [
    ("action", "survivor.listed"),
    ("actor_username", "someone-else"),
    ("reason", "made up"),
    ("fields", '["first_name"]'),
    ("ip", "10.9.9.9"),
    ("channel", "cli"),
])
def test_edited_row_is_detected(app, make, column, value):
    make_chain(app, make)
    with tampering(app) as conn:
        conn.execute(text(f"UPDATE audit_events SET {column} = :value WHERE id = 3"),
                     {"value": value})
    assert_broken_at(app, 3)


def test_edited_timestamp_is_detected(app, make):
    make_chain(app, make)
    with tampering(app) as conn:
        conn.execute(text("UPDATE audit_events SET occurred_at = :value WHERE id = 4"),
                     {"value": datetime(2020, 1, 1, tzinfo=UTC)})
    assert_broken_at(app, 4)


def test_edited_row_with_its_hash_recomputed_breaks_the_next_link(app, make):
    make_chain(app, make)
    with app.app_context():
        forged = db.session.get(AuditEvent, 3)
        forged.actor_username = "someone-else"
        new_hash = forged.compute_hash()
        db.session.rollback()
    with tampering(app) as conn:
        conn.execute(text("UPDATE audit_events SET actor_username = 'someone-else', hash = :h "
                          "WHERE id = 3"), {"h": new_hash})
    assert_broken_at(app, 4)


def test_deleted_middle_row_is_detected(app, make):
    make_chain(app, make)
    with tampering(app) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 3"))
    result = verify(app)
    assert result.checked == 2
    assert_broken_at(app, 4)


def test_deleted_first_row_is_detected(app, make):
    make_chain(app, make)
    with tampering(app) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 1"))
    assert_broken_at(app, 2)


def _insert(conn, **values):
    row = {
        "occurred_at": datetime.now(UTC), "actor_id": None, "actor_username": "forger",
        "action": "survivor.viewed", "subject_type": None, "subject_id": None, "team_id": None,
        "fields": [], "reason": None, "channel": "web", "ip": None,
        "prev_hash": "f" * 64, "hash": "e" * 64, **values,
    }
    conn.execute(AuditEvent.__table__.insert().values(**row))


def test_forged_row_appended_with_a_new_id_is_detected(app, make):
    make_chain(app, make)
    last = len(events(app))
    with tampering(app) as conn:
        _insert(conn, id=last + 1)
    assert_broken_at(app, last + 1)


def test_forged_row_after_a_gap_is_detected(app, make):
    make_chain(app, make)
    rows = events(app)
    with tampering(app) as conn:
        _insert(conn, id=len(rows) + 5, prev_hash=rows[-1].hash)
    assert_broken_at(app, len(rows) + 5)


def test_forged_row_inserted_between_is_detected(app, make):
    """Rows 3.. are renumbered to make room; even a forged row with a well-formed hash
    cannot hide it: the row displaced after it no longer matches."""
    make_chain(app, make)
    rows = events(app)
    forged = AuditEvent(id=3, occurred_at=rows[1].occurred_at, actor_username="forger",
                        action="survivor.viewed", fields=[], channel="web",
                        prev_hash=rows[1].hash)
    forged.hash = forged.compute_hash()
    with tampering(app) as conn:
        conn.execute(text("UPDATE audit_events SET id = -id WHERE id >= 3"))
        conn.execute(text("UPDATE audit_events SET id = 1 - id WHERE id < 0"))
        _insert(conn, id=3, occurred_at=forged.occurred_at, actor_username="forger",
                prev_hash=forged.prev_hash, hash=forged.hash)
    assert len(events(app)) == len(rows) + 1
    assert_broken_at(app, 4)


def test_forged_row_inserted_between_with_a_bad_hash_is_named_itself(app, make):
    make_chain(app, make)
    with tampering(app) as conn:
        conn.execute(text("UPDATE audit_events SET id = -id WHERE id >= 3"))
        conn.execute(text("UPDATE audit_events SET id = 1 - id WHERE id < 0"))
        _insert(conn, id=3)
    assert_broken_at(app, 3)


def test_chain_keeps_verifying_after_tampering_is_undone_by_new_rows(app, make):
    """New events after a break do not hide it: verify still names the first bad row."""
    make_chain(app, make)
    with tampering(app) as conn:
        conn.execute(text("UPDATE audit_events SET reason = 'x' WHERE id = 2"))
    cw = make.user("caseworker")
    login_api(app, cw)
    assert_broken_at(app, 2)


# --- append-only in SQL --------------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET action = 'x' WHERE id = 1",
    "UPDATE audit_events SET reason = 'x'",
    "DELETE FROM audit_events WHERE id = 1",
    "DELETE FROM audit_events",
])
def test_audit_rows_cannot_be_changed_or_removed_in_sql(app, make, statement):
    make_chain(app, make, length=3)
    before = [row_text(e) for e in events(app)]
    with app.app_context():
        with pytest.raises(sqlalchemy.exc.DBAPIError) as caught:
            with db.engine.begin() as conn:
                conn.execute(text(statement))
        assert "append-only" in str(caught.value)
    assert [row_text(e) for e in events(app)] == before
    assert verify(app).ok


def test_audit_rows_cannot_be_changed_through_the_orm(app, make):
    make_chain(app, make, length=3)
    with app.app_context():
        event = db.session.get(AuditEvent, 1)
        event.reason = "rewritten"
        with pytest.raises(sqlalchemy.exc.DBAPIError):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.get(AuditEvent, 2))
        with pytest.raises(sqlalchemy.exc.DBAPIError):
            db.session.commit()
        db.session.rollback()
    assert verify(app).ok
    assert events(app)[0].reason is None


# --- what is recorded ----------------------------------------------------------------------------


def test_page_view_is_recorded_with_field_names(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    web = login_web(app, cw)
    assert web.get(f"/survivors/{sid}").status_code == 200
    [event] = events(app, "survivor.viewed", subject_id=sid)
    assert event.channel == "web"
    assert event.actor_id == cw.id and event.actor_username == cw.username
    assert event.subject_type == "survivor"
    assert event.team_id == cw.team_id
    assert {"first_name", "narrative", "case_number"} <= set(event.fields)
    assert event.ip


def test_api_read_is_recorded(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    body = api.get(f"/api/v1/survivors/{sid}").json
    [event] = events(app, "survivor.viewed", subject_id=sid)
    assert event.channel == "api" and event.actor_id == cw.id
    assert set(event.fields) == set(body)  # exactly the fields handed out


def test_counsellor_read_records_only_the_fields_shown(app, make):
    cw = make.user("caseworker")
    counsellor = make.user("counsellor")
    sid = make.survivor(cw, collaborator_ids=[counsellor.id])
    body = login_api(app, counsellor).get(f"/api/v1/survivors/{sid}").json
    [event] = events(app, "survivor.viewed", actor_id=counsellor.id)
    assert set(event.fields) == set(body)
    assert "narrative" not in event.fields


def test_list_records_one_event_per_survivor_shown(app, make):
    cw = make.user("caseworker")
    other = make.user("caseworker", team="South")
    mine = [make.survivor(cw) for _ in range(3)]
    theirs = make.survivor(other)
    api = login_api(app, cw)

    body = api.get("/api/v1/survivors").json
    assert {uuid.UUID(item["id"]) for item in body["items"]} == set(mine)
    listed = events(app, "survivor.listed")
    assert sorted(e.subject_id for e in listed) == sorted(mine)
    assert all(e.actor_id == cw.id and e.channel == "api" and e.fields for e in listed)
    assert theirs not in {e.subject_id for e in listed}

    page = api.get("/api/v1/survivors?limit=2").json
    shown = [uuid.UUID(item["id"]) for item in page["items"]]
    assert len(shown) == 2
    assert len(events(app, "survivor.listed")) == 3 + 2


def test_web_caseload_records_one_event_per_survivor_shown(app, make):
    cw = make.user("caseworker")
    mine = [make.survivor(cw) for _ in range(2)]
    web = login_web(app, cw)
    assert web.get("/survivors/").status_code == 200
    listed = events(app, "survivor.listed")
    assert sorted(e.subject_id for e in listed) == sorted(mine)
    assert {e.channel for e in listed} == {"web"}


def test_listed_events_name_each_survivors_team(app, make):
    """A list's events carry the team of each survivor's lead (the team audit filters by it),
    whether the lead is the one listing, another team's caseworker, or someone a supervisor
    oversees."""
    cw = make.user("caseworker")
    other = make.user("caseworker", team="South")
    supervisor = make.user("supervisor")
    mine = make.survivor(cw)
    shared = make.survivor(other, collaborator_ids=[str(cw.id)])

    assert login_web(app, cw).get("/survivors/").status_code == 200
    teams = {e.subject_id: e.team_id for e in events(app, "survivor.listed")}
    assert teams == {mine: cw.team_id, shared: other.team_id}

    # (the shared case is in the supervisor's caseload through its collaborator)
    assert login_web(app, supervisor).get("/supervision/caseload").status_code == 200
    by_supervisor = events(app, "survivor.listed", actor_id=supervisor.id)
    assert {e.subject_id: e.team_id for e in by_supervisor} == {
        mine: supervisor.team_id, shared: other.team_id}


def test_empty_list_records_nothing_per_survivor(app, make):
    cw = make.user("caseworker")
    make.survivor(cw)
    api = login_api(app, cw)
    assert api.get("/api/v1/survivors?status=FollowUp").json["items"] == []
    assert events(app, "survivor.listed") == []


def test_writes_record_field_names_never_values(app, make):
    cw = make.user("caseworker")
    api = login_api(app, cw)
    created = api.post("/api/v1/survivors", json={
        "first_name": UNIQUE_NAME, "known_as": UNIQUE_NAME + "-k", "intake_date": "2026-01-10",
        "narrative": "Narrative " + UNIQUE_NAME, "phone": "+44 20 7946 0000",
    })
    assert created.status_code == 201, created.json
    sid = uuid.UUID(created.json["id"])
    [create_event] = events(app, "survivor.created", subject_id=sid)
    assert {"first_name", "known_as", "narrative", "phone"} <= set(create_event.fields)

    assert api.patch(f"/api/v1/survivors/{sid}",
                     json={"first_name": UNIQUE_NAME + "-2", "last_name": UNIQUE_NAME}
                     ).status_code == 200
    [update_event] = events(app, "survivor.updated", subject_id=sid)
    assert update_event.fields == ["first_name", "last_name"]

    web = login_web(app, cw)
    form = {"intake_date": "2026-01-10", "lead_caseworker_id": str(cw.id), "status": "Active",
            "first_name": UNIQUE_NAME + "-3", "risk_notes": UNIQUE_NAME}
    assert web.post_form(f"/survivors/{sid}/edit", form).status_code == 302
    close = web.post_form(f"/survivors/{sid}/close",
                          {"status": "Closed", "reason": "Moved; " + UNIQUE_NAME})
    assert close.status_code == 302

    everything = events(app)
    assert {"survivor.created", "survivor.updated", "survivor.closed"} <= {
        e.action for e in everything}
    for event in everything:
        assert UNIQUE_NAME not in row_text(event), row_text(event)
        assert "7946 0000" not in row_text(event)  # the phone number, not hex by chance


def test_unchanged_save_records_no_update(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, known_as="Same")
    api = login_api(app, cw)
    assert api.patch(f"/api/v1/survivors/{sid}", json={"known_as": "Same"}).status_code == 200
    assert events(app, "survivor.updated") == []


def test_login_success_and_failure_are_recorded(app, make):
    cw = make.user("caseworker")
    WebClient(app).post_form("/login", {"username": cw.username, "password": "wrong"})
    WebClient(app).post_form("/login", {"username": "no-such-user", "password": "wrong"})
    assert ApiClient(app).post("/api/v1/auth/token", json={
        "username": cw.username, "password": "wrong"}).status_code == 401
    WebClient(app).login(cw.username)

    failed = events(app, "auth.login_failed")
    assert [(e.actor_id, e.actor_username, e.channel) for e in failed] == [
        (cw.id, cw.username, "web"),
        (None, "no-such-user", "web"),
        (cw.id, cw.username, "api"),  # persisted although the 401 rolled its request back
    ]
    [login] = events(app, "auth.login")
    assert login.actor_id == cw.id and login.channel == "web"
    # The password, right or wrong, is never in the log.
    for event in events(app):
        assert "wrong" not in row_text(event) and PASSWORD not in row_text(event)


def test_throttled_login_is_recorded(app, make):
    cw = make.user("caseworker")
    for _ in range(5):
        WebClient(app).post_form("/login", {"username": cw.username, "password": "wrong"})
    assert ApiClient(app).post("/api/v1/auth/token", json={
        "username": cw.username, "password": PASSWORD}).status_code == 429
    [event] = events(app, "auth.login_throttled")
    assert event.actor_username == cw.username and event.channel == "api"
    assert verify(app).ok


def test_logout_and_token_lifecycle_are_recorded(app, make):
    cw = make.user("caseworker")
    api = login_api(app, cw)
    assert api.delete("/api/v1/auth/token").status_code == 204
    web = login_web(app, cw)
    token = web.get("/survivors/").text.split('name="csrf_token" value="')[1].split('"')[0]
    web.client.post("/logout", data={"csrf_token": token})
    actions = [e.action for e in events(app) if e.actor_id == cw.id]
    for action in ("auth.token_issued", "auth.token_revoked", "auth.login", "auth.logout"):
        assert action in actions


@pytest.mark.parametrize("channel", ["web", "api"])
def test_denied_read_is_404_and_persisted_despite_rollback(app, make, channel):
    owner = make.user("caseworker", team="North")
    stranger = make.user("caseworker", team="South")
    sid = make.survivor(owner)
    if channel == "web":
        response = login_web(app, stranger).get(f"/survivors/{sid}")
    else:
        response = login_api(app, stranger).get(f"/api/v1/survivors/{sid}")
    assert response.status_code == 404
    [denied] = events(app, "survivor.read.denied")
    assert denied.actor_id == stranger.id and denied.subject_id == sid
    assert denied.channel == channel
    assert events(app, "survivor.viewed") == []
    assert verify(app).ok


def test_denied_write_is_403_persisted_and_changes_nothing(app, make):
    cw = make.user("caseworker")
    counsellor = make.user("counsellor")
    sid = make.survivor(cw, collaborator_ids=[counsellor.id], narrative="Original")
    response = login_api(app, counsellor).patch(
        f"/api/v1/survivors/{sid}", json={"narrative": "Changed", "known_as": "X"})
    assert response.status_code == 403
    assert set(response.json["fields"]) == {"narrative", "known_as"}
    [denied] = events(app, "survivor.write_denied")
    assert denied.actor_id == counsellor.id and denied.subject_id == sid
    assert denied.fields == ["known_as", "narrative"]
    assert events(app, "survivor.updated") == []
    assert login_api(app, cw).get(f"/api/v1/survivors/{sid}").json["narrative"] == "Original"
    assert verify(app).ok


def test_denied_list_is_persisted(app, make):
    admin = make.user("admin")  # admins see no survivor data (a donor gets 404 before this)
    response = login_api(app, admin).get("/api/v1/survivors")
    assert response.status_code == 403
    [denied] = events(app, "survivor.list.denied")
    assert denied.actor_id == admin.id


@pytest.mark.parametrize("channel", ["web", "api"])
def test_break_glass_is_recorded_with_its_reason(app, make, channel):
    cw = make.user("caseworker", team="North")
    supervisor = make.user("supervisor", team="North")
    sid = make.survivor(cw)
    reason = "Police request about imminent danger, ref 2026-77"
    if channel == "api":
        response = login_api(app, supervisor).post(f"/api/v1/survivors/{sid}/break-glass",
                                                   json={"reason": reason})
        assert response.status_code == 200, response.json
    else:
        web = login_web(app, supervisor)
        response = web.post_form(f"/survivors/{sid}/break-glass", {"reason": reason},
                                 page=f"/survivors/{sid}")
        assert response.status_code == 302
    [event] = events(app, "survivor.break_glass")
    assert event.reason == reason
    assert event.actor_id == supervisor.id and event.subject_id == sid
    assert event.channel == channel
    assert {"first_name", "last_name", "date_of_birth"} <= set(event.fields)
    # The caseworker sees who broke the glass and why.
    page = login_web(app, cw).get(f"/survivors/{sid}").text
    assert reason in page and supervisor.username in page
    log = login_api(app, cw).get(f"/api/v1/survivors/{sid}/access-log").json
    assert any(e["action"] == "survivor.break_glass" and e["reason"] == reason for e in log)


def test_refused_break_glass_records_no_grant(app, make):
    cw = make.user("caseworker", team="North")
    supervisor = make.user("supervisor", team="North")
    sid = make.survivor(cw)
    response = login_api(app, supervisor).post(f"/api/v1/survivors/{sid}/break-glass",
                                               json={"reason": "short"})
    assert response.status_code == 400
    assert events(app, "survivor.break_glass") == []


# --- access log ----------------------------------------------------------------------------------

ACCESS_LOG_SECTION = 'id="access-log-title"'


def _team_case(app, make):
    cw = make.user("caseworker", team="North")
    counsellor = make.user("counsellor", team="North")
    supervisor = make.user("supervisor", team="North")
    outsider = make.user("caseworker", team="South")
    sid = make.survivor(cw, collaborator_ids=[counsellor.id])
    login_api(app, counsellor).get(f"/api/v1/survivors/{sid}")  # something to show
    return cw, counsellor, supervisor, outsider, sid


def test_access_log_section_is_shown_to_caseworker_and_supervisor_only(app, make):
    cw, counsellor, supervisor, outsider, sid = _team_case(app, make)
    for user in (cw, supervisor):
        page = login_web(app, user).get(f"/survivors/{sid}")
        assert page.status_code == 200
        assert ACCESS_LOG_SECTION in page.text, user.role
        assert counsellor.username in page.text  # the counsellor's read is listed
    page = login_web(app, counsellor).get(f"/survivors/{sid}")
    assert page.status_code == 200
    assert ACCESS_LOG_SECTION not in page.text
    assert login_web(app, outsider).get(f"/survivors/{sid}").status_code == 404


def test_access_log_rows_show_who_what_through_which_channel_and_why(app, make):
    cw, counsellor, supervisor, _outsider, sid = _team_case(app, make)
    assert login_api(app, cw).patch(f"/api/v1/survivors/{sid}",
                                    json={"risk_level": "high"}).status_code == 200
    reason = "Welfare check requested by the shelter tonight."
    assert login_api(app, supervisor).post(f"/api/v1/survivors/{sid}/break-glass",
                                           json={"reason": reason}).status_code in (200, 201)
    page = login_web(app, cw).get(f"/survivors/{sid}").text
    rows = page.split('id="access-log-title"')[1].split("<tbody>")[1].split("</tbody>")[0]
    glass = rows.split('data-action="survivor.break_glass"')[1].split("</tr>")[0]
    assert 'class="table-warning"' in glass and reason in glass and supervisor.username in glass
    updated = rows.split('data-action="survivor.updated"')[1].split("</tr>")[0]
    assert "risk_level" in updated and "(API)" in updated and cw.username in updated
    assert counsellor.username in rows


def test_access_log_api_is_for_caseworker_and_supervisor_only(app, make):
    cw, counsellor, supervisor, outsider, sid = _team_case(app, make)
    for user in (cw, supervisor):
        response = login_api(app, user).get(f"/api/v1/survivors/{sid}/access-log")
        assert response.status_code == 200
        entries = response.json
        assert entries and all(set(e) >= {"id", "occurred_at", "actor_username", "action",
                                          "channel", "fields", "reason"} for e in entries)
        ids = [e["id"] for e in entries]
        assert ids == sorted(ids, reverse=True)  # newest first
        assert any(e["actor_username"] == counsellor.username
                   and e["action"] == "survivor.viewed" for e in entries)
    refused = login_api(app, counsellor).get(f"/api/v1/survivors/{sid}/access-log")
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    hidden = login_api(app, outsider).get(f"/api/v1/survivors/{sid}/access-log")
    assert hidden.status_code == 404
    assert {e.actor_id for e in events(app, "survivor.access_log.denied")} == {counsellor.id}
    assert {e.actor_id for e in events(app, "survivor.read.denied")} == {outsider.id}
    viewed = {e.actor_id for e in events(app, "survivor.access_log_viewed")}
    assert viewed == {cw.id, supervisor.id}


def test_access_log_lists_only_this_survivor(app, make):
    cw = make.user("caseworker")
    first, second = make.survivor(cw), make.survivor(cw)
    api = login_api(app, cw)
    api.get(f"/api/v1/survivors/{second}")
    entries = api.get(f"/api/v1/survivors/{first}/access-log").json
    subject_ids = {e.subject_id for e in events(app) if e.id in {x["id"] for x in entries}}
    assert subject_ids == {first}
