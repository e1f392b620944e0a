"""Personal access tokens made and revoked on the profile page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from casework.auth.models import ApiToken
from casework.extensions import db

from .conftest import PASSWORD, ApiClient, login_web

TOKEN_RE = re.compile(r'data-testid="new-token">(cw_[A-Za-z0-9_-]+)<')


def _make(client, name="Hotline intake", days="30", password=PASSWORD):
    return client.post_form("/me/tokens", {"name": name, "days": days, "password": password})


@pytest.mark.parametrize("role", ["caseworker", "supervisor", "donor"])
def test_a_named_token_is_shown_once_and_works_on_the_api(app, make, role):
    user = make.user(role)
    client = login_web(app, user)
    assert "API access tokens" in client.get("/me/profile").text
    response = _make(client)
    assert response.status_code == 201
    token = TOKEN_RE.search(response.text).group(1)
    assert ApiClient(app, token).get("/api/v1/me").json["username"] == user.username
    page = client.get("/me/tokens").text
    assert token not in page  # shown once
    assert "Hotline intake" in page
    with app.app_context():
        record = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
        assert record.token_hash != token and token not in record.token_hash
        lifetime = record.expires_at - datetime.now(UTC)
        assert timedelta(days=29, hours=23) < lifetime <= timedelta(days=30)


def test_revoking_stops_the_token_at_once(app, make):
    user = make.user("caseworker")
    client = login_web(app, user)
    token = TOKEN_RE.search(_make(client).text).group(1)
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))
    response = client.post_form(f"/me/tokens/{token_id}/revoke", {}, page="/me/tokens")
    assert response.status_code == 302
    assert ApiClient(app, token).get("/api/v1/me").status_code == 401
    assert "Hotline intake" not in client.get("/me/tokens").text


def test_a_wrong_password_makes_no_token(app, make):
    user = make.user("caseworker")
    response = _make(login_web(app, user), password="not my password at all")
    assert response.status_code == 422
    assert "The current password is not correct." in response.text
    assert not TOKEN_RE.search(response.text)
    with app.app_context():
        assert db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id)) is None


@pytest.mark.parametrize("data,field", [({"name": ""}, "name"), ({"days": "10000"}, "days"),
                                        ({"name": "x" * 101}, "name")])
def test_bad_input_is_refused_with_a_message(app, make, data, field):
    user = make.user("caseworker")
    client = login_web(app, user)
    response = client.post_form("/me/tokens", {"name": "ok", "days": "30",
                                               "password": PASSWORD, **data})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    with app.app_context():
        assert db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id)) is None


def test_nobody_revokes_someone_elses_token(app, make):
    owner, other = make.user("caseworker"), make.user("caseworker")
    token = TOKEN_RE.search(_make(login_web(app, owner)).text).group(1)
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id))
    response = login_web(app, other).post_form(f"/me/tokens/{token_id}/revoke", {},
                                               page="/me/tokens")
    assert response.status_code == 404
    assert ApiClient(app, token).get("/api/v1/me").status_code == 200
