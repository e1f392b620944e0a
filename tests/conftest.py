"""Test fixtures. The whole suite runs once per engine: CASEWORK_TEST_ENGINE=sqlite (default)
or postgresql. A PostgreSQL run creates its own database and drops it at the end."""

from __future__ import annotations

import os
import re
import uuid
from contextlib import contextmanager
from datetime import date

import psycopg
import pytest
from sqlalchemy import text

from casework import create_app
from casework.extensions import db, limiter

ENGINE = os.environ.get("CASEWORK_TEST_ENGINE", "sqlite")
PG_ADMIN_URL = os.environ.get("CASEWORK_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "correct horse battery"


def pytest_report_header(config):
    return f"casework database engine: {ENGINE}"


@contextmanager
def scratch_database(tmp_path_factory, prefix: str):
    """The URL of an empty database of this run's engine, removed afterwards: a SQLite file
    in a temporary folder, or a PostgreSQL database created here and dropped at the end."""
    if ENGINE == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp(prefix) / 'casework.db'}"
        return
    if ENGINE != "postgresql":
        raise RuntimeError(f"CASEWORK_TEST_ENGINE must be sqlite or postgresql, not {ENGINE}")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with scratch_database(tmp_path_factory, "casework_test") as url:
        yield url


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app({"CONFIG": "test", "DATABASE_URL": database_url})
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def _empty_all_tables():
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # TRUNCATE fires no row triggers, so the append-only audit table empties too.
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            from casework import append_only

            for statement in append_only.drop_statements("sqlite"):
                conn.execute(text(statement))
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
            for statement in append_only.create_statements("sqlite"):
                conn.execute(text(statement))


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Each test starts from empty tables and fresh throttling counters."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        _empty_all_tables()
        limiter.reset()
    yield


@pytest.fixture
def ctx(app):
    """An application context for calling services directly."""
    with app.test_request_context("/"):
        yield
        db.session.rollback()


# --- factories -----------------------------------------------------------------------------------


class Factory:
    """Builds users and survivors through the real services, committed."""

    def __init__(self, app):
        self.app = app

    def user(self, role="caseworker", team="North", username=None, **kwargs):
        from casework.auth.service import create_user

        with self.app.test_request_context("/"):
            user = create_user(username or f"{role}-{uuid.uuid4().hex[:6]}", role, PASSWORD,
                               team=team if role in ("caseworker", "counsellor",
                                                     "supervisor") else None, **kwargs)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def survivor(self, lead, **fields):
        from casework.auth.models import User
        from casework.survivors import service

        data = {
            "intake_date": date(2026, 1, 15),
            "gender": "Feminine",
            "first_name": "Testa",
            "last_name": "Synthetic",
            "date_of_birth": date(1995, 5, 4),
            "narrative": "Synthetic narrative.",
            "risk_level": "medium",
            **fields,
        }
        with self.app.test_request_context("/"):
            actor = db.session.get(User, lead.id)
            survivor = service.create(actor, data)
            db.session.commit()
            return survivor.id


@pytest.fixture
def make(app):
    return Factory(app)


# --- clients -------------------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class WebClient:
    """A browser-like client: CSRF protection stays on, tokens come from the pages."""

    def __init__(self, app):
        self.client = app.test_client()

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post_form(self, url, data, page=None, **kw):
        """POST ``data`` with the CSRF token of ``page`` (default: ``url`` itself)."""
        token = csrf_from(self.client.get(page or url).text)
        return self.client.post(url, data={**data, "csrf_token": token}, **kw)

    def login(self, username, password=PASSWORD):
        response = self.post_form("/login", {"username": username, "password": password})
        assert response.status_code == 302, response.text[:500]
        return response


@pytest.fixture
def web(app):
    return WebClient(app)


def login_web(app, user) -> WebClient:
    client = WebClient(app)
    client.login(user.username)
    return client


class ApiClient:
    def __init__(self, app, token=None):
        self.client = app.test_client()
        self.token = token

    def _headers(self, extra=None):
        headers = dict(extra or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def get(self, url, **kw):
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(kw.pop("headers", None)),
                                **kw)

    def patch(self, url, json=None, **kw):
        return self.client.patch(url, json=json, headers=self._headers(kw.pop("headers", None)),
                                 **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)


def login_api(app, user) -> ApiClient:
    client = ApiClient(app)
    response = client.post("/api/v1/auth/token",
                           json={"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.json
    client.token = response.json["token"]
    return client


@pytest.fixture
def api(app):
    return ApiClient(app)
