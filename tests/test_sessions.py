"""Server-side sessions (database and Redis), their timeouts and endings, security headers,
and rate limits shared through Redis.

The Redis variants use the Redis at CASEWORK_TEST_REDIS_URL (default redis://127.0.0.1:6379/0)
under a key prefix of their own per test, and delete only their own keys afterwards."""

from __future__ import annotations

import base64
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from sqlalchemy import select

import config
from casework import create_app, sessions
from casework.auth.models import ApiToken
from casework.extensions import db, limiter
from tests.conftest import PASSWORD, ApiClient, WebClient, login_api, login_web

REDIS_URL = os.environ.get("CASEWORK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NEW_PASSWORD = "a brand new passphrase here"
ANY_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _redis_problem() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"Redis is not reachable at {REDIS_URL} ({exc.__class__.__name__}); the Redis " \
               "variants need a Redis server (set CASEWORK_TEST_REDIS_URL)"
    return None


@pytest.fixture
def redis_prefix(monkeypatch):
    """A key prefix of this test's own; its keys are deleted afterwards. Flask-Limiter's
    limiter is one object bound to the last app initialised: it goes back to the suite's
    in-memory storage at the end."""
    problem = _redis_problem()
    if problem:
        pytest.skip(problem)
    import redis

    for name in ("_storage", "_limiter", "_key_prefix"):
        monkeypatch.setattr(limiter, name, getattr(limiter, name))
    monkeypatch.setattr(limiter, "_storage_options", {})
    prefix = f"casework-test-{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


def make_redis_app(database_url: str, prefix: str):
    return create_app({"CONFIG": "test", "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
                       "SESSION_REDIS_PREFIX": prefix + "session:",
                       "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": prefix + "limits"}})


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(params=["database", "redis"])
def store_app(request, app, database_url):
    """The app with its sessions in the database, then with them in Redis."""
    if request.param == "database":
        yield app
        return
    prefix = request.getfixturevalue("redis_prefix")
    redis_app = make_redis_app(database_url, prefix)
    yield redis_app
    dispose(redis_app)


# --- helpers ---------------------------------------------------------------------------------------


def session_id(app, client: WebClient) -> str | None:
    cookie = client.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return cookie.value if cookie else None


def stored(app, sid: str) -> sessions.Record | None:
    with app.app_context():
        return sessions.store_for(app).load(sessions.hash_id(sid))


def backdate(app, sid: str, *, created=timedelta(0), last_seen=timedelta(0)) -> None:
    """Move the session's start and last request back in time, in the store itself."""
    with app.test_request_context("/"):
        store = sessions.store_for(app)
        record = stored(app, sid)
        record.created_at -= created
        record.last_seen_at -= last_seen
        store.update(sessions.hash_id(sid), record, datetime.now(UTC))


def redirects_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def logout(web: WebClient):
    token = ANY_CSRF.search(web.get("/survivors/").text).group(1)
    return web.client.post("/logout", data={"csrf_token": token})


def change_password(web: WebClient):
    return web.post_form("/me/password", {"current_password": PASSWORD,
                                          "new_password": NEW_PASSWORD,
                                          "new_password_again": NEW_PASSWORD})


# --- what the cookie holds ---------------------------------------------------------------------------


def test_the_cookie_holds_only_a_random_id(store_app, make):
    cw = make.user("caseworker")
    web = login_web(store_app, cw)
    sid = session_id(store_app, web)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sid)  # 32 random bytes, nothing else
    raw = base64.urlsafe_b64decode(sid + "=")
    for secret in (cw.username, str(cw.id), cw.id.hex):
        assert secret not in sid and secret.encode() not in raw
    # Not a signed Flask session either: there is nothing to verify or decode.
    signer = SecureCookieSessionInterface().get_signing_serializer(store_app)
    with pytest.raises(BadSignature):
        signer.loads(sid)
    # The data is on the server, found under the SHA-256 of the id, never the id itself.
    record = stored(store_app, sid)
    assert record is not None and record.user_id == str(cw.id)
    assert record.data["_user_id"].startswith(str(cw.id))
    with store_app.app_context():
        assert sessions.store_for(store_app).load(sid) is None
    assert web.get("/survivors/").status_code == 200


def test_the_table_stores_hashes_of_ids_only(app, make):
    web = login_web(app, make.user("caseworker"))
    sid = session_id(app, web)
    with app.app_context():
        hashes = db.session.scalars(select(sessions.ServerSessionRecord.id_hash)).all()
    assert sessions.hash_id(sid) in hashes and sid not in hashes


def test_the_api_neither_reads_nor_sets_the_cookie(app, make):
    cw = make.user("caseworker")
    web = login_web(app, cw)
    api = login_api(app, cw)
    response = api.get("/api/v1/me")
    assert response.status_code == 200
    assert not response.headers.getlist("Set-Cookie")
    # A browser session's cookie opens nothing on the API.
    anonymous = ApiClient(app)
    anonymous.client.set_cookie(app.config["SESSION_COOKIE_NAME"], session_id(app, web))
    assert anonymous.get("/api/v1/me").status_code == 401


def test_an_unknown_or_malformed_id_opens_nothing(app, make):
    make.user("caseworker")
    for value in ("made-up-session-id", "x" * 500, ""):
        client = WebClient(app)
        client.client.set_cookie(app.config["SESSION_COOKIE_NAME"], value)
        assert redirects_to_login(client.get("/survivors/"))
        # The "please log in" message lives in a new, anonymous session under a new id.
        assert session_id(app, client) not in (value, None)
    with app.app_context():
        records = db.session.scalars(select(sessions.ServerSessionRecord)).all()
        assert len(records) == 3 and all(record.user_id is None for record in records)


# --- login and logout -------------------------------------------------------------------------------


def test_an_id_from_before_login_is_dead_after_it(store_app, make):
    cw = make.user("caseworker")
    web = WebClient(store_app)
    web.get("/login")  # the login form's CSRF token lives in an anonymous session
    before = session_id(store_app, web)
    assert before and stored(store_app, before) is not None
    web.login(cw.username)
    after = session_id(store_app, web)
    assert after and after != before
    assert stored(store_app, before) is None
    # Someone who planted or saw the old id gets nothing with it.
    attacker = WebClient(store_app)
    attacker.client.set_cookie(store_app.config["SESSION_COOKIE_NAME"], before)
    assert redirects_to_login(attacker.get("/survivors/"))
    assert web.get("/survivors/").status_code == 200


def test_logout_deletes_the_record(store_app, make):
    web = login_web(store_app, make.user("caseworker"))
    sid = session_id(store_app, web)
    assert redirects_to_login(logout(web))
    assert stored(store_app, sid) is None
    assert session_id(store_app, web) != sid
    assert redirects_to_login(web.get("/survivors/"))
    # Replaying the logged-out id opens nothing either.
    replay = WebClient(store_app)
    replay.client.set_cookie(store_app.config["SESSION_COOKIE_NAME"], sid)
    assert redirects_to_login(replay.get("/survivors/"))


# --- timeouts -----------------------------------------------------------------------------------------


def test_idle_timeout_sends_the_user_to_the_login_page_saying_why(store_app, make):
    web = login_web(store_app, make.user("caseworker"))
    sid = session_id(store_app, web)
    backdate(store_app, sid, last_seen=timedelta(minutes=15, seconds=1))
    response = web.get("/survivors/")
    assert redirects_to_login(response)
    assert stored(store_app, sid) is None
    page = web.get(response.headers["Location"])
    assert "logged out after 15 minutes without activity" in page.text
    # The message is said once; a second visit shows the plain login page.
    assert "without activity" not in web.get("/login").text


def test_activity_keeps_the_session_alive(store_app, make):
    web = login_web(store_app, make.user("caseworker"))
    sid = session_id(store_app, web)
    backdate(store_app, sid, last_seen=timedelta(minutes=14))
    assert web.get("/survivors/").status_code == 200
    record = stored(store_app, sid)
    assert datetime.now(UTC) - record.last_seen_at < timedelta(seconds=30)
    assert session_id(store_app, web) == sid


def test_a_page_request_takes_one_connection_and_refreshes_its_session_in_it(app, make):
    """The database store reads and refreshes the session in the request's own transaction:
    one connection from the pool a page, not one for each edge of the request."""
    from sqlalchemy import event

    web = login_web(app, make.user("caseworker"))
    sid = session_id(app, web)
    backdate(app, sid, last_seen=timedelta(minutes=10))
    checkouts = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: checkouts.append(1)  # noqa: E731
    event.listen(engine, "checkout", listener)
    try:
        assert web.get("/survivors/").status_code == 200
    finally:
        event.remove(engine, "checkout", listener)
    assert len(checkouts) == 1
    assert datetime.now(UTC) - stored(app, sid).last_seen_at < timedelta(seconds=30)


def test_a_failed_request_still_counts_as_activity(store_app, make):
    """A request that fails (its work rolled back) still refreshes the session, afterwards."""
    web = login_web(store_app, make.user("caseworker"))
    sid = session_id(store_app, web)
    backdate(store_app, sid, last_seen=timedelta(minutes=14))
    assert web.get(f"/survivors/{uuid.uuid4()}").status_code == 404
    assert datetime.now(UTC) - stored(store_app, sid).last_seen_at < timedelta(seconds=30)
    assert web.get("/survivors/").status_code == 200


def test_the_session_ends_after_eight_hours_however_busy(store_app, make):
    web = login_web(store_app, make.user("caseworker"))
    sid = session_id(store_app, web)
    backdate(store_app, sid, created=timedelta(hours=8, seconds=1))  # last request: just now
    response = web.get("/survivors/")
    assert redirects_to_login(response)
    assert "reached its limit of 8 hours" in web.get(response.headers["Location"]).text
    assert stored(store_app, sid) is None


def test_idle_timeout_follows_the_setting(app, make, database_url):
    short = create_app({"CONFIG": "test", "DATABASE_URL": database_url,
                        "SESSION_IDLE_TIMEOUT": timedelta(minutes=5)})
    try:
        web = login_web(short, make.user("caseworker"))
        sid = session_id(short, web)
        backdate(short, sid, last_seen=timedelta(minutes=5, seconds=1))
        response = web.get("/survivors/")
        assert redirects_to_login(response)
        assert "after 5 minutes without activity" in web.get(response.headers["Location"]).text
    finally:
        dispose(short)


def test_idle_minutes_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CASEWORK_SESSION_IDLE_MINUTES", "30")
    assert config.load_config("test")["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=30)
    monkeypatch.delenv("CASEWORK_SESSION_IDLE_MINUTES")
    settings = config.load_config("test")
    assert settings["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=15)
    assert settings["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)


@pytest.mark.parametrize("value", ["fifteen", "0", "-5", "481", "1.5"])
def test_a_bad_idle_setting_stops_the_start_with_a_clear_message(monkeypatch, value):
    monkeypatch.setenv("CASEWORK_SESSION_IDLE_MINUTES", value)
    with pytest.raises(config.ConfigError, match="CASEWORK_SESSION_IDLE_MINUTES"):
        config.load_config("test")


# --- ending every session of a user ------------------------------------------------------------------


def test_a_password_change_ends_the_other_sessions_and_the_tokens(store_app, make):
    cw = make.user("caseworker")
    here = login_web(store_app, cw)
    elsewhere = login_web(store_app, cw)
    api = login_api(store_app, cw)
    here_before, elsewhere_sid = session_id(store_app, here), session_id(store_app, elsewhere)

    response = change_password(here)
    assert response.status_code == 302, response.text[:300]
    assert redirects_to_login(elsewhere.get("/survivors/"))
    assert stored(store_app, elsewhere_sid) is None
    assert api.get("/api/v1/me").status_code == 401
    # The session that changed the password goes on, under a new id.
    assert here.get("/survivors/").status_code == 200
    assert session_id(store_app, here) != here_before
    assert stored(store_app, here_before) is None


def test_deactivation_ends_a_live_session_and_token_on_the_next_request(store_app, make):
    """The acceptance line: a deactivated user's live session and token stop working on the
    next request."""
    admin = make.user("admin")
    cw = make.user("caseworker")
    victim = login_web(store_app, cw)
    api = login_api(store_app, cw)
    assert victim.get("/survivors/").status_code == 200
    assert api.get("/api/v1/survivors").status_code == 200
    victim_sid = session_id(store_app, victim)

    admin_web = login_web(store_app, admin)
    response = admin_web.post_form(f"/admin/users/{cw.id}/deactivate", {}, page="/admin/users")
    assert response.status_code == 302

    assert stored(store_app, victim_sid) is None
    assert redirects_to_login(victim.get("/survivors/"))
    assert api.get("/api/v1/survivors").status_code == 401
    with store_app.app_context():
        tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == cw.id)).all()
        assert tokens and all(token.revoked_at is not None for token in tokens)
    # The administrator's own session is untouched.
    assert admin_web.get("/admin/users").status_code == 200


def test_deactivation_from_the_command_line_deletes_the_records(app, make):
    cw = make.user("caseworker")
    one, two = login_web(app, cw), login_web(app, cw)
    result = app.test_cli_runner().invoke(args=["users", "deactivate", cw.username])
    assert result.exit_code == 0, result.output
    for web in (one, two):
        assert stored(app, session_id(app, web)) is None
        assert redirects_to_login(web.get("/survivors/"))


# --- several workers sharing Redis --------------------------------------------------------------------


def test_two_instances_share_sessions_through_redis(app, make, database_url, redis_prefix):
    first = make_redis_app(database_url, redis_prefix)
    second = make_redis_app(database_url, redis_prefix)
    try:
        web = login_web(first, make.user("caseworker"))
        other = WebClient(second)
        other.client.set_cookie(second.config["SESSION_COOKIE_NAME"], session_id(first, web))
        assert other.get("/survivors/").status_code == 200
        assert redirects_to_login(logout(other))
        assert redirects_to_login(web.get("/survivors/"))  # logged out on both
    finally:
        dispose(first)
        dispose(second)


def test_the_login_throttle_is_shared_by_two_instances_through_redis(app, make, database_url,
                                                                    redis_prefix):
    """Five failures through one instance lock the name on another: the counts live in
    Redis. (The second instance's limiter starts with a fresh connection and no memory.)"""
    import redis

    cw = make.user("caseworker")
    first = make_redis_app(database_url, redis_prefix)
    try:
        for _ in range(5):
            response = WebClient(first).post_form("/login", {"username": cw.username,
                                                             "password": "wrong password"})
            assert response.status_code == 200
    finally:
        dispose(first)
    assert list(redis.Redis.from_url(REDIS_URL).scan_iter(match=redis_prefix + "limits:*"))

    second = make_redis_app(database_url, redis_prefix)
    try:
        response = WebClient(second).post_form("/login", {"username": cw.username,
                                                          "password": PASSWORD})
        assert response.status_code == 429
        assert "Too many failed attempts" in response.text
        assert ApiClient(second).post("/api/v1/auth/token", json={
            "username": cw.username, "password": PASSWORD}).status_code == 429
    finally:
        dispose(second)


def test_redis_url_makes_redis_the_rate_limit_storage(monkeypatch):
    monkeypatch.setenv("CASEWORK_REDIS_URL", "redis://cache.example:6379/2")
    assert config.load_config("test")["RATELIMIT_STORAGE_URI"] == "redis://cache.example:6379/2"
    monkeypatch.delenv("CASEWORK_REDIS_URL")
    assert config.load_config("test")["RATELIMIT_STORAGE_URI"] == "memory://"


# --- security headers ---------------------------------------------------------------------------------


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_every_page_has_the_security_headers(app, make):
    cw = make.user("caseworker")
    survivor_id = make.survivor(cw)
    web = login_web(app, cw)
    api = login_api(app, cw)
    responses = {
        "login": WebClient(app).get("/login"),
        "list": web.get("/survivors/"),
        "survivor": web.get(f"/survivors/{survivor_id}"),
        "missing": web.get(f"/survivors/{uuid.uuid4()}"),
        "api": api.get(f"/api/v1/survivors/{survivor_id}"),
    }
    for name, response in responses.items():
        assert response.status_code in (200, 404), name
        csp = csp_directives(response)
        scripts = csp.get("script-src", csp["default-src"])
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, name
        assert csp["frame-ancestors"] == ["'none'"], name
        assert csp["object-src"] == ["'none'"], name
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["Referrer-Policy"] == "no-referrer", name
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["Cache-Control"] == "no-store", name
        assert "Strict-Transport-Security" not in response.headers, name  # not production
        if response.mimetype == "text/html":
            # Nothing inline to allow: every script comes from a file.
            for tag in re.findall(r"<script\b[^>]*>", response.text):
                assert "src=" in tag, (name, tag)
            assert not re.search(r"\son[a-z]+\s*=", response.text), name


def test_static_files_may_be_cached_but_keep_the_other_headers(app):
    response = app.test_client().get("/static/vendor/bootstrap/bootstrap.bundle.min.js")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert not response.headers.getlist("Set-Cookie")


def test_production_sends_hsts(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    # Production's own settings, with the test configuration's keys (production needs them).
    keys = {name: value for name, value in config.load_config("test").items()
            if name.endswith(("_KEY", "_KEYS")) and value}
    production = create_app({"CONFIG": "production", **keys,
                             "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}"})
    assert production.config["SESSION_COOKIE_SECURE"] is True
    try:
        with production.app_context():
            db.create_all()
        response = production.test_client().get("/login", base_url="https://casework.example")
        assert response.status_code == 200
        hsts = response.headers["Strict-Transport-Security"]
        assert re.fullmatch(r"max-age=(\d+); includeSubDomains", hsts)
        assert int(hsts.split("=")[1].split(";")[0]) >= 365 * 24 * 3600
    finally:
        dispose(production)
