"""Password rules (ASVS 6.2): at least 12 characters, at most 1024, not a common password, not
the username; no composition rules and no expiry. Applied wherever a password is set (the
CLI, the admin page, the user's own change at /me/password); a change ends every other
session and revokes every token."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.auth.models import ApiToken, User
from casework.auth.passwords import common_passwords, is_common
from casework.auth.service import UserError, check_password_rules
from casework.extensions import db
from casework.seed import DEMO_PASSWORD
from tests.conftest import PASSWORD, ApiClient, WebClient, login_api, login_web

ERROR_BLOCK = re.compile(r'<div class="alert alert-danger form-errors".*?</div>', re.S)
NEW = "violet kettle under the stairs"


def user_row(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


# --- the rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "username", "message"), [
    ("", None, "at least 12 characters"),
    ("elevenchars", None, "at least 12 characters"),
    ("ñandú-ñandú", None, "at least 12 characters"),  # 11 characters, 15 bytes
    ("ü" * 6, None, "at least 12 characters"),  # 12 bytes are not 12 characters
    ("x" * 1025, None, "at most 1024 characters"),
    ("q1w2e3r4t5y6", None, "list of common passwords"),
    ("Q1W2E3R4T5Y6", None, "list of common passwords"),  # case-insensitive
    ("Password1234", None, "list of common passwords"),
    (" 1qaz2wsx3edc ", None, "list of common passwords"),
    ("rosa.supervisor", "rosa.supervisor", "must not be the username"),
    ("Rosa.Supervisor", "rosa.supervisor", "must not be the username"),
])
def test_rules_refuse_with_a_clear_message(password, username, message):
    with pytest.raises(UserError, match=message):
        check_password_rules(password, username)


@pytest.mark.parametrize("password", [
    "twelve chars",                        # exactly 12, lowercase and a space: no composition
    "ü" * 12,                              # 12 characters (24 bytes)
    "ทดสอบรหัสผ่านยาวๆ",                   # Thai, no ASCII at all
    "x" * 1024,
    "  spaces inside   ",
    PASSWORD,
    DEMO_PASSWORD,
    "a long enough password",
])
def test_rules_accept_long_uncommon_passwords_of_any_composition(password):
    check_password_rules(password, "someone")


def test_the_bundled_list_is_loaded_and_lowercased():
    listed = common_passwords()
    assert len(listed) > 10_000
    assert "password" in listed and "123456" in listed
    assert all(entry == entry.casefold() for entry in listed)
    assert is_common("PassWord") and not is_common(NEW)


def test_the_demo_and_test_passwords_pass_the_rules():
    check_password_rules(DEMO_PASSWORD, "sup.rosa")
    check_password_rules(PASSWORD, "caseworker-abc123")


# --- where passwords are set ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "password", "message"), [
    ("lina", "short one", "at least 12 characters"),
    ("lina", "qwertyuiop123", "list of common passwords"),
    ("lina.long.name", "lina.long.name", "must not be the username"),
])
def test_cli_refuses_bad_passwords_and_creates_nobody(app, name, password, message):
    result = cli(app, "users", "create", name, "--role", "caseworker", "--team", "North",
                 "--password-stdin", input=password + "\n")
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == name)) is None


@pytest.mark.parametrize(("password", "message"), [
    ("1q2w3e4r5t6y", "list of common passwords"),
    ("new.person.x", "must not be the username"),
])
def test_admin_page_refuses_bad_passwords_and_creates_nobody(app, make, password, message):
    web = login_web(app, make.user("admin"))
    response = web.post_form("/admin/users", {
        "username": "new.person.x", "display_name": "New", "role": "caseworker",
        "team": "North", "password": password})
    assert response.status_code == 422
    assert message in response.text
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "new.person.x")) is None


# --- /me/password ----------------------------------------------------------------------------------


def change(web: WebClient, current=PASSWORD, new=NEW, again=None):
    return web.post_form("/me/password", {"current_password": current, "new_password": new,
                                          "new_password_again": new if again is None else again})


def test_the_page_asks_for_the_current_and_new_password_twice(app, make):
    web = login_web(app, make.user("caseworker"))
    page = web.get("/me/password")
    assert page.status_code == 200
    for name in ("current_password", "new_password", "new_password_again"):
        assert f'name="{name}"' in page.text
    assert 'autocomplete="new-password"' in page.text


@pytest.mark.parametrize(("current", "new", "again", "message"), [
    ("not my password", NEW, None, "The current password is not correct."),
    (PASSWORD, NEW, NEW + "!", "The two new passwords differ."),
    (PASSWORD, "too short", None, "at least 12 characters"),
    (PASSWORD, "qwertyuiop123", None, "list of common passwords"),
    (PASSWORD, "{username}", None, "must not be the username"),
    (PASSWORD, PASSWORD, None, "same as the current one"),
], ids=["wrong-current", "mismatch", "short", "common", "username", "unchanged"])
def test_a_refused_change_says_why_and_changes_nothing(app, make, current, new, again, message):
    cw = make.user("caseworker", username="amara.caseworker")
    other_web = login_web(app, cw)
    api = login_api(app, cw)
    before = user_row(app, cw.id)
    web = login_web(app, cw)
    response = change(web, current, new.format(username=cw.username), again)
    assert response.status_code == 422
    assert message in response.text
    after = user_row(app, cw.id)
    assert after.password_hash == before.password_hash
    assert after.session_generation == before.session_generation
    assert other_web.get("/survivors/").status_code == 200
    assert api.get("/api/v1/survivors").status_code == 200
    assert web.get("/survivors/").status_code == 200


def test_a_change_ends_other_sessions_and_tokens_and_keeps_this_one(app, make):
    cw = make.user("caseworker")
    other_web = login_web(app, cw)
    api = login_api(app, cw)
    web = login_web(app, cw)
    response = change(web)
    assert response.status_code == 302
    assert "Your password is changed" in web.get(response.headers["Location"]).text

    assert web.get("/survivors/").status_code == 200  # this session goes on
    assert other_web.get("/survivors/").status_code == 302  # the other one ended
    assert api.get("/api/v1/survivors").status_code == 401
    with app.app_context():
        tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == cw.id)).all()
        assert tokens and all(t.revoked_at is not None for t in tokens)
        assert db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action == "user.password_changed")).all() == ["user.password_changed"]

    assert WebClient(app).post_form("/login", {"username": cw.username,
                                               "password": PASSWORD}).status_code == 200
    assert WebClient(app).post_form("/login", {"username": cw.username,
                                               "password": NEW}).status_code == 302
    assert ApiClient(app).post("/api/v1/auth/token", json={
        "username": cw.username, "password": NEW}).status_code == 200


def test_guessing_the_current_password_is_throttled(app, make):
    cw = make.user("caseworker")
    web = login_web(app, cw)
    for _ in range(5):
        assert change(web, current="a wrong guess!").status_code == 422
    response = change(web)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.text
    assert user_row(app, cw.id).password_hash.startswith("$argon2id$")
    assert WebClient(app).post_form("/login", {"username": cw.username,
                                               "password": NEW}).status_code != 302


def test_the_page_needs_a_login(app):
    response = app.test_client().get("/me/password")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
