"""Bad input, field by field, through the JSON API and the HTML forms.

Every refusal must be a clear 4xx — problem+json naming the field for the API, an error
next to the field for the forms — never a 500, and it must leave the database as it was.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text

from casework import access
from casework.access.models import BreakGlassGrant
from casework.auth.models import User
from casework.auth.service import deactivate_user
from casework.extensions import db
from casework.survivors.models import Survivor
from tests.conftest import PASSWORD, ApiClient, WebClient, csrf_from, login_api, login_web

KB10 = 10 * 1024
TOMORROW = (date.today() + timedelta(days=1)).isoformat()

# Every field a caseworker may write, by the kind of value it takes.
TEXT_LIMITS = {"first_name": 100, "last_name": 100, "known_as": 100, "phone": 40,
               "email": 254, "address": 500, "narrative": 20000, "risk_notes": 5000}
VOCAB_FIELDS = ["status", "referral_source", "gender", "primary_language",
                "trafficking_status", "risk_level"]
LIST_FIELDS = ["citizenship", "exploitation_types", "recruitment_methods",
               "recruitment_platforms", "countries_of_exploitation"]
DATE_FIELDS = ["intake_date", "date_of_birth"]
USER_FIELDS = ["lead_caseworker_id", "collaborator_ids"]
PROGRAMME_FIELDS = ["programme_ids"]
TEXT_FIELDS = list(TEXT_LIMITS)
ALL_FIELDS = (TEXT_FIELDS + VOCAB_FIELDS + LIST_FIELDS + DATE_FIELDS + USER_FIELDS
              + PROGRAMME_FIELDS)
READ_ONLY_FIELDS = ["id", "case_number", "closed_at", "closure_reason", "age_band",
                    "created_at", "updated_at"]

CONTROL_STRINGS = ["a\x00b", "\x00", "bell\x07", "esc\x1b[31m", "del\x7f", "form\x0cfeed",
                   "lone \ud800 surrogate"]
WRONG_TYPES = [5, 0, -1.5, True, False, {"value": "x"}, ["x"], []]


def oversize(field: str) -> str:
    """At least 10 kB, and always over the field's limit."""
    return "x" * max(KB10, TEXT_LIMITS.get(field, 0) + 1)


def b64(value) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- fixtures and helpers --------------------------------------------------------------------------


@pytest.fixture
def case(app, make):
    """A North-team case: lead caseworker, counsellor collaborator, and people around it."""
    cw = make.user("caseworker", team="North")
    inactive = make.user("caseworker", team="North")
    with app.test_request_context("/"):
        deactivate_user(db.session.get(User, inactive.id))
        db.session.commit()
    ns = SimpleNamespace(
        cw=cw,
        cw2=make.user("caseworker", team="North"),
        counsellor=make.user("counsellor", team="North"),
        supervisor=make.user("supervisor", team="North"),
        admin=make.user("admin"),
        outsider=make.user("caseworker", team="South"),
        inactive=inactive,
    )
    ns.sid = make.survivor(cw, collaborator_ids=[ns.counsellor.id], known_as="Lotus",
                           citizenship=["VN"], phone="+44 20 7946 0000")
    return ns


def db_state(app) -> dict:
    """Every row a survivor write can touch, as comparable text."""
    tables = ["survivors", "survivor_collaborators", "survivor_programmes", "case_number_counters",
              "break_glass_grants", "teams"]
    state = {}
    with app.app_context():
        for table in tables:
            rows = db.session.execute(text(f'SELECT * FROM "{table}"')).all()
            state[table] = sorted(repr(tuple(row)) for row in rows)
        users = db.session.execute(
            select(User.username, User.role, User.active, User.password_hash,
                   User.display_name, User.team_id)).all()
        state["users"] = sorted(repr(tuple(row)) for row in users)
    return state


def survivor_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Survivor))


def problem(response, statuses=(400, 422), field: str | None = None) -> dict:
    """Assert a problem+json refusal; with ``field``, that its errors name it."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    assert response.status_code in statuses, (response.status_code,
                                              response.get_data(as_text=True)[:400])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json()
    assert body["status"] == response.status_code
    for key in ("type", "title", "detail"):
        assert isinstance(body.get(key), str) and body[key], body
    if field is not None:
        if response.status_code in (400, 422):
            assert field in body.get("errors", {}), body
            assert all(isinstance(m, str) and m for m in body["errors"][field])
        elif response.status_code == 403:
            assert field in body.get("fields", []), body
    return body


def show(value) -> str:
    text_ = repr(value)
    return text_ if len(text_) < 60 else text_[:57] + "..."


def raw(client: ApiClient, method: str, url: str, body: bytes,
        content_type: str | None = "application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return client.client.open(url, method=method, data=body,
                              headers=client._headers(headers))


ANY_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def token_of(web: WebClient, page: str) -> str:
    html = web.get(page).text
    match = ANY_CSRF.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def field_error_shown(html: str, field: str) -> bool:
    return f'id="{field}-error"' in html


# --- bad values per field, for the API -------------------------------------------------------------


def api_bad_values(field: str, c) -> list:
    """Values that must be refused for ``field`` (``c``: the case fixture)."""
    if field in TEXT_LIMITS:
        values = [*WRONG_TYPES, oversize(field), *CONTROL_STRINGS]
        if field == "email":
            values += ["not-an-email", "a@b", "two@@example.org"]
        if field == "phone":
            values += ["call me maybe", "+", "12"]
        return values
    if field in VOCAB_FIELDS:
        values = [*WRONG_TYPES, oversize(field), *CONTROL_STRINGS, "NotAValue", "ACTIVE?",
                  "<script>alert(1)</script>"]
        if field == "status":
            values += [None, "", "   ", "Closed", "ClosedReferred"]
        return values
    if field in LIST_FIELDS:
        return ["VN", 5, True, {"VN": True}, [5], [None], [["VN"]], [{"code": "VN"}],
                ["Not-A-Value"], [oversize(field)], ["V\x00N"], ["\ud800"]]
    if field in DATE_FIELDS:
        values = [5, 20200101, True, {"year": 2020}, ["2020-01-01"], "2026-02-30",
                  "31/12/2020", "12/31/2020", "99999-01-01", "2020-13-01", "2020-1-1",
                  "2020-01-01T00:00:00", "1 January 2020", TOMORROW, "2999-01-01",
                  "1899-12-31", "0001-01-01", oversize(field), "2020-01-01\x00",
                  "\ud800"]
        if field == "intake_date":
            values += [None, ""]
        return values
    if field == "lead_caseworker_id":
        return [5, True, {"id": str(c.cw2.id)}, [str(c.cw2.id)], None, "", "not-a-uuid",
                str(c.cw2.id) + "x", str(uuid.uuid4()), str(c.counsellor.id),
                str(c.supervisor.id), str(c.admin.id), str(c.inactive.id), oversize(field),
                "\x00"]
    if field == "collaborator_ids":
        return [str(c.cw2.id), 5, True, {"ids": [str(c.cw2.id)]}, ["not-a-uuid"],
                [str(uuid.uuid4())], [str(c.supervisor.id)], [str(c.admin.id)],
                [str(c.inactive.id)], [5], [None], [True], [{"id": str(c.cw2.id)}],
                [[str(c.cw2.id)]], [oversize(field)], ["\x00"], [str(c.cw2.id), "nope"]]
    if field == "programme_ids":
        return [str(uuid.uuid4()), 5, True, {"ids": []}, ["not-a-uuid"], [str(uuid.uuid4())],
                [str(c.cw2.id)], [5], [None], [True], [{"id": str(uuid.uuid4())}],
                [[str(uuid.uuid4())]], [oversize(field)], ["\x00"], ["\ud800"]]
    raise AssertionError(field)


def test_every_writable_field_is_covered(app, case):
    with app.test_request_context("/"):
        cw = db.session.get(User, case.cw.id)
        survivor = db.session.get(Survivor, case.sid)
        assert access.writable_fields(cw, survivor) == set(ALL_FIELDS)
        assert access.writable_fields(cw, Survivor) == set(ALL_FIELDS)
    assert len(set(ALL_FIELDS)) == len(ALL_FIELDS)


@pytest.mark.parametrize("field", ALL_FIELDS)
def test_api_update_refuses_bad_values(app, case, field):
    api = login_api(app, case.cw)
    before = db_state(app)
    for value in api_bad_values(field, case):
        response = api.patch(f"/api/v1/survivors/{case.sid}", json={field: value})
        assert response.status_code == 422, (show(value), response.get_data(as_text=True)[:300])
        problem(response, 422, field)
        # Refused whole: a valid field sent alongside is not applied either.
        response = api.patch(f"/api/v1/survivors/{case.sid}",
                             json={"known_as": "Changed", field: value})
        problem(response, 422, field)
        assert db_state(app) == before, show(value)
    assert api.get(f"/api/v1/survivors/{case.sid}").json["known_as"] == "Lotus"


@pytest.mark.parametrize("field", ALL_FIELDS)
def test_api_create_refuses_bad_values(app, case, field):
    api = login_api(app, case.cw)
    count = survivor_count(app)
    before = db_state(app)
    for value in api_bad_values(field, case):
        response = api.post("/api/v1/survivors", json={"first_name": "New", field: value})
        assert response.status_code == 422, (show(value), response.get_data(as_text=True)[:300])
        problem(response, 422, field)
        assert survivor_count(app) == count, show(value)
    assert db_state(app) == before


def test_api_error_echoes_no_oversize_value(app, case):
    api = login_api(app, case.cw)
    body = problem(api.patch(f"/api/v1/survivors/{case.sid}", json={"gender": "G" * KB10}),
                   422, "gender")
    assert len(json.dumps(body)) < 1000


@pytest.mark.parametrize("field", list(TEXT_LIMITS))
def test_api_text_at_its_limit_is_kept_intact(app, case, field):
    """The boundary: exactly the limit is accepted and stored unchanged."""
    api = login_api(app, case.cw)
    value = {"email": "a" * 240 + "@example.org", "phone": "+" + "1" * 39}.get(
        field, "y" * TEXT_LIMITS[field])
    assert len(value) <= TEXT_LIMITS[field]
    response = api.patch(f"/api/v1/survivors/{case.sid}", json={field: value})
    assert response.status_code == 200, response.json
    assert api.get(f"/api/v1/survivors/{case.sid}").json[field] == value


def test_api_keeps_tabs_newlines_and_non_latin_text(app, case):
    api = login_api(app, case.cw)
    narrative = "Line one\n\tLine two\r\nعربى — Tiếng Việt — 日本語 — 🙂"
    response = api.patch(f"/api/v1/survivors/{case.sid}", json={"narrative": narrative})
    assert response.status_code == 200
    assert api.get(f"/api/v1/survivors/{case.sid}").json["narrative"] == narrative.strip()


@pytest.mark.parametrize("name", [
    "bogus", "FIRST_NAME", "first_name ", "firstName", "", "\x00", "__class__",
    "collaborators", "lead_caseworker", "survivor.first_name", "x" * KB10,
])
def test_api_refuses_unknown_field_names(app, case, name):
    api = login_api(app, case.cw)
    before = db_state(app)
    count = survivor_count(app)
    for response in (
        api.patch(f"/api/v1/survivors/{case.sid}", json={name: "x", "known_as": "Changed"}),
        api.post("/api/v1/survivors", json={name: "x", "known_as": "New"}),
    ):
        problem(response, 422, name)
    assert db_state(app) == before
    assert survivor_count(app) == count


@pytest.mark.parametrize("name", READ_ONLY_FIELDS)
def test_api_refuses_read_only_fields(app, case, name):
    api = login_api(app, case.cw)
    before = db_state(app)
    count = survivor_count(app)
    for value in ("x", None, str(uuid.uuid4()), "2020-01-01T00:00:00Z"):
        problem(api.patch(f"/api/v1/survivors/{case.sid}", json={name: value}), 403, name)
        problem(api.post("/api/v1/survivors", json={name: value}), 403, name)
    assert db_state(app) == before
    assert survivor_count(app) == count


NON_OBJECT_BODIES = [
    (b"[]", "application/json"),
    (b'[{"first_name": "x"}]', "application/json"),
    (b'"x"', "application/json"),
    (b"null", "application/json"),
    (b"5", "application/json"),
    (b"true", "application/json"),
    (b"", "application/json"),
    (b"\xff\xfe", "application/json"),
    (b'\xff\xfe{\x00"\x00}\x00', "application/json"),
    (b'{"first_name": "\xff\xfe"}', "application/json"),
    (b"{", "application/json"),
    (b'{"first_name": "x"', "application/json"),
    (b"{'first_name': 'x'}", "application/json"),
    (b'{"first_name": NaN, }', "application/json"),
    (b'{"first_name": "x"}', "text/plain"),
    (b'{"first_name": "x"}', None),
    (b"first_name=x", "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize(("body", "content_type"), NON_OBJECT_BODIES,
                         ids=[show(b) + f"-{t}" for b, t in NON_OBJECT_BODIES])
def test_api_refuses_bodies_that_are_not_json_objects(app, case, body, content_type):
    api = login_api(app, case.cw)
    supervisor = login_api(app, case.supervisor)
    before = db_state(app)
    count = survivor_count(app)
    responses = [
        raw(api, "POST", "/api/v1/survivors", body, content_type),
        raw(api, "PATCH", f"/api/v1/survivors/{case.sid}", body, content_type),
        raw(api, "POST", f"/api/v1/survivors/{case.sid}/close", body, content_type),
        raw(supervisor, "POST", f"/api/v1/survivors/{case.sid}/break-glass", body,
            content_type),
        raw(ApiClient(app), "POST", "/api/v1/auth/token", body, content_type),
    ]
    for response in responses:
        problem(response, (400, 422))
    assert db_state(app) == before
    assert survivor_count(app) == count


def test_api_broken_utf8_says_so(app, case):
    api = login_api(app, case.cw)
    body = problem(raw(api, "PATCH", f"/api/v1/survivors/{case.sid}", b"\xff\xfe"), 400)
    assert "JSON" in body["detail"]
    body = problem(raw(api, "POST", f"/api/v1/survivors/{case.sid}/close", b"\xff\xfe"), 400)
    assert "JSON" in body["detail"]


def test_api_deeply_nested_values_are_refused(app, case):
    api = login_api(app, case.cw)
    before = db_state(app)
    nested: list = ["VN"]
    for _ in range(50):
        nested = [nested]
    problem(api.patch(f"/api/v1/survivors/{case.sid}",
                      json={"first_name": {"a": {"b": {"c": "x"}}}}), 422, "first_name")
    for payload in ({"citizenship": nested}, {"collaborator_ids": nested}):
        # Deeper than any API body nests: refused before parsing.
        response = api.patch(f"/api/v1/survivors/{case.sid}", json=payload)
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
    assert db_state(app) == before


# --- close and break-glass (API) -------------------------------------------------------------------


CLOSE_BAD = [
    ({}, "reason"),
    ({"reason": ""}, "reason"),
    ({"reason": "   "}, "reason"),
    ({"reason": None}, "reason"),
    ({"reason": 5}, "reason"),
    ({"reason": ["moved"]}, "reason"),
    ({"reason": {"text": "moved"}}, "reason"),
    ({"reason": True}, "reason"),
    ({"reason": "x" * KB10}, "reason"),
    ({"reason": "moved\x00away"}, "reason"),
    ({"reason": "moved\x1baway"}, "reason"),
    ({"reason": "moved \ud800"}, "reason"),
    ({"reason": "Moved", "status": "Active"}, "status"),
    ({"reason": "Moved", "status": "closed"}, "status"),
    ({"reason": "Moved", "status": 5}, "status"),
    ({"reason": "Moved", "status": None}, "status"),
    ({"reason": "Moved", "bogus": 1}, "bogus"),
]


@pytest.mark.parametrize(("payload", "field"), CLOSE_BAD, ids=[show(p) for p, _ in CLOSE_BAD])
def test_api_close_refuses_bad_input(app, case, payload, field):
    api = login_api(app, case.cw)
    before = db_state(app)
    problem(api.post(f"/api/v1/survivors/{case.sid}/close", json=payload), (400, 422), field)
    assert db_state(app) == before


BREAK_GLASS_BAD = [{}, {"reason": ""}, {"reason": "too short"}, {"reason": " " * 20 + "x"},
                   {"reason": None}, {"reason": 12345678901}, {"reason": ["a long reason here"]},
                   {"reason": {"why": "a long reason here"}}, {"reason": "x" * KB10},
                   {"reason": "a long reason\x00here"}, {"reason": "a long reason \ud800 here"}]


@pytest.mark.parametrize("payload", BREAK_GLASS_BAD, ids=[show(p) for p in BREAK_GLASS_BAD])
def test_api_break_glass_refuses_bad_reasons(app, case, payload):
    api = login_api(app, case.supervisor)
    before = db_state(app)
    problem(api.post(f"/api/v1/survivors/{case.sid}/break-glass", json=payload), (400, 422),
            "reason")
    assert db_state(app) == before
    # Still no identifying details for the supervisor.
    assert "first_name" not in api.get(f"/api/v1/survivors/{case.sid}").json


TOKEN_BAD = [
    ({}, "username"),
    ({"username": "x"}, "password"),
    ({"username": 5, "password": "x"}, "username"),
    ({"username": ["a"], "password": "x"}, "username"),
    ({"username": "a", "password": {"p": 1}}, "password"),
    ({"username": "a", "password": True}, "password"),
    ({"username": "", "password": "x"}, "username"),
    ({"username": "x" * KB10, "password": "x"}, "username"),
    ({"username": "a", "password": "x" * KB10}, "password"),
    ({"username": "a", "password": "x", "remember": True}, "remember"),
]


@pytest.mark.parametrize(("payload", "field"), TOKEN_BAD, ids=[show(p) for p, _ in TOKEN_BAD])
def test_api_token_refuses_bad_input(app, case, payload, field):
    problem(ApiClient(app).post("/api/v1/auth/token", json=payload), 422, field)


@pytest.mark.parametrize("username", ["a\x00b", "\x00", "esc\x1b", "\ud800", "a\nb"])
def test_api_token_with_control_characters_is_just_wrong(app, case, username):
    response = ApiClient(app).post("/api/v1/auth/token",
                                   json={"username": username, "password": PASSWORD})
    problem(response, 401)


@pytest.mark.parametrize("password", ["\x00", "pass\x00word", "\ud800", PASSWORD + "\x00"])
def test_api_token_with_odd_passwords_is_just_wrong(app, case, password):
    response = ApiClient(app).post("/api/v1/auth/token",
                                   json={"username": case.cw.username, "password": password})
    problem(response, 401)


# --- URLs ------------------------------------------------------------------------------------------

BAD_IDS = ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g",
           "{sid}x", "x{sid}", "{sid}-0", "%00", "%FF%FE", "..%2F..", "null",
           "' OR 1=1 --", "x" * 300]


def _bad_ids(sid):
    return [b.format(sid=sid) for b in BAD_IDS] + [str(uuid.uuid4())]


def test_api_bad_ids_in_urls_are_404(app, case):
    api = login_api(app, case.cw)
    supervisor = login_api(app, case.supervisor)
    before = db_state(app)
    for bad in _bad_ids(case.sid):
        for client, method, url, body in (
            (api, "GET", f"/api/v1/survivors/{bad}", None),
            (api, "PATCH", f"/api/v1/survivors/{bad}", {"known_as": "x"}),
            (api, "POST", f"/api/v1/survivors/{bad}/close", {"reason": "moved"}),
            (supervisor, "POST", f"/api/v1/survivors/{bad}/break-glass",
             {"reason": "a long enough reason"}),
            (api, "GET", f"/api/v1/survivors/{bad}/access-log", None),
        ):
            response = client.client.open(url, method=method, json=body,
                                          headers=client._headers())
            problem(response, 404)
    assert db_state(app) == before


def test_web_bad_ids_in_urls_are_404(app, case):
    web = login_web(app, case.cw)
    supervisor = login_web(app, case.supervisor)
    token = token_of(web, "/survivors/")
    sup_token = token_of(supervisor, "/survivors/")
    before = db_state(app)
    for bad in _bad_ids(case.sid):
        for response in (
            web.get(f"/survivors/{bad}"),
            web.get(f"/survivors/{bad}/edit"),
            web.client.post(f"/survivors/{bad}/edit",
                            data={"csrf_token": token, "known_as": "x"}),
            web.get(f"/survivors/{bad}/close"),
            web.client.post(f"/survivors/{bad}/close",
                            data={"csrf_token": token, "reason": "moved", "status": "Closed"}),
            supervisor.client.post(f"/survivors/{bad}/break-glass",
                                   data={"csrf_token": sup_token,
                                         "reason": "a long enough reason"}),
        ):
            assert response.status_code == 404, (bad, response.status_code)
            assert response.mimetype == "text/html"
    assert db_state(app) == before


def test_bad_uuids_in_user_admin_urls_are_404(app, case):
    web = login_web(app, case.admin)
    token = token_of(web, "/admin/users")
    before = db_state(app)
    for bad in _bad_ids(case.sid):
        response = web.client.post(f"/admin/users/{bad}/deactivate", data={"csrf_token": token})
        assert response.status_code == 404, bad
    assert db_state(app) == before


# --- list parameters ----------------------------------------------------------------------------

# Fixed, so every pytest-xdist worker collects the same test ids.
UNKNOWN_ID = "5f0c2d1e-8a7b-4c3d-9e2f-0a1b2c3d4e5f"

BAD_LIMITS = ["abc", "0", "-1", "201", "1.5", "", "1e2", "0x10", "99999999999999999999999",
              "%00", "1;DROP TABLE survivors", "5 5", "NaN", "x" * KB10]
BAD_CURSORS = [
    "zzz", "!!!", "%00", "%FF", "a" * 201, "x" * KB10, "=====",
    b64(["2026-01-01"]), b64([1, 2]), b64({"a": 1}), b64("ab"), b64(5), b64(None),
    b64(["not-a-date", UNKNOWN_ID]), b64(["2026-01-01", "not-a-uuid"]),
    b64(["2026-02-30", UNKNOWN_ID]), b64(["2026-01-01T00:00:00", UNKNOWN_ID]),
    b64(["2026-01-01", UNKNOWN_ID, "extra"]), b64(b"\xff\xfe\xfd"),
    b64(["2026-01-01\x00", UNKNOWN_ID]),
]


@pytest.mark.parametrize("limit", BAD_LIMITS, ids=[show(v) for v in BAD_LIMITS])
def test_api_list_refuses_bad_limit(app, case, limit):
    api = login_api(app, case.cw)
    problem(api.get("/api/v1/survivors", query_string={"limit": limit}), 422, "limit")


@pytest.mark.parametrize("cursor", BAD_CURSORS, ids=[show(v) for v in BAD_CURSORS])
def test_api_list_refuses_bad_cursor(app, case, cursor):
    api = login_api(app, case.cw)
    problem(api.get("/api/v1/survivors", query_string={"cursor": cursor}), (400, 422),
            "cursor")


@pytest.mark.parametrize(("name", "value"), [
    ("status", "Nope"), ("status", "active"), ("status", "\x00"), ("status", "x" * KB10),
    ("risk_level", "extreme"), ("risk_level", "HIGH"), ("risk_level", "\x00"),
    ("case_number", "x" * 17), ("case_number", "x" * KB10),
])
def test_api_list_refuses_bad_filters(app, case, name, value):
    api = login_api(app, case.cw)
    problem(api.get("/api/v1/survivors", query_string={name: value}), 422, name)


@pytest.mark.parametrize("term", ["CW\x00", "\x00", "%", "_", "\\", "' OR 1=1 --", "\x1b"])
def test_odd_case_number_searches_find_nothing_without_error(app, case, term):
    api = login_api(app, case.cw)
    response = api.get("/api/v1/survivors", query_string={"case_number": term})
    if response.status_code == 200:
        assert response.json["items"] == []
    else:
        problem(response, 422, "case_number")
    page = login_web(app, case.cw).get("/survivors/", query_string={"q": term})
    assert page.status_code in (200, 400)


def test_list_paging_with_a_valid_cursor_still_works(app, case, make):
    for _ in range(2):
        make.survivor(case.cw)
    api = login_api(app, case.cw)
    first = api.get("/api/v1/survivors?limit=2").json
    assert first["next_cursor"]
    second = api.get("/api/v1/survivors", query_string={"limit": 2,
                                                         "cursor": first["next_cursor"]}).json
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 3


@pytest.mark.parametrize("query", [
    {"cursor": "zzz"}, {"cursor": b64([1, 2])}, {"cursor": "x" * KB10},
    {"status": "Nope"}, {"status": "\x00"}, {"risk_level": "\x00"}, {"q": "\x00"},
    {"q": "x" * KB10}, {"status": "x" * KB10},
], ids=lambda q: show(q))
def test_web_caseload_handles_bad_parameters(app, case, query):
    page = login_web(app, case.cw).get("/survivors/", query_string=query)
    assert page.status_code in (200, 400), page.status_code
    assert page.mimetype == "text/html"
    if page.status_code == 400:
        assert "That page link is not valid" in page.text


# --- HTML forms: the survivor form -----------------------------------------------------------------


def web_bad_values(field: str, c) -> list:
    """Form values (strings or lists of strings) that must be refused for ``field``."""
    control = ["a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f"]
    if field in TEXT_LIMITS:
        values = [oversize(field), *control]
        if field == "email":
            values.append("not-an-email")
        if field == "phone":
            values.append("call me maybe")
        return values
    if field in VOCAB_FIELDS:
        values = ["NotAValue", oversize(field), *control]
        if field == "status":
            values += ["Closed", ""]
        return values
    if field in LIST_FIELDS:
        return [["Not-A-Value"], ["VN", "Not-A-Value"], [oversize(field)], ["V\x00N"]]
    if field in DATE_FIELDS:
        values = ["2026-02-30", "31/12/2020", "99999-01-01", "2020-13-01", TOMORROW,
                  "2999-01-01", "1899-12-31", oversize(field), "2020-01-01\x00"]
        if field == "intake_date":
            values.append("")
        return values
    if field == "lead_caseworker_id":
        return ["not-a-uuid", str(uuid.uuid4()), str(c.counsellor.id), str(c.supervisor.id),
                str(c.outsider.id), str(c.inactive.id), "", oversize(field), "\x00"]
    if field == "collaborator_ids":
        return [["not-a-uuid"], [str(uuid.uuid4())], [str(c.supervisor.id)],
                [str(c.outsider.id)], [str(c.inactive.id)], [str(c.cw2.id), "nope"],
                [oversize(field)]]
    if field == "programme_ids":
        return [["not-a-uuid"], [str(uuid.uuid4())], [str(c.cw2.id)], [oversize(field)]]
    raise AssertionError(field)


def base_form(c) -> dict:
    return {"intake_date": "2026-01-15", "lead_caseworker_id": str(c.cw.id),
            "status": "Active", "collaborator_ids": [str(c.counsellor.id)],
            "known_as": "Lotus", "citizenship": ["VN"], "phone": "+44 20 7946 0000",
            "gender": "Feminine", "first_name": "Testa", "last_name": "Synthetic",
            "date_of_birth": "1995-05-04", "narrative": "Synthetic narrative.",
            "risk_level": "medium"}


@pytest.mark.parametrize("field", ALL_FIELDS)
def test_web_edit_form_shows_the_error_next_to_the_field(app, case, field):
    web = login_web(app, case.cw)
    url = f"/survivors/{case.sid}/edit"
    token = token_of(web, url)
    before = db_state(app)
    for value in web_bad_values(field, case):
        data = {**base_form(case), "csrf_token": token, "known_as": "Changed", field: value}
        response = web.client.post(url, data=data)
        assert response.status_code in (200, 422), (show(value), response.status_code)
        assert field_error_shown(response.text, field), (show(value), response.text[-3000:])
        assert 'class="alert alert-danger form-errors"' in response.text
        assert db_state(app) == before, show(value)


@pytest.mark.parametrize("field", ALL_FIELDS)
def test_web_new_form_shows_the_error_next_to_the_field(app, case, field):
    web = login_web(app, case.cw)
    token = token_of(web, "/survivors/new")
    count = survivor_count(app)
    before = db_state(app)
    for value in web_bad_values(field, case):
        data = {**base_form(case), "csrf_token": token, field: value}
        response = web.client.post("/survivors/new", data=data)
        assert response.status_code in (200, 422), (show(value), response.status_code)
        assert field_error_shown(response.text, field), (show(value), response.text[-3000:])
        assert survivor_count(app) == count, show(value)
    assert db_state(app) == before


def test_web_form_valid_baseline_is_accepted(app, case):
    """The baseline the form tests start from is itself valid (else they prove nothing)."""
    web = login_web(app, case.cw)
    count = survivor_count(app)
    response = web.post_form("/survivors/new", base_form(case))
    assert response.status_code == 302, response.text[-2000:]
    assert survivor_count(app) == count + 1
    response = web.post_form(f"/survivors/{case.sid}/edit",
                             {**base_form(case), "known_as": "Changed"})
    assert response.status_code == 302
    assert login_api(app, case.cw).get(f"/api/v1/survivors/{case.sid}").json["known_as"] == \
        "Changed"


def test_web_form_ignores_fields_it_does_not_have(app, case):
    """Read-only and unknown names in a crafted POST change nothing."""
    web = login_web(app, case.cw)
    before = login_api(app, case.cw).get(f"/api/v1/survivors/{case.sid}").json
    data = {**base_form(case), "case_number": "CW-1999-999999", "closed_at": "2020-01-01",
            "closure_reason": "forged", "age_band": "0-4", "id": str(uuid.uuid4()),
            "created_at": "2020-01-01", "bogus": "x", "known_as": "Lotus"}
    response = web.post_form(f"/survivors/{case.sid}/edit", data)
    assert response.status_code == 302
    after = login_api(app, case.cw).get(f"/api/v1/survivors/{case.sid}").json
    for name in ("case_number", "closed_at", "closure_reason", "age_band", "id", "created_at"):
        assert after[name] == before[name], name


def test_supervisor_form_cannot_set_fields_it_does_not_show(app, case):
    web = login_web(app, case.supervisor)
    before = db_state(app)
    data = {"intake_date": "2026-01-15", "lead_caseworker_id": str(case.cw.id),
            "status": "Active", "collaborator_ids": [str(case.counsellor.id)],
            "first_name": "Forged", "narrative": "Forged", "risk_level": "high"}
    response = web.post_form(f"/survivors/{case.sid}/edit", data)
    assert response.status_code == 302
    assert db_state(app) == before  # nothing it may write was changed, the rest ignored


@pytest.mark.parametrize("page", ["/survivors/new", "/survivors/{sid}/edit"])
@pytest.mark.parametrize("body", [b"\xff\xfe", b"first_name=\xff\xfe&intake_date=2026-01-15",
                                  b"\x00\x00\x00", b"%%%%=&&&=="])
def test_web_survivor_form_refuses_broken_bodies(app, case, page, body):
    web = login_web(app, case.cw)
    url = page.format(sid=case.sid)
    token = token_of(web, url)
    count = survivor_count(app)
    before = db_state(app)
    for payload in (body, body + b"&csrf_token=" + token.encode()):
        response = web.client.post(url, data=payload,
                                   content_type="application/x-www-form-urlencoded")
        assert 400 <= response.status_code < 500 or (
            response.status_code in (200, 422) and "form-errors" in response.text
        ), response.status_code
        assert db_state(app) == before
        assert survivor_count(app) == count


def test_web_percent_encoded_broken_utf8_does_not_crash(app, case):
    web = login_web(app, case.cw)
    url = f"/survivors/{case.sid}/edit"
    token = token_of(web, url)
    form = "&".join(f"{k}={v}" for k, v in {
        "intake_date": "2026-01-15", "lead_caseworker_id": str(case.cw.id),
        "status": "Active", "csrf_token": token}.items())
    response = web.client.post(url, data=(form + "&known_as=%FF%FE").encode(),
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500
    page = web.get(f"/survivors/{case.sid}")
    assert page.status_code == 200


# --- HTML forms: close, break-glass, login, users --------------------------------------------------

WEB_CLOSE_BAD = [
    ({"status": "Closed", "reason": ""}, "reason"),
    ({"status": "Closed", "reason": "   "}, "reason"),
    ({"status": "Closed", "reason": "x" * KB10}, "reason"),
    ({"status": "Closed", "reason": "moved\x00away"}, "reason"),
    ({"status": "Closed", "reason": "moved\x07away"}, "reason"),
    ({"status": "Active", "reason": "Moved"}, "status"),
    ({"status": "NotAValue", "reason": "Moved"}, "status"),
    ({"status": "x" * KB10, "reason": "Moved"}, "status"),
    ({"status": "", "reason": "Moved"}, "status"),
]


@pytest.mark.parametrize(("data", "field"), WEB_CLOSE_BAD, ids=[show(d) for d, _ in WEB_CLOSE_BAD])
def test_web_close_form_shows_the_error_next_to_the_field(app, case, data, field):
    web = login_web(app, case.cw)
    before = db_state(app)
    response = web.post_form(f"/survivors/{case.sid}/close", data)
    assert response.status_code in (200, 422)
    assert field_error_shown(response.text, field), response.text[-3000:]
    assert db_state(app) == before


@pytest.mark.parametrize("reason", ["", "too short", " " * 20 + "x", "x" * KB10,
                                    "a long reason\x00here", "a long reason\x1bhere"])
def test_web_break_glass_refuses_bad_reasons(app, case, reason):
    web = login_web(app, case.supervisor)
    before = db_state(app)
    response = web.post_form(f"/survivors/{case.sid}/break-glass", {"reason": reason},
                             page=f"/survivors/{case.sid}")
    assert response.status_code == 302
    page = web.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Say why you need the identifying details" in page.text
    assert db_state(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BreakGlassGrant)) == 0


@pytest.mark.parametrize(("data", "field"), [
    ({"username": "", "password": "x"}, "username"),
    ({"username": "x" * KB10, "password": "x"}, "username"),
    ({"username": "a", "password": ""}, "password"),
    ({"username": "a", "password": "x" * KB10}, "password"),
], ids=["empty-user", "long-user", "empty-password", "long-password"])
def test_web_login_form_shows_field_errors(app, case, data, field):
    web = WebClient(app)
    response = web.post_form("/login", data)
    assert response.status_code in (200, 422)
    assert field_error_shown(response.text, field)
    assert web.get("/survivors/").status_code == 302


@pytest.mark.parametrize("username", ["a\x00b", "\x00", "esc\x1b", "{cw}\x00"])
def test_web_login_with_control_characters_is_just_wrong(app, case, username):
    web = WebClient(app)
    response = web.post_form("/login", {"username": username.format(cw=case.cw.username),
                                        "password": PASSWORD})
    assert response.status_code == 200
    assert "The username, password or code is not correct." in response.text


@pytest.mark.parametrize("body", [b"\xff\xfe", b"username=\xff\xfe&password=\xff",
                                  b"\x00\x00"])
def test_web_login_refuses_broken_bodies(app, case, body):
    client = app.test_client()
    token = csrf_from(client.get("/login").text)
    for payload in (body, body + b"&csrf_token=" + token.encode()):
        response = client.post("/login", data=payload,
                               content_type="application/x-www-form-urlencoded")
        assert 400 <= response.status_code < 500 or (
            response.status_code == 200 and "form-errors" in response.text)
        assert client.get("/survivors/").status_code == 302


ADMIN_USER_BAD = [
    ({"username": "a\x00b"}, None),
    ({"username": "x" * KB10}, "username"),
    ({"username": "two words"}, None),
    ({"username": ""}, "username"),
    ({"display_name": "Name\x00"}, None),
    ({"display_name": "x" * KB10}, "display_name"),
    ({"team": "No\x00rth"}, None),
    ({"team": "x" * KB10}, "team"),
    ({"role": "god"}, "role"),
    ({"role": "donor", "team": "North"}, None),
    ({"password": "short"}, "password"),
    ({"password": "x" * KB10}, "password"),
]


@pytest.mark.parametrize(("change", "field"), ADMIN_USER_BAD,
                         ids=[show(c) for c, _ in ADMIN_USER_BAD])
def test_admin_new_user_form_refuses_bad_input(app, case, change, field):
    web = login_web(app, case.admin)
    before = db_state(app)
    data = {"username": "newperson", "display_name": "New Person", "role": "caseworker",
            "team": "North", "password": "a long enough password", **change}
    response = web.post_form("/admin/users", data)
    assert response.status_code == 422, response.status_code
    assert 'class="alert alert-danger form-errors"' in response.text
    if field:
        assert field_error_shown(response.text, field)
    assert db_state(app) == before


def test_admin_new_user_form_refuses_broken_body(app, case):
    web = login_web(app, case.admin)
    token = token_of(web, "/admin/users")
    before = db_state(app)
    response = web.client.post("/admin/users",
                               data=b"username=\xff\xfe&csrf_token=" + token.encode(),
                               content_type="application/x-www-form-urlencoded")
    assert 400 <= response.status_code < 500
    assert db_state(app) == before


@pytest.mark.parametrize("url", ["/api/v1/auth/token", "/api/v1/survivors"])
def test_deeply_nested_json_is_a_clear_400(app, url):
    body = b"[" * 100_000 + b"]" * 100_000
    response = app.test_client().post(url, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "nested too deeply" in response.json["detail"]
