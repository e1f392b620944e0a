"""The profile page (/me/profile): a user's own language and time zone, saved with CSRF and
audited; and how the language of a page is chosen: the profile's, else the login page's
switcher (a cookie), else the browser's Accept-Language, else English."""

from __future__ import annotations

import re

from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.auth.models import User
from casework.extensions import db
from casework.web import SUPPORTED_LOCALES
from tests.conftest import csrf_from, login_web


def _html_lang(html: str) -> tuple[str, str]:
    match = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', html)
    assert match, html[:300]
    return match.group(1), match.group(2)


def _options(html: str, name: str) -> list[tuple[str, str]]:
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select_html, f"no select {name}"
    return re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_html.group(1))


def test_the_profile_shows_the_name_and_offers_every_language_in_its_own_name(app, make):
    user = make.user("caseworker", display_name="Ana Profile")
    page = login_web(app, user).get("/me/profile")
    assert page.status_code == 200
    assert "Ana Profile" in page.text
    assert 'name="display_name"' not in page.text  # read-only
    languages = dict(_options(page.text, "locale"))
    assert list(languages) == list(SUPPORTED_LOCALES)
    assert languages["ar"] == "العربية" and languages["th"] == "ไทย"
    assert languages["uk"] == "українська" and languages["es"] == "español"
    zones = [value for value, _label in _options(page.text, "timezone")]
    assert zones == sorted(zones) and "Asia/Bangkok" in zones and "UTC" in zones
    assert len(zones) > 300
    assert 'href="/me/profile"' in page.text  # the navigation links to it


def test_saving_the_profile_changes_the_language_and_time_zone_and_is_audited(app, make):
    user = make.user("caseworker")
    web = login_web(app, user)
    response = web.post_form("/me/profile", {"locale": "ar", "timezone": "Asia/Bangkok"})
    assert response.status_code == 302
    page = web.get("/me/profile")
    assert _html_lang(page.text) == ("ar", "rtl")
    assert "bootstrap.rtl.min.css" in page.text
    with app.app_context():
        saved = db.session.get(User, user.id)
        assert (saved.locale, saved.timezone) == ("ar", "Asia/Bangkok")
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "user.profile_changed")).all()
        assert [(e.actor_id, e.subject_id, sorted(e.fields)) for e in events] == [
            (user.id, user.id, ["locale", "timezone"])]
    # The user's zone is the zone of their dates and times.
    from flask_babel import get_timezone
    from flask_login import login_user

    with app.test_request_context("/"):
        login_user(db.session.get(User, user.id))
        assert str(get_timezone()) == "Asia/Bangkok"
    # Saving again without a change records nothing more.
    web.post_form("/me/profile", {"locale": "ar", "timezone": "Asia/Bangkok"})
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "user.profile_changed")) == 1


def test_the_profile_refuses_unknown_values_and_forms_without_csrf(app, make):
    user = make.user("caseworker")
    web = login_web(app, user)
    bad = web.post_form("/me/profile", {"locale": "xx", "timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    no_token = web.client.post("/me/profile", data={"locale": "fr", "timezone": "UTC"})
    assert no_token.status_code == 400
    with app.app_context():
        saved = db.session.get(User, user.id)
        assert saved.locale is None and saved.timezone is None


def test_a_donor_reaches_their_profile_too(app, make):
    donor = make.user("donor")
    web = login_web(app, donor)
    assert web.get("/me/profile").status_code == 200
    assert web.post_form("/me/profile", {"locale": "fr", "timezone": "UTC"}).status_code == 302
    assert _html_lang(web.get("/me/profile").text) == ("fr", "ltr")


def test_before_login_the_browser_language_decides(app):
    client = app.test_client()
    assert _html_lang(client.get("/login", headers={"Accept-Language": "th,en;q=0.5"}).text) \
        == ("th", "ltr")
    assert _html_lang(client.get("/login", headers={"Accept-Language": "de"}).text) == ("en",
                                                                                       "ltr")
    assert _html_lang(client.get("/login").text) == ("en", "ltr")


def test_the_login_page_switcher_sets_a_cookie_that_wins_over_the_browser(app, make):
    client = app.test_client()
    page = client.get("/login")
    assert 'action="/language"' in page.text and 'lang="ar"' in page.text
    response = client.post("/language", data={"locale": "ar", "next": "/login",
                                              "csrf_token": csrf_from(page.text)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("locale=ar") and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    page = client.get("/login", headers={"Accept-Language": "fr"})
    assert _html_lang(page.text) == ("ar", "rtl")
    # Without the CSRF token nothing is set; an outside address is not followed.
    assert client.post("/language", data={"locale": "th"}).status_code == 400
    away = client.post("/language", data={"locale": "th", "next": "//evil.example/",
                                          "csrf_token": csrf_from(page.text)})
    assert away.headers["Location"].endswith("/login")
    # After login, the profile's language wins over the cookie.
    user = make.user("caseworker")
    with app.app_context():
        db.session.get(User, user.id).locale = "vi"
        db.session.commit()
    web = login_web(app, user)
    web.client.set_cookie("locale", "th")
    assert _html_lang(web.get("/me/profile").text) == ("vi", "ltr")
