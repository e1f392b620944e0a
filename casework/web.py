"""Wiring of the app: extensions, blueprints, request hooks, error pages, CLI."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import bindparam, event, select
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException

from .extensions import babel, csrf, db, limiter, login_manager, mail, migrate

# Endpoints reachable without logging in (deny by default; principle 1).
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static", "set_language", "api-docs.openapi_json", "api_auth.Token",
                              "referrals.verify_letter", "referrals_api.verify_letter"})
# Packages with pages (views.bp); those with API routes (api.blp) are in casework/api.
FEATURE_PACKAGES = ("main", "auth", "survivors", "admin", "shelters", "counselling", "training",
                    "legal", "plans", "me", "consent", "referrals", "supervision", "programmes",
                    "reports", "retention", "imports", "apidocs")
# Everyone signed in, donors too, reaches their own password and two-step verification pages.
ACCOUNT_ENDPOINTS = frozenset({"me.profile", "me.tokens", "me.revoke_token",
                               "auth.change_password", "auth.mfa_settings",
                               "auth.mfa_enrol",
                               "auth.mfa_recovery_codes", "auth.mfa_disable"})
# Donors see aggregates only (principle 3): besides the public endpoints, a donor reaches
# these pages (their reports, logging out) and these API paths (their profile, their reports;
# DELETE /api/v1/auth/token is public). Anything else answers 404, as if it did not exist.
DONOR_ENDPOINTS = frozenset({"main.home", "auth.logout", "reports.index", "reports.view",
                             "reports.pdf", "reports.csv"}) | ACCOUNT_ENDPOINTS
DONOR_API_PATHS = re.compile(r"/api/v1/(me|reports(/.+)?|programmes(/[^/]+)?)")
# A user whose role must use two-step verification (MFA_REQUIRED_ROLES) and who has not set it
# up reaches only these (and the public endpoints) until they have; the API answers 403.
MFA_ENROLMENT_ENDPOINTS = frozenset({"auth.mfa_enrol", "auth.logout"})
RTL_LOCALES = frozenset({"ar", "fa", "he", "ur"})
# The languages of the interface (translations/<locale>), English first (the msgids).
SUPPORTED_LOCALES = ("en", "es", "fr", "ar", "th", "vi", "uk")
# Chosen before login by the switcher on the login page (set_language); a logged-in user's
# profile language wins over it.
LOCALE_COOKIE = "locale"
LOCALE_COOKIE_MAX_AGE = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    _init_database(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    app.add_url_rule("/language", "set_language", set_language, methods=["POST"])
    limiter.init_app(app)
    mail.init_app(app)
    _init_login(app)
    from . import sessions

    sessions.init_app(app)  # server-side sessions; none for /api/

    import importlib

    from . import models  # noqa: F401  (register every model with the metadata)

    for package in FEATURE_PACKAGES:
        app.register_blueprint(importlib.import_module(f"casework.{package}.views").bp)

    from .api import init_api

    init_api(app)

    from .cli import register_cli

    register_cli(app)

    app.before_request(_refuse_deep_json)
    app.before_request(_require_login)
    app.after_request(_finish_unit_of_work)
    app.teardown_request(_teardown_unit_of_work)
    app.after_request(_security_headers)
    app.context_processor(_template_context)
    app.register_error_handler(HTTPException, _html_error)

    from .i18n import register_filters

    register_filters(app)


def _init_database(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {})
        options["connect_args"] = {**options["connect_args"], "timeout": 30}
        if url in ("sqlite://", "sqlite:///:memory:"):
            from sqlalchemy.pool import StaticPool

            options["poolclass"] = StaticPool
            options["connect_args"]["check_same_thread"] = False
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)


@event.listens_for(Engine, "connect")
def _postgresql_custom_plans(dbapi_connection, connection_record):
    """PostgreSQL: plan every statement for its own values. psycopg prepares a statement
    run five times on a connection, and PostgreSQL may then switch it to one generic plan;
    for a query scoped to a user or team (a team's few thousand survivors among all) that
    plan ignores how few rows the values select: a supervisor's alert count went from 55 to
    180 ms on every page from the eleventh on (bench/scale.py). Needs PostgreSQL 12."""
    if type(dbapi_connection).__module__.split(".")[0] != "psycopg":  # psycopg 3
        return
    if dbapi_connection.info.server_version >= 120000:
        dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.commit()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys, write-ahead log, and let SQLAlchemy manage BEGIN."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin_immediate(conn):
    # Every request appends to the audit chain, so every transaction writes: take the write
    # lock at BEGIN, so two requests queue instead of failing on a stale chain head.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _init_login(app: Flask) -> None:
    from .auth.models import User

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    # Built once: every page loads its user.
    user_by_id = select(User).where(User.id == bindparam("user_id"))

    @login_manager.user_loader
    def load_user(user_id: str):
        if request.path.startswith("/api/"):
            return None
        user_uuid, _, generation = user_id.partition(":")
        try:
            import uuid

            user = db.session.execute(user_by_id, {"user_id": uuid.UUID(user_uuid)}
                                      ).scalar_one_or_none()
        except ValueError:
            return None
        if user is None or not user.active or str(user.session_generation) != generation:
            return None
        return user

    @login_manager.request_loader
    def load_user_from_token(req):
        if not req.path.startswith("/api/"):
            return None
        header = req.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        from .auth.service import user_for_token

        found = user_for_token(token.strip())
        if found is None:
            return None
        user, token_record = found
        g.api_token = token_record
        return user


def _is_api() -> bool:
    return request.path.startswith("/api/")


MAX_JSON_DEPTH = 32


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in ``body``, without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _refuse_deep_json():
    """No API body nests deeper than a few levels; deeper ones would exhaust the parser."""
    if request.is_json and request.content_length:
        if json_depth(request.get_data(cache=True)) > MAX_JSON_DEPTH:
            from .api.errors import problem

            return problem(400, detail="The JSON body is nested too deeply.")
    return None


def _require_login():
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if current_user.is_authenticated:
        if request.endpoint not in MFA_ENROLMENT_ENDPOINTS:
            refusal = _refuse_until_enrolled()
            if refusal is not None:
                return refusal
        if current_user.role == "donor" and not _donor_may_reach():
            from werkzeug.exceptions import NotFound

            from .audit import record_denial

            record_denial(current_user, "donor.denied", reason=request.path[:200])
            raise NotFound()
        return None
    if _is_api():
        from .api.errors import problem

        return problem(401, detail="Send a valid bearer token: Authorization: Bearer <token>.")
    from .sessions import redirect_to_login_if_ended

    return redirect_to_login_if_ended() or login_manager.unauthorized()


def _refuse_until_enrolled():
    from .auth.mfa import must_enrol

    if not must_enrol(current_user):
        return None
    if _is_api():
        from .api.errors import problem

        return problem(403, title="Two-step verification required",
                       detail="Your role must use two-step verification (MFA) and you have not "
                              "set it up: log in to the web app, set it up at /me/mfa/enrol, "
                              "then ask for a new token.")
    from flask import redirect, url_for

    return redirect(url_for("auth.mfa_enrol"))  # the page says why


def _donor_may_reach() -> bool:
    if _is_api():
        return DONOR_API_PATHS.fullmatch(request.path) is not None
    return request.endpoint in DONOR_ENDPOINTS


def _finish_unit_of_work(response):
    """One unit of work per request: commit once if it succeeded, else roll back."""
    from .audit import flush_denials
    from .sessions import refresh_in_unit_of_work

    committed = False
    if response.status_code < 400:
        refresh_in_unit_of_work()
        db.session.flush()
        # The response is built and nothing after the commit reads a loaded record: leaving
        # the session now spares the commit expiring each object (a list's fifty survivors)
        # only for the request's teardown to discard them.
        db.session.expunge_all()
        db.session.commit()
        committed = True
    else:
        db.session.rollback()
    flush_denials(committed)
    return response


def _teardown_unit_of_work(exc):
    if exc is not None:
        db.session.rollback()


def _security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'",
    )
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        # Production (served over TLS only): browsers never try plain HTTP again.
        response.headers.setdefault("Strict-Transport-Security",
                                    f"max-age={current_app.config['HSTS_MAX_AGE']}; "
                                    "includeSubDomains")
    if request.endpoint != "static":
        # Pages may carry survivor data: never kept by the browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in_user():
    """The logged-in user, or None (outside a request, or before Flask-Login loaded one)."""
    from flask import has_request_context

    if not has_request_context():
        return None
    user = current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def _select_locale():
    """The profile's language; else the login page's switcher (cookie); else the browser's
    Accept-Language; else English."""
    from flask import has_request_context

    if not has_request_context():
        return None  # the default locale (letters force their own)
    user = _signed_in_user()
    if user is not None and user.locale in SUPPORTED_LOCALES:
        return user.locale
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in SUPPORTED_LOCALES:
        return chosen
    return request.accept_languages.best_match(SUPPORTED_LOCALES) or "en"


def _select_timezone():
    """The user's own time zone (profile); else the organisation's (BABEL_DEFAULT_TIMEZONE)."""
    user = _signed_in_user()
    zone = getattr(user, "timezone", None) if user is not None else None
    if zone and zone in available_timezones():
        return zone
    return None


def available_timezones() -> frozenset[str]:
    from zoneinfo import available_timezones as zones

    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(zones())
    return _TIMEZONES


_TIMEZONES: frozenset[str] | None = None


def locale_names() -> list[tuple[str, str]]:
    """(locale, its name in its own language) of every supported locale, for switchers."""
    from babel import Locale

    return [(code, Locale.parse(code).get_display_name(code)) for code in SUPPORTED_LOCALES]


def _safe_next(target: str | None) -> str | None:
    """A path on this site only (no scheme, no host, no //evil.example)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def set_language():
    """POST /language (CSRF-checked like every form): remember the chosen language in a cookie
    and go back. Public, so the login page can offer it."""
    from flask import redirect, url_for

    chosen = request.form.get("locale", "")
    target = _safe_next(request.form.get("next")) or url_for("auth.login")
    response = redirect(target)
    if chosen in SUPPORTED_LOCALES:
        response.set_cookie(LOCALE_COOKIE, chosen, max_age=LOCALE_COOKIE_MAX_AGE, httponly=True,
                            samesite="Lax", secure=current_app.config.get(
                                "SESSION_COOKIE_SECURE", False))
    return response


def _template_context():
    from .i18n import render_language

    language = render_language()
    locale = language.locale_name
    return {
        "_language": language,
        "current_locale": locale.replace("_", "-"),
        "text_direction": "rtl" if locale.split("_")[0] in RTL_LOCALES else "ltr",
        "supported_locales": locale_names,
    }


def _html_error(error: HTTPException):
    if _is_api():
        from .api.errors import flatten_messages, problem

        # Arguments refused by webargs/flask-smorest carry their messages in ``data``.
        data = getattr(error, "data", None)
        messages = data.get("messages") if isinstance(data, dict) else None
        errors = flatten_messages(messages) if messages else None
        detail = error.description
        if errors:
            detail = "; ".join(
                " ".join(texts) if name == "_schema" else f"{name}: {' '.join(texts)}"
                for name, texts in errors.items()
            )
        return problem(error.code or 500, detail=detail, errors=errors,
                       fields=getattr(error, "fields", None))
    title, default_description = ERROR_TEXTS.get(error.code, (error.name, ""))
    if error.code == 400 and getattr(error, "description", "").startswith("The CSRF"):
        description = _l("The form had expired or was sent from elsewhere. Please try again.")
    elif error.description == type(error).description:
        # werkzeug's own English sentence: ours, in the user's language, instead.
        description = default_description
    else:
        description = error.description  # a message the app gave, already translated
    response = render_template(
        "errors/error.html", code=error.code, title=title, description=description
    )
    return response, error.code


# The error pages' titles and explanations, in the user's language.
ERROR_TEXTS = {
    400: (_l("Bad request"), _l("The request could not be understood. Please try again.")),
    403: (_l("Forbidden"), _l("You do not have access to this page.")),
    404: (_l("Not found"), _l("There is no such page, or it is not yours to see.")),
    405: (_l("Method not allowed"), _l("This page cannot be used that way.")),
    413: (_l("File too large"), _l("The file or form sent is larger than allowed.")),
    422: (_l("Not valid"), _l("Some of what was sent is not valid.")),
    429: (_l("Too many requests"), _l("Too many requests in a short time. Wait a minute "
                                        "and try again.")),
    500: (_l("Something went wrong"), _l("The error has been recorded. Please try again "
                                           "later.")),
}


__all__ = ["init_app", "jsonify"]
