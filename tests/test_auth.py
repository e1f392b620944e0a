"""Authentication as users meet it: login, throttling, logout, sessions, tokens, the user
commands, deny-by-default, and what admins and donors can (not) reach."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import select

from casework.auth.models import ApiToken, User
from casework.extensions import db
from casework.web import PUBLIC_ENDPOINTS
from tests.conftest import PASSWORD, ApiClient, WebClient, login_api, login_web

ERROR_BLOCK = re.compile(r'<div class="alert alert-danger form-errors".*?</div>', re.S)


ANY_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def page_token(web: WebClient, page: str) -> str:
    """The CSRF token of any form on ``page`` (the logout form has one on every page)."""
    match = ANY_CSRF.search(web.get(page).text)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def form_errors(html: str) -> str:
    """The error summary of a form page (it carries no token or echoed input)."""
    match = ERROR_BLOCK.search(html)
    assert match, "no error summary on the page"
    return match.group(0)


def is_problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(True)[:300])
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    return body


def redirects_to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def get_user(app, username: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        db.session.expunge(user)
        return user


def cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


# --- login page ----------------------------------------------------------------------------------


def test_login_page_is_public_and_has_the_form(app):
    response = app.test_client().get("/login")
    assert response.status_code == 200
    assert 'name="username"' in response.text
    assert 'name="password"' in response.text
    assert 'name="csrf_token"' in response.text


def test_login_then_home_leads_to_caseload(app, make):
    cw = make.user("caseworker")
    web = WebClient(app)
    response = web.login(cw.username)
    assert urlsplit(response.headers["Location"]).path == "/"
    assert urlsplit(web.get("/").headers["Location"]).path == "/survivors/"
    assert web.get("/survivors/").status_code == 200
    # Logged in, the login page sends the user home instead.
    assert urlsplit(web.get("/login").headers["Location"]).path == "/"


def test_username_is_case_insensitive(app, make):
    cw = make.user("caseworker", username="Amara")
    web = WebClient(app)
    assert web.post_form("/login", {"username": " amara ", "password": PASSWORD}).status_code == 302
    assert cw.username == "Amara"


def test_wrong_password_and_unknown_user_get_the_same_answer(app, make):
    cw = make.user("caseworker")
    wrong_password = WebClient(app).post_form("/login", {"username": cw.username,
                                                         "password": "not the password"})
    unknown_user = WebClient(app).post_form("/login", {"username": "nobody-here",
                                                       "password": "not the password"})
    assert wrong_password.status_code == unknown_user.status_code == 200
    assert form_errors(wrong_password.text) == form_errors(unknown_user.text)
    assert "The username, password or code is not correct." in wrong_password.text

    api_wrong = ApiClient(app).post("/api/v1/auth/token",
                                    json={"username": cw.username, "password": "nope"})
    api_unknown = ApiClient(app).post("/api/v1/auth/token",
                                      json={"username": "nobody-here", "password": "nope"})
    assert is_problem(api_wrong, 401) == is_problem(api_unknown, 401)


def test_deactivated_user_cannot_log_in_and_gets_the_same_answer(app, make):
    cw = make.user("caseworker")
    assert cli(app, "users", "deactivate", cw.username).exit_code == 0
    response = WebClient(app).post_form("/login", {"username": cw.username, "password": PASSWORD})
    assert response.status_code == 200
    assert "The username, password or code is not correct." in response.text
    is_problem(ApiClient(app).post("/api/v1/auth/token",
                                   json={"username": cw.username, "password": PASSWORD}), 401)


# --- throttling ------------------------------------------------------------------------------------


def _fail_five_times(app, username):
    for _ in range(5):
        response = WebClient(app).post_form("/login", {"username": username,
                                                       "password": "wrong password"})
        assert response.status_code == 200


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "unknown"])
def test_sixth_attempt_within_a_minute_is_refused_even_with_the_right_password(app, make,
                                                                                exists):
    username = make.user("caseworker").username if exists else "ghost-user"
    _fail_five_times(app, username)
    web = WebClient(app)
    response = web.post_form("/login", {"username": username, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts" in form_errors(response.text)
    assert web.get("/survivors/").status_code == 302  # not logged in
    api = ApiClient(app).post("/api/v1/auth/token", json={"username": username,
                                                          "password": PASSWORD})
    body = is_problem(api, 429)
    assert "token" not in body


def test_throttled_answer_is_the_same_for_existing_and_unknown_users(app, make):
    existing = make.user("caseworker").username
    _fail_five_times(app, existing)
    _fail_five_times(app, "ghost-user")
    web_existing = WebClient(app).post_form("/login", {"username": existing, "password": "x"})
    web_unknown = WebClient(app).post_form("/login", {"username": "ghost-user", "password": "x"})
    assert web_existing.status_code == web_unknown.status_code == 429
    assert form_errors(web_existing.text) == form_errors(web_unknown.text)
    api_existing = ApiClient(app).post("/api/v1/auth/token",
                                       json={"username": existing, "password": "x"})
    api_unknown = ApiClient(app).post("/api/v1/auth/token",
                                      json={"username": "ghost-user", "password": "x"})
    assert is_problem(api_existing, 429) == is_problem(api_unknown, 429)


def test_throttling_counts_api_failures_too_and_ignores_case(app, make):
    cw = make.user("caseworker", username="Tuan")
    for name in ("tuan", "TUAN", "Tuan", " tuan", "tUaN"):
        is_problem(ApiClient(app).post("/api/v1/auth/token",
                                       json={"username": name, "password": "wrong"}), 401)
    response = WebClient(app).post_form("/login", {"username": cw.username, "password": PASSWORD})
    assert response.status_code == 429


def test_throttling_is_per_username(app, make):
    victim = make.user("caseworker")
    other = make.user("caseworker")
    _fail_five_times(app, victim.username)
    assert WebClient(app).post_form(
        "/login", {"username": other.username, "password": PASSWORD}).status_code == 302


def test_four_failures_do_not_lock(app, make):
    cw = make.user("caseworker")
    for _ in range(4):
        WebClient(app).post_form("/login", {"username": cw.username, "password": "wrong"})
    assert WebClient(app).post_form(
        "/login", {"username": cw.username, "password": PASSWORD}).status_code == 302


# --- CSRF, logout, session cookie ------------------------------------------------------------------


def test_login_post_without_csrf_token_is_400(app, make):
    cw = make.user("caseworker")
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": cw.username, "password": PASSWORD})
    assert response.status_code == 400
    assert "The form had expired or was sent from elsewhere" in response.text
    bogus = client.post("/login", data={"username": cw.username, "password": PASSWORD,
                                        "csrf_token": "forged"})
    assert bogus.status_code == 400
    assert client.get("/survivors/").status_code == 302  # still anonymous


def test_logout_is_post_only(app, make):
    web = login_web(app, make.user("caseworker"))
    assert web.get("/logout").status_code == 405
    assert web.get("/survivors/").status_code == 200  # GET did not log out


def test_logout_needs_csrf(app, make):
    web = login_web(app, make.user("caseworker"))
    assert web.client.post("/logout").status_code == 400
    assert web.client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert web.get("/survivors/").status_code == 200


def test_logout_ends_the_session(app, make):
    web = login_web(app, make.user("caseworker"))
    response = web.client.post("/logout", data={"csrf_token": page_token(web, "/survivors/")})
    assert redirects_to_login(response)
    assert redirects_to_login(web.get("/survivors/"))


def test_session_cookie_is_httponly_and_samesite_strict(app, make):
    cw = make.user("caseworker")
    response = WebClient(app).login(cw.username)
    cookies = [c for c in response.headers.getlist("Set-Cookie")
               if c.startswith(app.config["SESSION_COOKIE_NAME"] + "=")]
    assert cookies
    attributes = [part.strip().lower() for part in cookies[0].split(";")]
    assert "httponly" in attributes
    assert "samesite=strict" in attributes


def test_login_starts_a_new_session(app, make):
    """Session fixation: nothing set before login survives it."""
    cw = make.user("caseworker")
    web = WebClient(app)
    with web.client.session_transaction() as session:
        session["planted"] = "by attacker"
    web.login(cw.username)
    with web.client.session_transaction() as session:
        assert "planted" not in session


@pytest.mark.parametrize("target", [
    "https://evil.example/phish",
    "http://evil.example",
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\t/evil.example",
])
def test_login_redirect_never_leaves_the_site(app, make, target):
    cw = make.user("caseworker")
    response = WebClient(app).post_form(
        "/login?next=" + quote(target, safe=""),
        {"username": cw.username, "password": PASSWORD}, page="/login",
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert parts.scheme in ("", "http") and parts.netloc in ("", "localhost"), location
    assert not location.startswith("//") and "\\" not in location, location


def test_login_redirect_follows_a_local_next(app, make):
    cw = make.user("caseworker")
    response = WebClient(app).post_form("/login?next=%2Fsurvivors%2F%3Fstatus%3DActive",
                                        {"username": cw.username, "password": PASSWORD},
                                        page="/login")
    assert response.headers["Location"] == "/survivors/?status=Active"


def test_anonymous_page_request_is_sent_to_login_and_back(app, make):
    cw = make.user("caseworker")
    web = WebClient(app)
    first = web.get("/survivors/")
    assert redirects_to_login(first)
    login_url = first.headers["Location"]
    response = web.post_form(login_url, {"username": cw.username, "password": PASSWORD})
    assert response.headers["Location"] == "/survivors/"


# --- passwords -------------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id(app, make):
    cw = make.user("caseworker")
    stored = get_user(app, cw.username).password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_password_is_rehashed_at_login_when_parameters_change(app, make, monkeypatch):
    cw = make.user("caseworker")
    before = get_user(app, cw.username).password_hash
    assert ",t=1," in before  # the test configuration's time cost
    monkeypatch.setitem(app.config, "ARGON2_TIME_COST", 2)
    WebClient(app).login(cw.username)
    after = get_user(app, cw.username).password_hash
    assert after != before
    assert after.startswith("$argon2id$")
    assert ",t=2," in after
    # The new hash still opens the account, and an unchanged one is not rewritten.
    WebClient(app).login(cw.username)
    assert get_user(app, cw.username).password_hash == after


def test_failed_login_does_not_rehash(app, make, monkeypatch):
    cw = make.user("caseworker")
    before = get_user(app, cw.username).password_hash
    monkeypatch.setitem(app.config, "ARGON2_TIME_COST", 2)
    WebClient(app).post_form("/login", {"username": cw.username, "password": "wrong"})
    assert get_user(app, cw.username).password_hash == before


# --- deny by default -------------------------------------------------------------------------------


def _protected_routes(app):
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = rule.build({name: uuid.uuid4() for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, url))
    return routes


def test_every_non_public_page_redirects_to_login(app):
    routes = [(m, u) for m, u in _protected_routes(app) if not u.startswith("/api/")]
    assert len(routes) >= 12, routes
    web = WebClient(app)
    for method, url in routes:
        if method == "GET":
            response = web.get(url)
        else:  # with a valid CSRF token, so that only the missing login stops it
            response = web.post_form(url, {}, page="/login") if method == "POST" else \
                web.client.open(url, method=method)
        assert redirects_to_login(response), (method, url, response.status_code)


def test_every_non_public_api_route_answers_401(app):
    routes = [(m, u) for m, u in _protected_routes(app) if u.startswith("/api/")]
    assert len(routes) >= 6, routes
    client = app.test_client()
    for method, url in routes:
        for headers in ({}, {"Authorization": "Bearer cw_not-a-token"},
                        {"Authorization": "Basic YWRtaW46YWRtaW4="}, {"Authorization": "Bearer "}):
            response = client.open(url, method=method, json={}, headers=headers)
            body = is_problem(response, 401)
            assert "Bearer" in body["detail"], (method, url)
            assert not response.headers.getlist("Set-Cookie")


def test_public_endpoints_are_only_login_language_static_openapi_token_and_letter_verification():
    # set_language: the login page's language switcher (a cookie, CSRF-checked).
    assert PUBLIC_ENDPOINTS == {"auth.login", "static", "set_language", "api-docs.openapi_json",
                                "api_auth.Token", "referrals.verify_letter",
                                "referrals_api.verify_letter"}


# --- API: cookie-less, bearer tokens --------------------------------------------------------------


def test_api_sets_no_cookie_and_ignores_the_session_cookie(app, make):
    cw = make.user("caseworker")
    sid = make.survivor(cw)
    api = login_api(app, cw)
    for response in (
        api.get("/api/v1/survivors"),
        api.get(f"/api/v1/survivors/{sid}"),
        api.patch(f"/api/v1/survivors/{sid}", json={"known_as": "Lotus"}),
        api.get(f"/api/v1/survivors/{uuid.uuid4()}"),
        ApiClient(app).post("/api/v1/auth/token", json={"username": cw.username,
                                                        "password": PASSWORD}),
        ApiClient(app).post("/api/v1/auth/token", json={"username": cw.username,
                                                        "password": "wrong"}),
    ):
        assert not response.headers.getlist("Set-Cookie"), response.headers
    # A browser session is no API credential (no CSRF exposure through cookies).
    web = login_web(app, cw)
    is_problem(web.get("/api/v1/survivors"), 401)
    is_problem(web.client.post("/api/v1/survivors", json={"first_name": "X"}), 401)


def test_wrong_bearer_token_is_401(app, make):
    cw = make.user("caseworker")
    api = login_api(app, cw)
    assert api.get("/api/v1/survivors").status_code == 200
    for token in ("cw_" + "A" * 43, api.token + "x", api.token[:-1], "", "\x00"):
        is_problem(ApiClient(app, token=token).get("/api/v1/survivors"), 401)


def test_token_response_and_storage(app, make):
    cw = make.user("caseworker")
    response = ApiClient(app).post("/api/v1/auth/token",
                                   json={"username": cw.username, "password": PASSWORD})
    body = response.get_json()
    assert body["token"].startswith("cw_")
    assert body["expires_at"].endswith("Z")
    assert body["user"] == {"id": str(cw.id), "username": cw.username, "role": "caseworker"}
    with app.app_context():
        stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert stored == [ApiToken.digest(body["token"])]  # only the digest is kept


def test_delete_token_revokes_it(app, make):
    cw = make.user("caseworker")
    api = login_api(app, cw)
    other = login_api(app, cw)
    response = api.delete("/api/v1/auth/token")
    assert response.status_code == 204
    assert not response.headers.getlist("Set-Cookie")
    is_problem(api.get("/api/v1/survivors"), 401)
    is_problem(api.delete("/api/v1/auth/token"), 401)
    assert other.get("/api/v1/survivors").status_code == 200  # only that token


def test_delete_token_without_token_is_401(app):
    is_problem(ApiClient(app).delete("/api/v1/auth/token"), 401)
    is_problem(ApiClient(app, token="cw_nope").delete("/api/v1/auth/token"), 401)


def test_deactivation_revokes_tokens_and_ends_web_sessions(app, make):
    cw = make.user("caseworker")
    api = login_api(app, cw)
    web = login_web(app, cw)
    assert api.get("/api/v1/survivors").status_code == 200
    assert web.get("/survivors/").status_code == 200

    result = cli(app, "users", "deactivate", cw.username)
    assert result.exit_code == 0, result.output
    assert cw.username in result.output

    is_problem(api.get("/api/v1/survivors"), 401)
    assert redirects_to_login(web.get("/survivors/"))
    with app.app_context():
        tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == cw.id)).all()
        assert tokens and all(t.revoked_at is not None for t in tokens)


def test_deactivating_an_unknown_user_fails_clearly(app):
    result = cli(app, "users", "deactivate", "nobody-at-all")
    assert result.exit_code != 0
    assert "No user named 'nobody-at-all'" in result.output


def test_admin_deactivation_page_ends_sessions_too(app, make):
    admin = make.user("admin")
    cw = make.user("caseworker")
    victim = login_web(app, cw)
    api = login_api(app, cw)
    web = login_web(app, admin)
    response = web.post_form(f"/admin/users/{cw.id}/deactivate", {}, page="/admin/users")
    assert response.status_code == 302
    assert redirects_to_login(victim.get("/survivors/"))
    is_problem(api.get("/api/v1/survivors"), 401)


# --- CLI: users create -----------------------------------------------------------------------------


def test_cli_creates_a_user_who_can_log_in(app):
    result = cli(app, "users", "create", "lina", "--role", "counsellor", "--team", "North",
                 "--password-stdin", input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert "Created lina (counsellor, team North)" in result.output
    user = get_user(app, "lina")
    assert user.role == "counsellor" and user.active
    assert user.password_hash.startswith("$argon2id$")
    web = WebClient(app)
    assert web.post_form("/login", {"username": "lina",
                                    "password": "a long enough password"}).status_code == 302


def test_cli_password_keeps_inner_spaces_and_drops_the_newline(app):
    result = cli(app, "users", "create", "rosa", "--role", "supervisor", "--team", "North",
                 "--password-stdin", input="  spaces inside   \r\n")
    assert result.exit_code == 0, result.output
    assert WebClient(app).post_form("/login", {"username": "rosa",
                                               "password": "  spaces inside   "}).status_code == 302


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["short", "--role", "caseworker", "--team", "North"], "too short\n", "at least 12"),
    (["empty", "--role", "caseworker", "--team", "North"], "\n", "at least 12"),
    (["god", "--role", "superuser"], "a long enough password\n", "Invalid value for '--role'"),
    (["donor2", "--role", "donor", "--team", "North"], "a long enough password\n",
     "does not belong to a team"),
    (["two words", "--role", "admin"], "a long enough password\n", "without spaces"),
    (["x" * 65, "--role", "admin"], "a long enough password\n", "1 to 64 characters"),
])
def test_cli_create_rejects_bad_input_clearly(app, args, stdin, message):
    result = cli(app, "users", "create", *args, "--password-stdin", input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == args[0])) is None


def test_cli_create_rejects_duplicate_names_case_insensitively(app, make):
    make.user("caseworker", username="amara")
    for name in ("amara", "AMARA"):
        result = cli(app, "users", "create", name, "--role", "caseworker", "--team", "North",
                     "--password-stdin", input="a long enough password\n")
        assert result.exit_code != 0
        assert "already exists" in result.output
    with app.app_context():
        assert len(db.session.scalars(select(User)).all()) == 1


# --- admins and donors: no survivor data -----------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "donor"])
def test_admin_and_donor_cannot_reach_any_survivor(app, make, role):
    cw = make.user("caseworker")
    sid = make.survivor(cw, known_as="Lotus")
    case_number = login_api(app, cw).get(f"/api/v1/survivors/{sid}").json["case_number"]
    outsider = make.user(role)
    web = login_web(app, outsider)
    api = login_api(app, outsider)

    for url in (f"/survivors/{sid}", f"/survivors/{sid}/edit", f"/survivors/{sid}/close"):
        assert web.get(url).status_code == 404, url
    for url in (f"/api/v1/survivors/{sid}", f"/api/v1/survivors/{sid}/access-log"):
        is_problem(api.get(url), 404)
    is_problem(api.patch(f"/api/v1/survivors/{sid}", json={"known_as": "X"}), 404)

    # No list shows them a survivor: the caseload is refused outright.
    pages = [web.get("/"), web.get("/", follow_redirects=True), web.get("/survivors/"),
             web.get("/survivors/?status=Active")]
    listing = api.get("/api/v1/survivors")
    assert listing.status_code in (403, 404)
    assert pages[2].status_code in (403, 404)
    for response in [*pages, listing]:
        text = response.get_data(as_text=True)
        assert case_number not in text and "Lotus" not in text and str(sid) not in text


# --- admin pages -----------------------------------------------------------------------------------


def test_admin_sees_policy_and_users(app, make):
    admin = make.user("admin")
    web = login_web(app, admin)
    policy = web.get("/admin/policy")
    assert policy.status_code == 200
    users = web.get("/admin/users")
    assert users.status_code == 200
    assert admin.username in users.text


@pytest.mark.parametrize("role", ["caseworker", "counsellor", "supervisor", "donor"])
def test_others_get_403_on_admin_pages(app, make, role):
    user = make.user(role)
    web = login_web(app, user)
    refused = 404 if role == "donor" else 403  # donors reach their reports only
    assert web.get("/admin/policy").status_code == refused
    assert web.get("/admin/users").status_code == refused
    token = page_token(web, "/reports" if role == "donor" else "/survivors/")
    response = web.client.post("/admin/users", data={
        "csrf_token": token, "username": "sneaky", "display_name": "S", "role": "admin",
        "password": "a long enough password"})
    assert response.status_code == refused
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "sneaky")) is None


def test_admin_creates_user_through_the_page(app, make):
    admin = make.user("admin")
    web = login_web(app, admin)
    response = web.post_form("/admin/users", {
        "username": "tuan", "display_name": "Tuan", "role": "caseworker", "team": "North",
        "password": "a long enough password"})
    assert response.status_code == 302
    assert get_user(app, "tuan").role == "caseworker"
    duplicate = web.post_form("/admin/users", {
        "username": "TUAN", "display_name": "Tuan", "role": "caseworker", "team": "North",
        "password": "a long enough password"})
    assert duplicate.status_code == 422
    assert "already exists" in duplicate.text
