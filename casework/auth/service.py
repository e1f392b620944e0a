"""Authentication: credentials and the second step, per-user throttling, API tokens, password
rules and changes, user administration."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import format_number
from flask_babel import gettext as _
from limits import parse
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from .. import access, audit
from ..extensions import db, limiter
from . import mfa
from .models import ROLES, TEAM_ROLES, ApiToken, Team, User
from .passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    burn_time,
    hash_password,
    is_common,
    needs_rehash,
    verify_password,
)


class LoginThrottled(Exception):
    """Too many failures for this username; the same answer whether it exists or not."""


class InvalidCredentials(Exception):
    """Wrong username, password or code: one answer for all three (and for an unknown or
    deactivated user), so that none of them can be told apart."""


class UserError(ValueError):
    """A user-administration request that cannot be carried out, with the reason."""


def _throttle_limit():
    return parse(current_app.config["LOGIN_FAILURE_LIMIT"])


# In no username, and unusable as a query parameter (PostgreSQL refuses NUL; no driver can
# encode a lone surrogate from JSON "\ud800"), nor in the audit chain's hash.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _throttle_key(username: str) -> str:
    return _UNPRINTABLE.sub("\ufffd", (username or "").strip().casefold()[:64])


def authenticate(username: str, password: str, otp: str | None = None) -> User:
    """Check credentials, and the code of a user with two-step verification on, in one step
    (as SecureDrop does); raise LoginThrottled or InvalidCredentials. Audits either way.

    Wrong codes count towards the same per-user throttle as wrong passwords. A code is
    checked whether or not the password is right, but taken (made unusable) only when both
    are; a recovery code may stand in for the code."""
    key = _throttle_key(username)
    if not limiter.limiter.test(_throttle_limit(), "login", key):
        audit.record_denial(None, "auth.login_throttled", actor_username=key)
        raise LoginThrottled()
    user = None
    if not _UNPRINTABLE.search(username or ""):
        user = db.session.scalar(select(User).where(func.lower(User.username) == key))
    if user is None:
        burn_time(password)
        ok = False
    else:
        ok = verify_password(user.password_hash, password) and user.active
    failure = "auth.login_failed"
    if user is not None and user.mfa_enabled:
        match = mfa.check_code(user, otp)
        if ok and not (match is not None and mfa.consume(user, match)):
            ok = False
            failure = "auth.mfa_failed"
    if not ok:
        limiter.limiter.hit(_throttle_limit(), "login", key)
        audit.record_denial(user, failure, actor_username=key)
        raise InvalidCredentials()
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = datetime.now(UTC)
    audit.record(user, "auth.login")
    return user


def confirm_identity(user: User, password: str | None, code: str | None = None, *,
                     need_code: bool = False) -> None:
    """Ask a signed-in user again before a change that matters (a new password, turning
    two-step verification off, new recovery codes): their password (unless None) and, with
    ``need_code``, a current code. Throttled and audited like a login, so a session left
    open cannot be used to guess the password or the codes."""
    key = _throttle_key(user.username)
    if not limiter.limiter.test(_throttle_limit(), "login", key):
        audit.record_denial(user, "auth.login_throttled", actor_username=key)
        raise LoginThrottled()
    ok = password is None or verify_password(user.password_hash, password)
    failure = "auth.password_confirm_failed"
    if need_code:
        match = mfa.check_code(user, code) if user.mfa_enabled else None
        if ok and not (match is not None and mfa.consume(user, match)):
            ok = False
            failure = "auth.mfa_failed"
    if not ok:
        limiter.limiter.hit(_throttle_limit(), "login", key)
        audit.record_denial(user, failure, actor_username=key)
        raise InvalidCredentials()


# --- API tokens ------------------------------------------------------------------------------


@dataclass
class IssuedToken:
    token: str
    record: ApiToken


# The lifetimes a personal access token made on the profile page may have.
PERSONAL_TOKEN_DAYS = (7, 30, 90, 365)


def issue_token(user: User, name: str = "api", lifetime: timedelta | None = None) -> IssuedToken:
    """A new bearer token for ``user``; only its digest is stored, the token is returned once.
    ``lifetime``: the API login's (API_TOKEN_LIFETIME) unless a personal token asks for one
    of PERSONAL_TOKEN_DAYS."""
    token = "cw_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    record = ApiToken(
        user=user,
        name=name,
        token_hash=ApiToken.digest(token),
        created_at=now,
        expires_at=now + (lifetime or current_app.config["API_TOKEN_LIFETIME"]),
    )
    db.session.add(record)
    db.session.flush()
    audit.record(user, "auth.token_issued", subject=None)
    return IssuedToken(token, record)


def user_for_token(token: str) -> tuple[User, ApiToken] | None:
    record = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.digest(token)))
    now = datetime.now(UTC)
    if record is None or not record.is_valid(now):
        return None
    record.last_used_at = now
    return record.user, record


def active_tokens(user: User) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    now = datetime.now(UTC)
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                               ApiToken.expires_at > now)
        .order_by(ApiToken.created_at.desc())))


def revoke_own_token(user: User, token_id) -> None:
    """Revoke one of the user's own tokens; another user's (or no) token is NotFound."""
    record = db.session.get(ApiToken, token_id)
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        raise NotFound()
    revoke_token(record)


def revoke_token(record: ApiToken) -> None:
    record.revoked_at = datetime.now(UTC)
    access.end_break_glass(record.user, access.token_session_digest(record.id))
    audit.record(record.user, "auth.token_revoked")


# --- administration ----------------------------------------------------------------------------


def check_password_rules(password: str, username: str | None = None) -> None:
    """ASVS 6.2: at least 12 characters (counted as characters, not bytes), at most 1024, not
    a common password, not the username. No composition rules and no expiry (6.2.5, 6.2.10)."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(_("The password must have at least %(count)s characters.",
                          count=format_number(MIN_PASSWORD_LENGTH)))
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(_("The password must have at most %(count)s characters.",
                          count=format_number(MAX_PASSWORD_LENGTH)))
    if username and password.strip().casefold() == username.strip().casefold():
        raise UserError(_("The password must not be the username."))
    if is_common(password):
        raise UserError(_("This password is on a list of common passwords that attackers try "
                          "first. Choose another: a few unrelated words make a good one."))


def create_user(username: str, role: str, password: str, *, team: str | None = None,
                display_name: str | None = None, email: str | None = None,
                actor: User | None = None) -> User:
    username = username.strip()
    if (not username or len(username) > 64 or any(ch.isspace() for ch in username)
            or _UNPRINTABLE.search(username)):
        raise UserError(_("The username must be 1 to 64 characters without spaces."))
    for message, value in ((_("The name must not contain control characters."), display_name),
                           (_("The team must not contain control characters."), team),
                           (_("The email address must not contain control characters."), email)):
        if value and _UNPRINTABLE.search(value):
            raise UserError(message)
    if role not in ROLES:
        raise UserError(_("The role must be one of: %(roles)s.", roles=", ".join(ROLES)))
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise UserError(_("A user named %(name)s already exists.", name=repr(username)))
    if team and role not in TEAM_ROLES:
        raise UserError(_("An administrator does not belong to a team.") if role == "admin"
                        else _("A donor does not belong to a team."))

    check_password_rules(password, username)
    team_row = None
    if team:
        team_row = db.session.scalar(select(Team).where(Team.name == team))
        if team_row is None:
            team_row = Team(name=team)
            db.session.add(team_row)
    user = User(
        username=username,
        display_name=display_name or username,
        email=email,
        role=role,
        team=team_row,
        password_hash=hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.created", subject=user, fields=["username", "role", "team"],
                 actor_username=None if actor else "cli")
    return user


def end_sessions_and_tokens(user: User) -> None:
    """End every web session of ``user`` (their records are deleted, and the generation they
    carry no longer matches) and revoke every API token."""
    from ..sessions import end_user_sessions

    user.session_generation += 1
    end_user_sessions(user)
    now = datetime.now(UTC)
    for token in db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ):
        token.revoked_at = now


def deactivate_user(user: User, actor: User | None = None) -> None:
    """Deactivate, ending every session (generation bump) and revoking every token."""
    user.active = False
    end_sessions_and_tokens(user)
    audit.record(actor, "user.deactivated", subject=user, actor_username=None if actor else "cli")


def change_password(user: User, current_password: str, new_password: str) -> None:
    """A user's own password change: the current password first (throttled), then the rules.
    Every session and token of the user ends; the caller renews the one in use. No
    password ever expires (ASVS 6.2.10): this is the user's choice only."""
    confirm_identity(user, current_password)
    check_password_rules(new_password, user.username)
    if verify_password(user.password_hash, new_password):
        raise UserError(_("The new password is the same as the current one."))

    user.password_hash = hash_password(new_password)
    end_sessions_and_tokens(user)
    audit.record(user, "user.password_changed", subject=user)
