"""Configuration: production refuses to start without its secrets, development makes its
own, database URLs are normalised, and the production session cookie is Secure."""

from __future__ import annotations

import base64
import gc
import json
import os
import stat

import pytest

import config
from casework import create_app
from casework.extensions import db
from config import ConfigError, load_config, normalise_database_url

DATA_KEYS = json.dumps({"k1": base64.b64encode(b"\x02" * 32).decode()})
SECRET = "s" * 48
BLIND_INDEX_KEY = base64.b64encode(b"\x05" * 32).decode()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No CASEWORK_* variable of the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("CASEWORK_"):
            monkeypatch.delenv(name)


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message, repr(message)
    return message


# --- production --------------------------------------------------------------------------------


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    monkeypatch.setenv("CASEWORK_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("CASEWORK_BLIND_INDEX_KEY", BLIND_INDEX_KEY)
    with pytest.raises(ConfigError) as caught:
        load_config("production")
    assert "CASEWORK_SECRET_KEY" in _one_line(caught.value)


def test_production_refuses_to_start_without_data_keys(monkeypatch):
    monkeypatch.setenv("CASEWORK_SECRET_KEY", SECRET)
    with pytest.raises(ConfigError) as caught:
        load_config("production")
    assert "CASEWORK_DATA_KEYS" in _one_line(caught.value)


def test_production_refuses_to_start_with_neither(monkeypatch):
    with pytest.raises(ConfigError) as caught:
        load_config("production")
    _one_line(caught.value)


def test_production_refuses_to_start_without_blind_index_key(monkeypatch):
    monkeypatch.setenv("CASEWORK_SECRET_KEY", SECRET)
    monkeypatch.setenv("CASEWORK_DATA_KEYS", DATA_KEYS)
    with pytest.raises(ConfigError) as caught:
        load_config("production")
    assert "CASEWORK_BLIND_INDEX_KEY" in _one_line(caught.value)


def test_production_treats_empty_values_as_missing(monkeypatch):
    monkeypatch.setenv("CASEWORK_SECRET_KEY", "")
    monkeypatch.setenv("CASEWORK_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("CASEWORK_BLIND_INDEX_KEY", BLIND_INDEX_KEY)
    with pytest.raises(ConfigError, match="CASEWORK_SECRET_KEY"):
        load_config("production")


def test_create_app_refuses_production_without_secrets(monkeypatch):
    monkeypatch.setenv("CASEWORK_CONFIG", "production")
    with pytest.raises(ConfigError):
        create_app()


def test_production_never_generates_keys(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    with pytest.raises(ConfigError):
        load_config("production")
    assert list(tmp_path.iterdir()) == []


def test_production_with_secrets_loads_with_secure_cookie(monkeypatch):
    monkeypatch.setenv("CASEWORK_SECRET_KEY", SECRET)
    monkeypatch.setenv("CASEWORK_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("CASEWORK_BLIND_INDEX_KEY", BLIND_INDEX_KEY)
    settings = load_config("production")
    assert settings["SECRET_KEY"] == SECRET
    assert settings["DATA_KEYS"] == DATA_KEYS
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SESSION_COOKIE_SAMESITE"] == "Strict"
    assert settings["DEBUG"] is False
    assert settings["TESTING"] is False


def test_production_session_cookie_is_sent_secure(monkeypatch, tmp_path):
    monkeypatch.setenv("CASEWORK_SECRET_KEY", SECRET)
    monkeypatch.setenv("CASEWORK_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("CASEWORK_BLIND_INDEX_KEY", BLIND_INDEX_KEY)
    monkeypatch.setenv("CASEWORK_DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    app = create_app("production")
    assert app.instance_path == str(tmp_path / "instance")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with app.app_context():  # sessions live in the database (no Redis configured)
        db.create_all()
    # The login page stores its CSRF token in the session, so it sets the cookie.
    response = app.test_client().get("/login", base_url="https://casework.example")
    assert response.status_code == 200
    cookies = [c for c in response.headers.getlist("Set-Cookie")
               if c.startswith("casework_session=")]
    assert cookies, response.headers
    attributes = [part.strip().lower() for part in cookies[0].split(";")]
    assert "secure" in attributes
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    with app.app_context():
        db.engine.dispose()


def test_development_and_test_cookies_are_not_secure_only(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    assert load_config("development")["SESSION_COOKIE_SECURE"] is False
    assert load_config("test")["SESSION_COOKIE_SECURE"] is False


# --- database URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://cw:pw@db.example:5432/casework",
         "postgresql+psycopg://cw:pw@db.example:5432/casework"),
        ("postgresql://cw@localhost/casework", "postgresql+psycopg://cw@localhost/casework"),
        ("postgresql+psycopg://cw@localhost/casework",
         "postgresql+psycopg://cw@localhost/casework"),
        ("sqlite:////var/lib/casework.db", "sqlite:////var/lib/casework.db"),
    ],
)
def test_database_url_is_normalised(given, expected):
    assert normalise_database_url(given) == expected


def test_database_url_from_environment_is_normalised(monkeypatch):
    monkeypatch.setenv("CASEWORK_SECRET_KEY", SECRET)
    monkeypatch.setenv("CASEWORK_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("CASEWORK_BLIND_INDEX_KEY", BLIND_INDEX_KEY)
    monkeypatch.setenv("CASEWORK_DATABASE_URL", "postgres://cw:secret@db:5432/casework")
    settings = load_config("production")
    assert settings["DATABASE_URL"] == "postgresql+psycopg://cw:secret@db:5432/casework"
    assert settings["SQLALCHEMY_DATABASE_URI"] == settings["DATABASE_URL"]


# --- development -------------------------------------------------------------------------------


def test_development_generates_keys_into_instance_dir(monkeypatch, tmp_path):
    instance = tmp_path / "instance"
    monkeypatch.setattr(config, "INSTANCE_DIR", instance)
    settings = load_config("development")

    secret_file = instance / "secret_key"
    keys_file = instance / "data_keys.json"
    assert secret_file.read_text() == settings["SECRET_KEY"]
    assert keys_file.read_text() == settings["DATA_KEYS"]
    assert len(settings["SECRET_KEY"]) >= 32
    keys = json.loads(settings["DATA_KEYS"])
    assert keys and all(len(base64.b64decode(v)) == 32 for v in keys.values())
    for path in (secret_file, keys_file):  # secrets readable by the owner only
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    # A second start reuses them: sessions and encrypted data survive a restart.
    again = load_config("development")
    assert again["SECRET_KEY"] == settings["SECRET_KEY"]
    assert again["DATA_KEYS"] == settings["DATA_KEYS"]


def test_development_keeps_keys_given_in_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    monkeypatch.setenv("CASEWORK_SECRET_KEY", SECRET)
    monkeypatch.setenv("CASEWORK_DATA_KEYS", DATA_KEYS)
    monkeypatch.setenv("CASEWORK_BLIND_INDEX_KEY", BLIND_INDEX_KEY)
    settings = load_config("development")
    assert settings["SECRET_KEY"] == SECRET
    assert settings["DATA_KEYS"] == DATA_KEYS
    assert list(tmp_path.iterdir()) == []


def test_development_is_never_in_debug_mode(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path)
    assert load_config("development")["DEBUG"] is False


# --- selection and overrides -------------------------------------------------------------------


def test_unknown_configuration_name_is_refused(monkeypatch):
    monkeypatch.setenv("CASEWORK_CONFIG", "staging")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert "staging" in _one_line(caught.value)


def test_casework_config_picks_the_class(monkeypatch):
    monkeypatch.setenv("CASEWORK_CONFIG", "test")
    assert load_config()["NAME"] == "test"


def test_environment_overrides_are_parsed(monkeypatch):
    monkeypatch.setenv("CASEWORK_ARGON2_TIME_COST", "4")
    monkeypatch.setenv("CASEWORK_LOGIN_FAILURE_LIMIT", "3 per minute")
    settings = load_config("test")
    assert settings["ARGON2_TIME_COST"] == 4
    assert settings["LOGIN_FAILURE_LIMIT"] == "3 per minute"


def test_redis_url_becomes_the_rate_limit_storage(monkeypatch):
    monkeypatch.setenv("CASEWORK_REDIS_URL", "redis://cache:6379/0")
    settings = load_config("test")
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"


def test_behind_a_trusted_proxy_the_client_address_and_scheme_come_from_it(monkeypatch,
                                                                          tmp_path):
    from casework import create_app

    monkeypatch.setenv("CASEWORK_TRUSTED_PROXIES", "1")
    app = create_app({"CONFIG": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"})
    assert app.config["TRUSTED_PROXIES"] == 1
    from casework.extensions import db

    with app.app_context():
        db.create_all()
    seen = {}
    proxy_fix = app.wsgi_app
    inner = proxy_fix.app

    def recording(environ, start_response):
        seen.update(environ)
        return inner(environ, start_response)

    proxy_fix.app = recording
    app.test_client().get("/login", headers={"X-Forwarded-For": "203.0.113.7",
                                              "X-Forwarded-Proto": "https"})
    assert seen["REMOTE_ADDR"] == "203.0.113.7" and seen["wsgi.url_scheme"] == "https"


def test_without_trusted_proxies_forwarded_headers_are_ignored(tmp_path):
    from casework import create_app

    app = create_app({"CONFIG": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"})
    assert app.config["TRUSTED_PROXIES"] == 0
    assert "ProxyFix" not in type(app.wsgi_app).__name__


def test_every_connection_is_set_up_for_its_engine(app):
    """PostgreSQL plans each statement for its own values (no generic plan once psycopg has
    prepared it); SQLite enforces foreign keys and keeps a write-ahead log."""
    from sqlalchemy import text

    with app.app_context():
        for _ in range(2):  # a new connection as well as the pool's first
            with db.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    assert conn.execute(text("SHOW plan_cache_mode")).scalar() == \
                        "force_custom_plan"
                else:
                    assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
                    assert conn.execute(text("PRAGMA journal_mode")).scalar() in ("wal",
                                                                                  "memory")
            db.engine.dispose()


# --- the process ---------------------------------------------------------------------------------


def test_the_app_collects_garbage_less_often_than_pythons_default(monkeypatch):
    """A list page allocates thousands of objects: the young generation's threshold is
    raised from Python's 700, and a higher one a server set is kept."""
    monkeypatch.setattr(gc, "set_threshold", lambda *values: thresholds.__setitem__(0, values))
    thresholds = [(700, 10, 10)]
    monkeypatch.setattr(gc, "get_threshold", lambda: thresholds[0])
    create_app("test")
    assert thresholds[0][0] >= 50_000 and thresholds[0][1:] == (10, 10)
    thresholds[0] = (200_000, 20, 20)
    create_app("test")
    assert thresholds[0] == (200_000, 20, 20)
