"""Casework configuration.

Three configurations — development, test and production — share one base. Every setting
can be overridden by an environment variable of the same name prefixed with ``CASEWORK_``
(``CASEWORK_DATABASE_URL`` sets ``DATABASE_URL``). ``CASEWORK_CONFIG`` picks the class.

Development generates the secret key and data keys it lacks into ``instance/`` so that
``make run`` works on a fresh clone; production refuses to start without them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("CASEWORK_INSTANCE_PATH", BASE_DIR / "instance"))


class ConfigError(RuntimeError):
    """A configuration that must not start; the message is one line for the operator."""


class BaseConfig:
    NAME = "base"
    DEBUG = False
    TESTING = False

    SECRET_KEY: str | None = None
    # JSON object {"key id": "base64 of 32 bytes", ...}; the last entry is the newest key.
    DATA_KEYS: str | None = None
    # Blind indexes (search-before-create, casework/survivors/search.py): base64 of 32 bytes,
    # a key of its own, never one of DATA_KEYS. Changing it needs `flask keys reindex`.
    BLIND_INDEX_KEY: str | None = None
    DATABASE_URL = f"sqlite:///{INSTANCE_DIR / 'casework.db'}"
    REDIS_URL: str | None = None
    # Encrypts backups (`flask backup create`): base64 of 32 bytes, a key of its own, never one
    # of DATA_KEYS, kept apart from the backups. Without it there are no backups; the app
    # still starts. Backups go to BACKUP_DIR (default instance/backups/).
    BACKUP_KEY: str | None = None
    BACKUP_DIR: str | None = None

    ORGANISATION_NAME = "Casework"
    DEFAULT_TIMEZONE = "UTC"
    DEFAULT_LOCALE = "en"
    # The compiled catalogs (make translations; .mo built by make run/test), found from this
    # file's location however the app is started (flask, gunicorn, tests, another cwd).
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")

    # Sessions: the cookie is unreadable by scripts and never sent cross-site.
    SESSION_COOKIE_NAME = "casework_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Strict"
    SESSION_COOKIE_SECURE = False
    # Server-side sessions (casework/sessions.py): in Redis when REDIS_URL is set, else in the
    # database. A session ends after SESSION_IDLE_TIMEOUT without a request
    # (CASEWORK_SESSION_IDLE_MINUTES) and PERMANENT_SESSION_LIFETIME after login.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    SESSION_IDLE_TIMEOUT = timedelta(minutes=15)
    SESSION_REDIS_PREFIX = "casework:session:"
    REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
    # Strict-Transport-Security, sent where the session cookie is Secure (production).
    HSTS_MAX_AGE = 2 * 365 * 24 * 3600

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024

    # Login throttling per username: this many failures within the window lock that name.
    LOGIN_FAILURE_LIMIT = "5 per minute"
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = False

    # Argon2id parameters (RFC 9106 second recommended option, lowered memory for small hosts).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 64 * 1024
    ARGON2_PARALLELISM = 2

    # Referrals: supervisor approval before issue (the organisation's own setting wins when
    # set), days a partner has to answer before the caseworker is alerted, and the address
    # printed on letters for verifying them.
    REFERRALS_NEED_APPROVAL = True
    # Closing a case asks a supervisor of the team to approve (the organisation's own setting
    # wins when set).
    CLOSURES_NEED_APPROVAL = False
    # Retention: closed cases are anonymised (flask retention run) this many years after
    # closure; None keeps them (the organisation's own setting wins when set).
    RETENTION_YEARS_AFTER_CLOSURE: int | None = None
    REFERRAL_RESPONSE_DAYS = 14
    LETTER_VERIFY_LIMIT = "30 per minute"
    PUBLIC_URL: str | None = None
    TRUSTED_PROXIES = 0  # reverse proxies whose X-Forwarded-* headers are believed

    # Outgoing email (the daily digest), through Flask-Mailman. MAIL_BACKEND "smtp" sends
    # through MAIL_SERVER; "console" prints, "locmem" keeps messages in memory (tests).
    MAIL_BACKEND = "smtp"
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER = "casework@localhost"
    MAIL_TIMEOUT = 30

    # Donor reports: counts from 1 to k-1 are suppressed (k = 11 as CMS and the Counter
    # Trafficking Data Collaborative use; never below 5). Also the k of the HTCDS export.
    REPORT_THRESHOLD = 11

    # Roles whose members must use two-step verification (TOTP) before they reach anything but
    # the enrolment page (CASEWORK_MFA_REQUIRED_ROLES: comma-separated roles, "all" for
    # everyone, empty for nobody). Anyone may still turn it on for themselves.
    MFA_REQUIRED_ROLES: tuple[str, ...] = ("supervisor", "admin")

    API_TOKEN_LIFETIME = timedelta(hours=12)
    BREAK_GLASS_DURATION = timedelta(minutes=30)

    # flask-smorest / OpenAPI
    API_TITLE = "Casework API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.1.0"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"

    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False


class DevelopmentConfig(BaseConfig):
    NAME = "development"
    PUBLIC_URL = "http://127.0.0.1:5000"
    DEBUG = False  # the Werkzeug debugger would expose survivor data on an error page
    MAIL_BACKEND = "console"


class TestConfig(BaseConfig):
    NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"
    DATA_KEYS = json.dumps({"test1": base64.b64encode(b"\x01" * 32).decode()})
    BACKUP_KEY = base64.b64encode(b"\x03" * 32).decode()
    BLIND_INDEX_KEY = base64.b64encode(b"\x04" * 32).decode()
    DATABASE_URL = "sqlite://"
    # Cheap hashing keeps the suite fast; the parameters are still argon2id.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 8
    ARGON2_PARALLELISM = 1
    MAIL_BACKEND = "locmem"
    # Nobody must enrol, so tests log supervisors and admins in with a password alone; the
    # MFA tests switch it on per test (tests/test_mfa.py, the ``mfa_required`` fixture).
    MFA_REQUIRED_ROLES: tuple[str, ...] = ()


class ProductionConfig(BaseConfig):
    NAME = "production"
    SESSION_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}

ENV_PREFIX = "CASEWORK_"
# Settings read from the environment, with how to parse them.
def _parse_bool(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, not {value!r}")


def _parse_threshold(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise ConfigError(f"expected a whole number, not {value!r}") from None
    if k < 5:
        raise ConfigError(f"the disclosure threshold must be at least 5, not {k}")
    return k


# The roles of casework/auth/models.py (ROLES); config.py is read before the app is imported.
USER_ROLES = ("caseworker", "counsellor", "supervisor", "admin", "donor")


def _parse_roles(value: str) -> tuple[str, ...]:
    """Comma-separated role names; "all" names every role; empty names none."""
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if names == ["all"]:
        return USER_ROLES
    unknown = [name for name in names if name not in USER_ROLES]
    if unknown:
        raise ConfigError(f"unknown role {unknown[0]!r}: expected some of {', '.join(USER_ROLES)}"
                          " (comma-separated), all, or nothing")
    return tuple(role for role in USER_ROLES if role in names)


def _parse_backup_key(value: str) -> str:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("CASEWORK_BACKUP_KEY must be base64 of 32 bytes") from None
    if len(key) != 32:
        raise ConfigError(f"CASEWORK_BACKUP_KEY must be base64 of 32 bytes, not {len(key)}")
    return value.strip()


def _parse_idle_minutes(value: str) -> timedelta:
    try:
        minutes = int(value)
    except ValueError:
        raise ConfigError(f"CASEWORK_SESSION_IDLE_MINUTES must be a whole number of minutes, "
                          f"not {value!r}") from None
    if not 1 <= minutes <= 8 * 60:
        raise ConfigError("CASEWORK_SESSION_IDLE_MINUTES must be from 1 to 480 (the session's "
                          f"8-hour limit), not {minutes}")
    return timedelta(minutes=minutes)


_ENV_PARSERS = {
    "BACKUP_KEY": _parse_backup_key,
    "BACKUP_DIR": str,
    "REPORT_THRESHOLD": _parse_threshold,
    "MFA_REQUIRED_ROLES": _parse_roles,
    "LOGIN_FAILURE_LIMIT": str,
    "REFERRALS_NEED_APPROVAL": _parse_bool,
    "CLOSURES_NEED_APPROVAL": _parse_bool,
    "RETENTION_YEARS_AFTER_CLOSURE": int,
    "REFERRAL_RESPONSE_DAYS": int,
    "LETTER_VERIFY_LIMIT": str,
    "PUBLIC_URL": str,
    "TRUSTED_PROXIES": int,
    "ORGANISATION_NAME": str,
    "DEFAULT_TIMEZONE": str,
    "DEFAULT_LOCALE": str,
    "ARGON2_TIME_COST": int,
    "ARGON2_MEMORY_COST": int,
    "ARGON2_PARALLELISM": int,
    "MAIL_BACKEND": str,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USE_TLS": _parse_bool,
    "MAIL_USE_SSL": _parse_bool,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_DEFAULT_SENDER": str,
    "MAIL_TIMEOUT": int,
}

# Settings whose variable, set but empty, means "none" rather than "not set".
_ENV_EMPTY_MEANS_NONE = frozenset({"MFA_REQUIRED_ROLES"})


def load_config(name: str | None = None, overrides: dict | None = None) -> dict:
    """Return the settings dict for ``name`` (or ``CASEWORK_CONFIG``), environment applied."""
    name = name or os.environ.get("CASEWORK_CONFIG", "development")
    if name not in CONFIGS:
        raise ConfigError(f"CASEWORK_CONFIG must be one of {', '.join(CONFIGS)}, not {name!r}")
    cls = CONFIGS[name]
    settings = {key: getattr(cls, key) for key in dir(cls) if key.isupper()}

    for key in ("SECRET_KEY", "DATA_KEYS", "BLIND_INDEX_KEY", "DATABASE_URL", "REDIS_URL"):
        value = os.environ.get(ENV_PREFIX + key)
        if value:
            settings[key] = value
    for key, parse in _ENV_PARSERS.items():
        value = os.environ.get(ENV_PREFIX + key)
        if value or (value is not None and key in _ENV_EMPTY_MEANS_NONE):
            settings[key] = parse(value)
    idle = os.environ.get(ENV_PREFIX + "SESSION_IDLE_MINUTES")
    if idle:
        settings["SESSION_IDLE_TIMEOUT"] = _parse_idle_minutes(idle)
    if overrides:
        settings.update(overrides)

    if name == "production":
        if not settings.get("SECRET_KEY"):
            raise ConfigError("production needs CASEWORK_SECRET_KEY (a long random string)")
        if not settings.get("DATA_KEYS"):
            raise ConfigError('production needs CASEWORK_DATA_KEYS (JSON: {"key-id": "base64 key"})')
        if not settings.get("BLIND_INDEX_KEY"):
            raise ConfigError("production needs CASEWORK_BLIND_INDEX_KEY (base64 of 32 bytes)")
    elif name == "development":
        _fill_development_keys(settings)
        if not settings.get("BACKUP_KEY"):
            # Read, or made by the first `flask backup create` (read_or_create_backup_key).
            settings["BACKUP_KEY_FILE"] = str(INSTANCE_DIR / "backup_key")

    settings["DATABASE_URL"] = normalise_database_url(settings["DATABASE_URL"])
    settings["SQLALCHEMY_DATABASE_URI"] = settings["DATABASE_URL"]
    if settings.get("REDIS_URL") and settings.get("RATELIMIT_STORAGE_URI") == "memory://":
        settings["RATELIMIT_STORAGE_URI"] = settings["REDIS_URL"]
    return settings


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common ``postgres://`` spellings."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _fill_development_keys(settings: dict) -> None:
    """Create instance/secret_key and instance/data_keys.json on first start."""
    if not settings.get("BLIND_INDEX_KEY"):
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        settings["BLIND_INDEX_KEY"] = _read_or_create(
            INSTANCE_DIR / "blind_index_key",
            lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        )
    if settings.get("SECRET_KEY") and settings.get("DATA_KEYS"):
        return
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    if not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = _read_or_create(
            INSTANCE_DIR / "secret_key", lambda: secrets.token_urlsafe(48)
        )
    if not settings.get("DATA_KEYS"):
        settings["DATA_KEYS"] = _read_or_create(
            INSTANCE_DIR / "data_keys.json",
            lambda: json.dumps({"dev1": base64.b64encode(secrets.token_bytes(32)).decode()}),
        )


def read_or_create_backup_key(path: str | Path, create: bool) -> str | None:
    """Development's instance/backup_key, made at the first backup rather than at start."""
    path = Path(path)
    if not create and not path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return _parse_backup_key(
        _read_or_create(path, lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    )


def _read_or_create(path: Path, make) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value
