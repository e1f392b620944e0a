"""Encryption at rest, key rotation, and search-before-create on blind indexes (both engines).

A database dump holds no identifying plaintext; rotation interrupted halfway leaves every row
readable and a rerun finishes; a ciphertext moved to another row does not decrypt; possible
duplicates are found by name (also by sound), birth date and phone without decrypting the
table, and only counted when they are outside the caller's scope.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import subprocess
import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from casework import crypto, encryption
from casework.audit.models import AuditEvent
from casework.crypto import DecryptionError
from casework.extensions import db
from casework.survivors.models import Survivor
from casework.survivors.search import SurvivorSearchKey, normalise
from tests.conftest import ENGINE, login_api, login_web

CANARY_FIRST = "Quillonaire"
CANARY_LAST = "Zephyrinova"
CANARY_PHONE = "+44 7700 913 577"
CANARY_NARRATIVE = "Marmaladine crossed the border at Xylofjord"


def _survivor_row(app, sid):
    with app.app_context():
        table = Survivor.__table__
        return dict(db.session.execute(select(table).where(table.c.id == sid)).mappings().one())


# --- a dump holds no plaintext -------------------------------------------------------------------


def _dump(app) -> bytes:
    with app.app_context():
        url = db.engine.url
        if ENGINE == "sqlite":
            path = Path(url.database)
            db.session.remove()
            db.engine.dispose()
            with contextlib.closing(sqlite3.connect(path)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            files = [path, path.with_name(path.name + "-wal")]
            return b"".join(f.read_bytes() for f in files if f.exists())
        plain_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return subprocess.run(["pg_dump", "--no-owner", plain_url], capture_output=True,
                              check=True).stdout


def test_a_dump_holds_no_plaintext_canary_and_rows_read_back_equal(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, first_name=CANARY_FIRST, last_name=CANARY_LAST, phone=CANARY_PHONE,
                        narrative=CANARY_NARRATIVE, date_of_birth=date(1999, 12, 31))
    api = login_api(app, cw)
    shown = api.get(f"/api/v1/survivors/{sid}").json
    assert (shown["first_name"], shown["last_name"], shown["phone"], shown["narrative"],
            shown["date_of_birth"]) == (CANARY_FIRST, CANARY_LAST, CANARY_PHONE,
                                        CANARY_NARRATIVE, "1999-12-31")
    dump = _dump(app)
    assert b"casework" in dump.lower() or len(dump) > 1000  # a real dump was read
    for canary in (CANARY_FIRST, CANARY_LAST, "7700 913 577", "7700913577", "Marmaladine",
                   "Xylofjord", "1999-12-31"):
        assert canary.encode() not in dump, canary
        assert canary.casefold().encode() not in dump, canary
    # What is stored is a blob under the newest key, bound to its row and column.
    stored = _survivor_row(app, sid)
    assert isinstance(stored["first_name"], bytes)
    with app.app_context():
        assert crypto.key_id_of(stored["first_name"]) == "test1"
        assert crypto.decrypt(stored["first_name"],
                              crypto.aad("survivors", "first_name", sid)) == CANARY_FIRST.encode()


def test_every_identifying_and_free_text_column_is_encrypted():
    tables = dict(encryption.encrypted_columns(db.metadata))
    assert {"first_name", "last_name", "known_as", "date_of_birth", "phone", "email", "address",
            "narrative", "risk_notes", "closure_reason"} <= set(tables["survivors"])
    assert "risk_level" not in tables["survivors"]  # a vocabulary value, not free text
    assert tables["counselling_sessions"] == ["notes"]
    assert set(tables["referrals"]) == {"reason", "decline_reason", "withdraw_reason",
                                        "return_comment"}
    assert tables["users"] == ["mfa_secret"] and tables["referral_letters"] == ["pdf"]


def test_loading_decrypts_without_marking_anything_changed(app, make):
    """Decrypting on load writes the plain values as loaded ones: nothing is pending, a commit
    writes nothing back, and a refresh decrypts again."""
    cw = make.user("caseworker")
    sid = make.survivor(cw, first_name="Lanh", date_of_birth=date(1990, 2, 3))
    with app.app_context():
        survivor = db.session.get(Survivor, sid)
        assert (survivor.first_name, survivor.date_of_birth) == ("Lanh", date(1990, 2, 3))
        assert not db.session.is_modified(survivor) and not db.session.dirty
        db.session.refresh(survivor, ["first_name"])
        assert survivor.first_name == "Lanh" and not db.session.is_modified(survivor)
        db.session.commit()
        stored = db.session.execute(select(Survivor.__table__.c.first_name)
                                    .where(Survivor.__table__.c.id == sid)).scalar_one()
        assert isinstance(stored, bytes) and b"Lanh" not in stored
        db.session.expire_all()
        assert db.session.get(Survivor, sid).first_name == "Lanh"


def test_plaintext_cannot_reach_an_encrypted_column_by_core(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    with app.app_context():
        with pytest.raises(Exception, match="not plaintext"):
            db.session.execute(update(Survivor.__table__)
                               .where(Survivor.__table__.c.id == sid).values(first_name="Leak"))
        db.session.rollback()
    assert _survivor_row(app, sid)["first_name"] != b"Leak"


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(app, make):
    cw = make.user("caseworker")
    one = make.survivor(cw, first_name="Alpha")
    two = make.survivor(cw, first_name="Bravo")
    a, b = _survivor_row(app, one)["first_name"], _survivor_row(app, two)["first_name"]
    table = Survivor.__table__
    with app.app_context():
        db.session.execute(update(table).where(table.c.id == one).values(first_name=b))
        db.session.execute(update(table).where(table.c.id == two).values(first_name=a))
        db.session.commit()
        with pytest.raises(DecryptionError, match=f"survivors.first_name of row {one}.*altered"):
            db.session.get(Survivor, one)
        db.session.rollback()


# --- rotation ------------------------------------------------------------------------------------

NEW_KEY = base64.b64encode(b"\x09" * 32).decode()


@pytest.fixture
def two_keys(app):
    old = app.config["DATA_KEYS"]
    app.config["DATA_KEYS"] = json.dumps({**json.loads(old), "test2": NEW_KEY})
    yield
    app.config["DATA_KEYS"] = old


def _key_ids(app) -> list[str]:
    with app.app_context():
        blobs = db.session.scalars(select(Survivor.__table__.c.first_name)).all()
        return [crypto.key_id_of(b) for b in blobs]


def test_rotation_interrupted_then_resumed_leaves_every_row_readable(app, make, monkeypatch):
    cw = make.user("caseworker")
    names = [f"Rotana{n}" for n in range(5)]
    ids = [make.survivor(cw, first_name=name, narrative=f"Story {name}") for name in names]
    old = app.config["DATA_KEYS"]
    app.config["DATA_KEYS"] = json.dumps({**json.loads(old), "test2": NEW_KEY})
    try:
        rows_seen: set[str] = set()
        real_rotate = crypto.rotate

        def failing_rotate(blob, aad, **kw):
            rows_seen.add(aad.decode().rsplit("/", 1)[1])
            if len(rows_seen) > 2:  # the second batch of two
                raise RuntimeError("power cut")
            return real_rotate(blob, aad, **kw)

        monkeypatch.setattr(crypto, "rotate", failing_rotate)
        runner = app.test_cli_runner()
        result = runner.invoke(args=["keys", "rotate", "--batch-size", "2"])
        assert isinstance(result.exception, RuntimeError)
        assert sorted(_key_ids(app)) == ["test1"] * 3 + ["test2"] * 2  # one batch done
        api = login_api(app, cw)
        for sid, name in zip(ids, names, strict=True):
            shown = api.get(f"/api/v1/survivors/{sid}").json
            assert (shown["first_name"], shown["narrative"]) == (name, f"Story {name}")

        monkeypatch.setattr(crypto, "rotate", real_rotate)
        result = runner.invoke(args=["keys", "rotate", "--batch-size", "2"])
        assert result.exit_code == 0, result.output
        assert "3 row(s) re-encrypted under 'test2'" in result.output
        with app.app_context():
            assert encryption.under_old_keys(db.session, db.metadata) == 0
            assert db.session.scalar(select(AuditEvent.id)
                                     .where(AuditEvent.action == "keys.rotated")) is not None
        # The old key can now leave the ring: everything still reads.
        app.config["DATA_KEYS"] = json.dumps({"test2": NEW_KEY})
        for sid, name in zip(ids, names, strict=True):
            assert api.get(f"/api/v1/survivors/{sid}").json["first_name"] == name
        again = runner.invoke(args=["keys", "rotate"])
        assert again.exit_code == 0 and "0 row(s) re-encrypted" in again.output
    finally:
        app.config["DATA_KEYS"] = old


def test_rotation_covers_mfa_secrets(app, make, two_keys):
    user = make.user("supervisor")
    with app.app_context():
        from casework.auth.mfa import secret_of
        from casework.auth.models import User

        row = db.session.get(User, user.id)
        row.mfa_secret = crypto.encrypt(b"JBSWY3DPEHPK3PXP", crypto.aad("users", "mfa_secret",
                                                                        user.id))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        row = db.session.get(User, user.id)
        assert crypto.key_id_of(row.mfa_secret) == "test2"
        assert secret_of(row) == "JBSWY3DPEHPK3PXP"


def test_rotate_refuses_a_bad_batch_size(app):
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--batch-size", "0"])
    assert result.exit_code != 0 and "batch-size" in result.output


# --- search-before-create ------------------------------------------------------------------------

SPELLINGS = [
    {"first_name": "Thi Lan", "last_name": "Nguyen"},
    {"first_name": "Thị Lan", "last_name": "Nguyễn"},
    {"first_name": "Lan", "last_name": "Ngyuen"},
]


def test_normalisation_folds_marks_case_and_vietnamese_letters():
    assert normalise("  Nguyễn   THỊ  Lan ") == "nguyen thi lan"
    assert normalise("Đặng") == "dang"


@pytest.mark.parametrize("stored", range(3))
def test_the_three_spellings_find_each_other(app, make, stored):
    cw = make.user("caseworker")
    sid = make.survivor(cw, **SPELLINGS[stored])
    make.survivor(cw, first_name="Maria", last_name="Santos")
    api = login_api(app, cw)
    for searched in SPELLINGS:
        response = api.post("/api/v1/survivors/duplicates", json=searched)
        assert response.status_code == 200, response.text
        assert [m["id"] for m in response.json["matches"]] == [str(sid)], searched
        assert response.json["other_matches"] == 0
    by_get = api.get("/api/v1/survivors/matches?first_name=Lan&last_name=Ngyuen")
    assert [m["id"] for m in by_get.json["matches"]] == [str(sid)]
    other = api.post("/api/v1/survivors/duplicates",
                     json={"first_name": "Joanna", "last_name": "Kowalska"})
    assert other.json == {"matches": [], "other_matches": 0}


def test_phone_or_birth_date_with_a_similar_name_match(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, first_name="Aye", last_name="Chan", phone="+95 9 123 456 789",
                        date_of_birth=date(2001, 2, 3))
    api = login_api(app, cw)
    by_phone = api.post("/api/v1/survivors/duplicates", json={"phone": "09-123-456-789"})
    assert [m["id"] for m in by_phone.json["matches"]] == [str(sid)]
    by_dob = api.post("/api/v1/survivors/duplicates",
                      json={"first_name": "Aye", "date_of_birth": "2001-02-03"})
    assert [m["id"] for m in by_dob.json["matches"]] == [str(sid)]
    dob_only = api.post("/api/v1/survivors/duplicates", json={"date_of_birth": "2001-02-03"})
    assert dob_only.json["matches"] == []


def test_more_in_common_ranks_first_and_one_name_part_alone_is_no_match(app, make):
    cw = make.user("caseworker")
    closest = make.survivor(cw, first_name="Thi Lan", last_name="Nguyen",
                            date_of_birth=date(1998, 7, 14))
    near = make.survivor(cw, first_name="Thi Hoa", last_name="Nguyen",
                         date_of_birth=date(1990, 1, 1))
    make.survivor(cw, first_name="Lan", last_name="Okafor", date_of_birth=date(1985, 3, 3))
    api = login_api(app, cw)
    response = api.post("/api/v1/survivors/duplicates",
                        json={"first_name": "Thi Lan", "last_name": "Nguyen",
                              "date_of_birth": "1998-07-14"})
    # All name parts and the birth date first; two of three parts alike next; one part
    # ("Lan") with another birth date is not a match.
    assert [m["id"] for m in response.json["matches"]] == [str(closest), str(near)]


def test_matches_outside_the_scope_are_only_counted(app, make):
    mine = make.user("caseworker", team="North")
    theirs = make.user("caseworker", team="South")
    make.survivor(theirs, **SPELLINGS[0])
    response = login_api(app, mine).post("/api/v1/survivors/duplicates", json=SPELLINGS[2])
    assert response.json == {"matches": [], "other_matches": 1}
    page = login_web(app, mine)
    form = page.get("/survivors/new")
    assert 'action="/survivors/new/check"' in form.text
    checked = page.post_form("/survivors/new/check", SPELLINGS[2], page="/survivors/new")
    assert checked.status_code == 200
    assert "A possible match exists; ask your supervisor." in checked.text
    assert "Thi Lan" not in checked.text and "CW-" not in checked.text


def test_page_flow_shows_readable_matches_then_the_filled_form(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, **SPELLINGS[1])
    with app.app_context():
        case_number = db.session.get(Survivor, sid).case_number
    page = login_web(app, cw)
    checked = page.post_form("/survivors/new/check", {**SPELLINGS[2], "phone": ""},
                             page="/survivors/new")
    assert checked.status_code == 200
    assert case_number in checked.text and "Nguyễn" in checked.text
    assert "ask your supervisor" not in checked.text
    filled = page.post_form("/survivors/new", {"step": "prefill", **SPELLINGS[2]},
                            page="/survivors/new")
    assert filled.status_code == 200
    assert 'name="narrative"' in filled.text and 'value="Ngyuen"' in filled.text
    with app.app_context():
        assert db.session.query(Survivor).count() == 1  # nothing was registered yet


def test_duplicate_search_is_audited_without_the_values(app, make):
    cw = make.user("caseworker")
    login_api(app, cw).post("/api/v1/survivors/duplicates",
                            json={"first_name": CANARY_FIRST, "phone": CANARY_PHONE})
    with app.app_context():
        event = db.session.scalars(select(AuditEvent)
                                   .where(AuditEvent.action == "survivor.duplicate_search")).one()
        # The columns that carry words (ids and hashes are random hex: a digit run like
        # the phone's may turn up in them by chance).
        stored = json.dumps({name: str(getattr(event, name)) for name in
                             ("action", "subject_type", "fields", "reason", "channel")})
    assert CANARY_FIRST not in stored and CANARY_PHONE not in stored and "913" not in stored
    assert "first_name" in stored and "phone" in stored


@pytest.mark.parametrize("body", [
    {"date_of_birth": "not a date"},
    {"first_name": "x" * 500},
    {"narrative": "not a search field"},
    {"phone": "call me"},
    {"first_name": "Nul\x00l"},
])
def test_bad_duplicate_searches_are_refused_clearly(app, make, body):
    cw = make.user("caseworker")
    api = login_api(app, cw)
    response = api.post("/api/v1/survivors/duplicates", json=body)
    assert response.status_code == 422, response.text
    assert set(response.json["errors"]) == set(body)
    with app.app_context():
        assert db.session.query(Survivor).count() == 0
        assert db.session.query(SurvivorSearchKey).count() == 0


def test_only_caseworkers_search_before_create(app, make):
    supervisor = make.user("supervisor")
    response = login_api(app, supervisor).post("/api/v1/survivors/duplicates",
                                               json=SPELLINGS[0])
    assert response.status_code == 403


def test_search_keys_hold_no_plaintext_and_follow_changes(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, first_name=CANARY_FIRST, last_name=CANARY_LAST, phone=CANARY_PHONE)
    with app.app_context():
        keys = db.session.execute(select(SurvivorSearchKey.kind, SurvivorSearchKey.digest)
                                  .where(SurvivorSearchKey.survivor_id == sid)).all()
    assert {kind for kind, _d in keys} == {"name", "phon", "dob", "phone"}
    assert all(len(d) == 16 for _k, d in keys)
    blob = b"".join(d for _k, d in keys)
    for canary in (CANARY_FIRST, CANARY_LAST, "913577"):
        assert canary.encode() not in blob and canary.lower().encode() not in blob
    api = login_api(app, cw)
    assert api.patch(f"/api/v1/survivors/{sid}", json={"last_name": "Okonkwo"}).status_code == 200
    found = api.post("/api/v1/survivors/duplicates",
                     json={"first_name": CANARY_FIRST, "last_name": "Okonkwo"}).json
    assert [m["id"] for m in found["matches"]] == [str(sid)]
    gone = api.post("/api/v1/survivors/duplicates",
                    json={"first_name": "Someone", "last_name": CANARY_LAST}).json
    assert gone["matches"] == []


def test_reindex_command_rebuilds_search_keys(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw, **SPELLINGS[0])
    with app.app_context():
        db.session.query(SurvivorSearchKey).delete()
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["keys", "reindex"])
    assert result.exit_code == 0, result.output
    found = login_api(app, cw).post("/api/v1/survivors/duplicates", json=SPELLINGS[2]).json
    assert [m["id"] for m in found["matches"]] == [str(sid)]


def test_bulk_rows_without_names_stay_null(app, make):
    cw = make.user("caseworker")
    sid = uuid.uuid4()
    with app.app_context():
        db.session.execute(Survivor.__table__.insert().values(
            id=sid, case_number="CW-2026-999999", status="Active", lead_caseworker_id=cw.id,
            intake_date=date(2026, 1, 1)))
        db.session.commit()
        survivor = db.session.get(Survivor, sid)
        assert survivor.first_name is None and survivor.date_of_birth is None


def test_rotation_reencrypts_append_only_consents_which_stay_append_only(app, make, two_keys):
    from casework.consent.models import Consent
    from tests.test_consent import grant_body, make_partner

    cw = make.user("caseworker")
    sid = make.survivor(cw)
    pid = make_partner(app)
    api = login_api(app, cw)
    created = api.post(f"/api/v1/survivors/{sid}/consents",
                       json=grant_body(pid, interpreter="Ravindra Interp", notes="Said yes."))
    assert created.status_code == 201, created.text
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    table = Consent.__table__
    with app.app_context():
        row = db.session.execute(select(table)).mappings().one()
        assert crypto.key_id_of(row["notes"]) == "test2"
        assert encryption.decrypt_row(table, row)["interpreter"] == "Ravindra Interp"
        db.session.rollback()
        refused = ["UPDATE consents SET notes = NULL", "UPDATE consents SET status = 'refused'"]
        if ENGINE == "sqlite":  # PostgreSQL's column is bytea: 'x' would be a (bad) blob
            refused.append("UPDATE consents SET notes = 'x'")
        for statement in refused:
            with pytest.raises(Exception, match="append-only"):
                with db.engine.begin() as conn:
                    conn.execute(text(statement))
    listed = api.get(f"/api/v1/survivors/{sid}/consents").json["items"]
    assert [c.get("notes") for c in listed] == ["Said yes."]
