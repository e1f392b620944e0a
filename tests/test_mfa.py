"""Two-step verification (TOTP) as users meet it: enrolment through the pages, login and API
tokens that need the code, codes that work once, recovery codes, turning it off, and the
roles that must use it (MFA_REQUIRED_ROLES)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import func, select

from casework import crypto
from casework.audit.models import AuditEvent
from casework.auth import mfa
from casework.auth.models import ApiToken, MfaRecoveryCode, User
from casework.extensions import db
from tests.conftest import PASSWORD, ApiClient, WebClient, login_api, login_web

STEP = 30
# A fixed moment, the middle of a time step: every test holds the clock still at NOW and
# moves it by whole steps, so no code depends on when the suite runs.
NOW = 1_790_000_000 // STEP * STEP + 15
SECRET_RE = re.compile(r"<code[^>]*data-mfa-secret[^>]*>([^<]+)</code>")
CODES_RE = re.compile(r"<ul[^>]*data-recovery-codes[^>]*>(.*?)</ul>", re.S)
ERROR_BLOCK = re.compile(r'<div class="alert alert-danger form-errors".*?</div>', re.S)
WRONG = "The username, password or code is not correct."


# --- fixtures: the clock, and the setting ----------------------------------------------------


class Clock:
    def __init__(self):
        self.now = NOW

    def step(self) -> int:
        return int(self.now // STEP)

    def advance(self, steps: int = 1) -> None:
        self.now += steps * STEP


@pytest.fixture
def clock(monkeypatch):
    """Hold mfa's clock still; ``clock.advance()`` moves it one 30-second step."""
    held = Clock()
    monkeypatch.setattr(mfa, "clock", lambda: held.now)
    return held


@pytest.fixture
def mfa_required(app, monkeypatch):
    """The fixture hook for the setting: the suite's app is built once per session with the
    test configuration, where MFA_REQUIRED_ROLES is empty (so other tests log supervisors and
    admins in with a password alone). It is read on every request, so a test switches it on
    by setting the app's config; monkeypatch restores it afterwards."""
    monkeypatch.setitem(app.config, "MFA_REQUIRED_ROLES", ("supervisor", "admin"))
    return app.config["MFA_REQUIRED_ROLES"]


# --- helpers -----------------------------------------------------------------------------------


def code(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def load(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def enrol(web: WebClient, clock: Clock) -> tuple[str, list[str]]:
    """Enrol through the pages; the secret as shown, and the recovery codes."""
    page = web.get("/me/mfa/enrol")
    assert page.status_code == 200, page.text[:300]
    secret = SECRET_RE.search(page.text).group(1).replace(" ", "")
    response = web.post_form("/me/mfa/enrol", {"code": code(secret, clock.step())})
    assert response.status_code == 200, response.text[:500]
    codes = re.findall(r"<li>([^<]+)</li>", CODES_RE.search(response.text).group(1))
    clock.advance()  # the next code is a new one
    return secret, codes


def enrolled(app, make, clock, role="caseworker") -> tuple[User, str, list[str]]:
    user = make.user(role)
    secret, codes = enrol(login_web(app, user), clock)
    return user, secret, codes


def web_login(app, username, otp=None, password=PASSWORD):
    web = WebClient(app)
    data = {"username": username, "password": password}
    if otp is not None:
        data["otp"] = otp
    return web, web.post_form("/login", data)


def token(app, username, otp=None, password=PASSWORD):
    body = {"username": username, "password": password}
    if otp is not None:
        body["otp"] = otp
    return ApiClient(app).post("/api/v1/auth/token", json=body)


def form_errors(html: str) -> str:
    match = ERROR_BLOCK.search(html)
    assert match, "no error summary on the page"
    return match.group(0)


def is_problem(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(True)[:300])
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def location(response) -> str:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return urlsplit(response.headers["Location"]).path


# --- enrolment ---------------------------------------------------------------------------------


def test_enrolment_end_to_end_through_the_pages(app, make, clock):
    cw = make.user("caseworker")
    web = login_web(app, cw)
    settings = web.get("/me/mfa")
    assert settings.status_code == 200 and 'data-mfa-status="off"' in settings.text

    page = web.get("/me/mfa/enrol")
    assert page.status_code == 200
    # The QR code is inline SVG (nothing for the CSP to refuse), and the key is shown as text.
    svg = re.search(r"<svg[^>]*class=\"mfa-qr\".*?</svg>", page.text, re.S).group(0)
    assert "<path" in svg and "<script" not in svg and "href" not in svg
    assert "img-src 'self' data:" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    secret = SECRET_RE.search(page.text).group(1).replace(" ", "")
    assert len(secret) == 32 and re.fullmatch(r"[A-Z2-7]+", secret)
    with app.test_request_context("/"):
        user = db.session.get(User, cw.id)
        assert mfa.secret_of(user) == secret
        uri = mfa.provisioning_uri(user, secret)
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    assert cw.username in uri
    # Reloading the page keeps the key, so an app that scanned it still matches.
    assert SECRET_RE.search(web.get("/me/mfa/enrol").text).group(1).replace(" ", "") == secret

    wrong = web.post_form("/me/mfa/enrol", {"code": "000000" if code(secret, clock.step())
                                             != "000000" else "111111"})
    assert wrong.status_code == 422
    assert "That code is not correct" in wrong.text
    assert not load(app, cw.id).mfa_enabled
    assert len(events(app, "auth.mfa_failed")) == 1

    done = web.post_form("/me/mfa/enrol", {"code": code(secret, clock.step())})
    assert done.status_code == 200
    codes = re.findall(r"<li>([^<]+)</li>", CODES_RE.search(done.text).group(1))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", c) for c in codes)

    stored = load(app, cw.id)
    assert stored.mfa_enabled and stored.mfa_last_step == clock.step()
    assert secret.encode() not in stored.mfa_secret  # encrypted at rest
    with app.app_context():
        hashes = db.session.scalars(select(MfaRecoveryCode.code_hash)
                                    .where(MfaRecoveryCode.user_id == cw.id)).all()
    assert len(hashes) == 10
    assert not any(c in h or c.replace("-", "") in h for c in codes for h in hashes)
    assert len(events(app, "mfa.enrolled")) == 1

    # Enrolled: the enrolment page sends to the settings, which say so; the codes are not
    # shown again.
    assert location(web.get("/me/mfa/enrol")) == "/me/mfa"
    settings = web.get("/me/mfa")
    assert 'data-mfa-status="on"' in settings.text
    assert "10 unused recovery codes" in settings.text
    assert not any(c in settings.text for c in codes)


def test_the_secret_is_bound_to_its_row(app, make, clock):
    first, _secret, _codes = enrolled(app, make, clock)
    other = make.user("caseworker")
    with app.test_request_context("/"):
        one = db.session.get(User, first.id)
        two = db.session.get(User, other.id)
        two.mfa_secret = one.mfa_secret  # a blob copied to another user does not decrypt
        with pytest.raises(crypto.DecryptionError):
            mfa.secret_of(two)
        db.session.rollback()


# --- login with a code -------------------------------------------------------------------------


def test_login_needs_the_code_and_says_only_that_something_is_wrong(app, make, clock):
    cw, secret, _codes = enrolled(app, make, clock)
    _web, no_code = web_login(app, cw.username)
    _web, wrong_code = web_login(app, cw.username, "123456" if code(secret, clock.step())
                                 != "123456" else "654321")
    _web, wrong_password = web_login(app, cw.username, code(secret, clock.step()),
                                     password="not the password")
    _web, unknown = web_login(app, "nobody-here", "123456")
    for response in (no_code, wrong_code, wrong_password, unknown):
        assert response.status_code == 200
        assert form_errors(response.text) == form_errors(unknown.text)
        assert WRONG in response.text
    # The right code after a wrong password was not used up by it.
    web, ok = web_login(app, cw.username, code(secret, clock.step()))
    assert location(ok) == "/"
    assert web.get("/survivors/").status_code == 200
    assert len(events(app, "auth.mfa_failed")) == 2  # no code, wrong code


def test_the_login_page_asks_for_the_code(app):
    page = app.test_client().get("/login")
    assert 'name="otp"' in page.text and 'autocomplete="one-time-code"' in page.text


def test_a_code_works_once(app, make, clock):
    cw, secret, _codes = enrolled(app, make, clock)
    current = code(secret, clock.step())
    _web, first = web_login(app, cw.username, current)
    assert first.status_code == 302
    _web, again = web_login(app, cw.username, current)
    assert again.status_code == 200 and WRONG in again.text
    # Nor through the API, nor a step later while it is still inside the window.
    clock.now += 10
    is_problem(token(app, cw.username, current), 401)


def test_a_code_of_an_earlier_step_is_refused_after_a_later_one_was_used(app, make, clock):
    cw, secret, _codes = enrolled(app, make, clock)
    step = clock.step()
    _web, later = web_login(app, cw.username, code(secret, step + 1))  # clock drift: allowed
    assert later.status_code == 302
    for earlier in (step, step - 1):
        _web, refused = web_login(app, cw.username, code(secret, earlier))
        assert refused.status_code == 200 and WRONG in refused.text
    clock.advance(2)
    _web, next_one = web_login(app, cw.username, code(secret, clock.step()))
    assert next_one.status_code == 302


def test_codes_outside_the_window_are_refused(app, make, clock):
    cw, secret, _codes = enrolled(app, make, clock)
    for step in (clock.step() + 2, clock.step() - 2):
        _web, response = web_login(app, cw.username, code(secret, step))
        assert WRONG in response.text


def test_two_requests_cannot_both_take_one_code(app, make, clock):
    cw, secret, _codes = enrolled(app, make, clock)
    with app.test_request_context("/"):
        user = db.session.get(User, cw.id)
        first = mfa.check_code(user, code(secret, clock.step()))
        second = mfa.check_code(user, code(secret, clock.step()))
        assert first is not None and second is not None  # both looked before either took it
        assert mfa.consume(user, first) is True
        assert mfa.consume(user, second) is False
        db.session.rollback()


def test_wrong_codes_count_towards_the_per_user_throttle(app, make, clock):
    cw, secret, _codes = enrolled(app, make, clock)
    bad = "000000" if code(secret, clock.step()) != "000000" else "111111"
    for _ in range(5):
        _web, response = web_login(app, cw.username, bad)
        assert response.status_code == 200
    _web, right = web_login(app, cw.username, code(secret, clock.step()))
    assert right.status_code == 429
    is_problem(token(app, cw.username, code(secret, clock.step())), 429)


# --- recovery codes ----------------------------------------------------------------------------


def test_a_recovery_code_works_once_instead_of_a_code(app, make, clock):
    cw, _secret, codes = enrolled(app, make, clock)
    web, first = web_login(app, cw.username, codes[0])
    assert location(first) == "/"
    _web, again = web_login(app, cw.username, codes[0])
    assert again.status_code == 200 and WRONG in again.text
    # Typed in capitals, without dashes or with spaces, it is the same code.
    _web, spaced = web_login(app, cw.username, codes[1].upper().replace("-", " "))
    assert spaced.status_code == 302
    is_problem(token(app, cw.username, codes[1].replace("-", "")), 401)
    assert token(app, cw.username, codes[2]).status_code == 200
    assert len(events(app, "mfa.recovery_used")) == 3
    assert "7 unused recovery codes" in web.get("/me/mfa").text


def test_new_recovery_codes_replace_the_old_ones(app, make, clock):
    cw, secret, old = enrolled(app, make, clock)
    web, _ = web_login(app, cw.username, code(secret, clock.step()))
    clock.advance()
    wrong = web.post_form("/me/mfa/recovery-codes", {"code": "12345"}, page="/me/mfa",
                          follow_redirects=True)
    assert "not correct" in wrong.text
    response = web.post_form("/me/mfa/recovery-codes", {"code": code(secret, clock.step())},
                             page="/me/mfa")
    assert response.status_code == 200
    new = re.findall(r"<li>([^<]+)</li>", CODES_RE.search(response.text).group(1))
    assert len(new) == 10 and not set(new) & set(old)
    _web, refused = web_login(app, cw.username, old[3])
    assert WRONG in refused.text
    _web, accepted = web_login(app, cw.username, new[3])
    assert accepted.status_code == 302


# --- the API -----------------------------------------------------------------------------------


def test_api_token_needs_the_code_for_users_with_mfa(app, make, clock):
    cw, secret, _codes = enrolled(app, make, clock)
    without = is_problem(token(app, cw.username), 401)
    wrong = is_problem(token(app, cw.username, "99999x"), 401)
    unknown = is_problem(token(app, "nobody-here", "123456"), 401)
    assert without == wrong == unknown
    assert without["detail"] == WRONG
    response = token(app, cw.username, code(secret, clock.step()))
    assert response.status_code == 200
    api = ApiClient(app, token=response.json["token"])
    assert api.get("/api/v1/survivors").status_code == 200
    is_problem(token(app, cw.username, code(secret, clock.step())), 401)  # used already
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 1


def test_users_without_mfa_get_tokens_as_before(app, make):
    cw = make.user("caseworker")
    assert token(app, cw.username).status_code == 200
    assert token(app, cw.username, "123456").status_code == 200  # a stray code is ignored


def test_the_openapi_document_describes_otp_and_the_403(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    post = spec["paths"]["/api/v1/auth/token"]["post"]
    assert "403" in post["responses"]
    text = str(spec["components"]["schemas"])
    assert "otp" in text and "recovery" in text


# --- roles that must use it ------------------------------------------------------------------


def test_a_required_role_without_mfa_reaches_only_enrolment(app, make, clock, mfa_required):
    supervisor = make.user("supervisor")
    web = WebClient(app)
    response = web.login(supervisor.username)
    assert location(response) == "/me/mfa/enrol"
    for url in ("/", "/survivors/", "/supervision/", "/me/alerts", "/me/mfa", "/me/password",
                "/shelters/"):
        assert location(web.get(url)) == "/me/mfa/enrol", url
    refused = web.post_form("/me/password", {"current_password": PASSWORD,
                                             "new_password": "a brand new passphrase",
                                             "new_password_again": "a brand new passphrase"},
                            page="/me/mfa/enrol")
    assert location(refused) == "/me/mfa/enrol"
    page = web.get("/me/mfa/enrol")
    assert page.status_code == 200 and "Your role must use two-step verification" in page.text
    assert web.get("/static/favicon.svg").status_code == 200

    # The API refuses them a token, and says why.
    body = is_problem(token(app, supervisor.username), 403)
    assert "two-step verification" in body["detail"] and "/me/mfa/enrol" in body["detail"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    assert events(app, "auth.mfa_required")
    # A wrong password is still just wrong (nothing says that the role needs MFA).
    assert is_problem(token(app, supervisor.username, password="wrong password"), 401)[
        "detail"] == WRONG

    # Enrolled, everything opens, and the API wants the code.
    secret, _codes = enrol(web, clock)
    assert web.get("/survivors/").status_code == 200
    assert web.get("/me/mfa").status_code == 200
    is_problem(token(app, supervisor.username), 401)
    assert token(app, supervisor.username, code(secret, clock.step())).status_code == 200


def test_logout_stays_open_to_a_user_who_must_enrol(app, make, mfa_required):
    admin = make.user("admin")
    web = WebClient(app)
    web.login(admin.username)
    response = web.post_form("/logout", {}, page="/me/mfa/enrol")
    assert location(response) == "/login"
    assert location(web.get("/me/mfa/enrol")) == "/login"


def test_existing_tokens_stop_working_until_enrolment(app, make, monkeypatch):
    admin = make.user("admin")
    api = login_api(app, admin)  # issued while nothing was required
    assert api.get("/api/v1/me").status_code == 200
    monkeypatch.setitem(app.config, "MFA_REQUIRED_ROLES", ("admin",))
    body = is_problem(api.get("/api/v1/me"), 403)
    assert "two-step verification" in body["detail"]
    # Revoking the token still works.
    assert api.delete("/api/v1/auth/token").status_code == 204


def test_roles_not_named_are_not_forced(app, make, mfa_required):
    cw = make.user("caseworker")
    web = login_web(app, cw)
    assert web.get("/survivors/").status_code == 200
    assert token(app, cw.username).status_code == 200


def test_everyone_setting_includes_donors_who_can_reach_enrolment(app, make, monkeypatch):
    from config import _parse_roles

    monkeypatch.setitem(app.config, "MFA_REQUIRED_ROLES", _parse_roles("all"))
    donor = make.user("donor")
    web = WebClient(app)
    assert location(web.login(donor.username)) == "/me/mfa/enrol"
    assert web.get("/me/mfa/enrol").status_code == 200
    assert location(web.get("/reports")) == "/me/mfa/enrol"


# --- turning it off ------------------------------------------------------------------------------


def test_turning_it_off_needs_the_password_and_a_code(app, make, clock):
    cw, secret, _codes = enrolled(app, make, clock)
    web, _ = web_login(app, cw.username, code(secret, clock.step()))
    clock.advance()
    page = web.get("/me/mfa")
    assert 'action="/me/mfa/disable"' in page.text

    wrong_password = web.post_form("/me/mfa/disable", {"password": "not my password",
                                                       "code": code(secret, clock.step())},
                                   page="/me/mfa", follow_redirects=True)
    assert "still on" in wrong_password.text
    wrong_code = web.post_form("/me/mfa/disable", {"password": PASSWORD, "code": "000000"},
                               page="/me/mfa", follow_redirects=True)
    assert "still on" in wrong_code.text
    assert load(app, cw.id).mfa_enabled

    done = web.post_form("/me/mfa/disable", {"password": PASSWORD,
                                             "code": code(secret, clock.step())},
                         page="/me/mfa", follow_redirects=True)
    assert "Two-step verification is off" in done.text
    stored = load(app, cw.id)
    assert not stored.mfa_enabled and stored.mfa_secret is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MfaRecoveryCode)) == 0
    assert len(events(app, "mfa.disabled")) == 1
    _web, plain = web_login(app, cw.username)
    assert plain.status_code == 302


def test_a_required_role_cannot_turn_it_off(app, make, clock, mfa_required):
    supervisor = make.user("supervisor")
    web = WebClient(app)
    web.login(supervisor.username)
    secret, _codes = enrol(web, clock)
    page = web.get("/me/mfa")
    assert "cannot be turned off" in page.text
    assert 'action="/me/mfa/disable"' not in page.text
    response = web.post_form("/me/mfa/disable", {"password": PASSWORD,
                                                 "code": code(secret, clock.step())},
                             page="/me/mfa", follow_redirects=True)
    assert "cannot be turned off" in response.text
    assert load(app, supervisor.id).mfa_enabled


# --- the setting ---------------------------------------------------------------------------------


def test_the_setting_is_read_from_the_environment(monkeypatch):
    from casework.auth.models import ROLES
    from config import USER_ROLES, ConfigError, load_config

    assert USER_ROLES == ROLES
    for name in [n for n in __import__("os").environ if n.startswith("CASEWORK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CASEWORK_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("CASEWORK_DATA_KEYS", '{"k": "' + "A" * 43 + '="}')
    monkeypatch.setenv("CASEWORK_BLIND_INDEX_KEY", "A" * 43 + "=")
    assert load_config("production")["MFA_REQUIRED_ROLES"] == ("supervisor", "admin")
    assert load_config("test")["MFA_REQUIRED_ROLES"] == ()
    for value, expected in (("", ()), (" ", ()), ("all", ROLES),
                            ("Admin, caseworker", ("caseworker", "admin"))):
        monkeypatch.setenv("CASEWORK_MFA_REQUIRED_ROLES", value)
        assert load_config("production")["MFA_REQUIRED_ROLES"] == expected, value
    monkeypatch.setenv("CASEWORK_MFA_REQUIRED_ROLES", "supervisors")
    with pytest.raises(ConfigError, match="unknown role 'supervisors'"):
        load_config("production")
