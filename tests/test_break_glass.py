"""Break-glass opens identifying fields of one case, for the session it was opened in only.

A web login and an API token are each a session of their own: a grant opened in one opens
nothing in the others, nor after logout (or token revocation) and a new login.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from casework.access.models import BreakGlassGrant
from casework.extensions import db
from tests.conftest import login_api, login_web

REASON = "Police asked for a welfare check at the shelter tonight."
NAME = "Quillonia"
OTHER_NAME = "Brevardine"


def _team(make):
    supervisor = make.user("supervisor", team="North")
    lead = make.user("caseworker", team="North")
    sid = make.survivor(lead, first_name=NAME)
    other_sid = make.survivor(lead, first_name=OTHER_NAME)
    return supervisor, sid, other_sid


def _api_shows_name(api, sid) -> bool:
    body = api.get(f"/api/v1/survivors/{sid}").json
    return "first_name" in body


def _page_shows_name(web, sid, name) -> bool:
    response = web.get(f"/survivors/{sid}")
    assert response.status_code == 200
    return name in response.text


def test_grant_opened_on_the_api_holds_for_that_token_only(app, make):
    supervisor, sid, other_sid = _team(make)
    token_a, token_b = login_api(app, supervisor), login_api(app, supervisor)
    web = login_web(app, supervisor)
    assert not _api_shows_name(token_a, sid)

    response = token_a.post(f"/api/v1/survivors/{sid}/break-glass", json={"reason": REASON})
    assert response.status_code == 200

    assert token_a.get(f"/api/v1/survivors/{sid}").json["first_name"] == NAME
    assert not _api_shows_name(token_a, other_sid)  # that case only
    assert not _api_shows_name(token_b, sid)  # another token of the same supervisor
    assert not _page_shows_name(web, sid, NAME)  # their web session


def test_grant_opened_on_the_page_holds_for_that_login_only(app, make):
    supervisor, sid, other_sid = _team(make)
    first, second = login_web(app, supervisor), login_web(app, supervisor)
    api = login_api(app, supervisor)

    response = first.post_form(f"/survivors/{sid}/break-glass", {"reason": REASON},
                               page=f"/survivors/{sid}")
    assert response.status_code == 302

    assert _page_shows_name(first, sid, NAME)
    assert not _page_shows_name(first, other_sid, OTHER_NAME)
    assert not _page_shows_name(second, sid, NAME)
    assert not _api_shows_name(api, sid)

    # Logging out ends it: the same browser logging in again sees no name.
    page = first.get(f"/survivors/{sid}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # the logout form
    assert first.client.post("/logout", data={"csrf_token": token}).status_code == 302
    first.login(supervisor.username)
    assert not _page_shows_name(first, sid, NAME)
    with app.app_context():
        [grant] = db.session.scalars(select(BreakGlassGrant)).all()
        assert grant.expires_at <= datetime.now(UTC)


def test_revoking_the_token_ends_its_grant(app, make):
    supervisor, sid, _ = _team(make)
    api = login_api(app, supervisor)
    assert api.post(f"/api/v1/survivors/{sid}/break-glass",
                    json={"reason": REASON}).status_code == 200
    assert api.delete("/api/v1/auth/token").status_code == 204
    with app.app_context():
        [grant] = db.session.scalars(select(BreakGlassGrant)).all()
        assert grant.expires_at <= datetime.now(UTC)
    assert not _api_shows_name(login_api(app, supervisor), sid)


def test_grant_is_shown_in_the_case_access_log_with_its_reason(app, make):
    supervisor, sid, _ = _team(make)
    api = login_api(app, supervisor)
    api.post(f"/api/v1/survivors/{sid}/break-glass", json={"reason": REASON})
    log = api.get(f"/api/v1/survivors/{sid}/access-log").json
    assert any(e["action"] == "survivor.break_glass" and e["reason"] == REASON for e in log)
