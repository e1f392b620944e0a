"""Two-step verification: TOTP (RFC 6238) with one-time recovery codes.

- Codes are 6 digits for 30-second steps, accepted one step either side of now (clock drift).
- A code is accepted only for a time step later than the last one accepted
  (``User.mfa_last_step``), through one conditional UPDATE, so a code cannot be used twice,
  not even by two requests at once, and an earlier code is refused once a later one was used.
- The secret is encrypted at rest (casework/crypto.py) and bound to its row and column.
- Ten recovery codes are shown once at enrolment; only their SHA-256 is stored and each
  works once (the same conditional UPDATE on its row).
- Which roles must use it: ``MFA_REQUIRED_ROLES`` (config.py). Anyone may enrol.

Nothing here commits: the request's unit of work does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno
from flask import current_app
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from .. import audit, crypto
from ..extensions import db
from .models import MfaRecoveryCode, User

STEP_SECONDS = 30
DIGITS = 6
# Steps either side of now that are still accepted (RFC 6238 section 5.2).
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_BYTES = 10  # 80 bits: 16 base32 characters, shown in groups of four


class MfaError(ValueError):
    """A two-step verification request that cannot be carried out, with the reason."""


# --- who must use it -------------------------------------------------------------------------


def required_roles() -> frozenset[str]:
    value = current_app.config.get("MFA_REQUIRED_ROLES") or ()
    if isinstance(value, str):
        from config import _parse_roles

        value = _parse_roles(value)
    return frozenset(value)


def role_requires_mfa(role: str) -> bool:
    return role in required_roles()


def must_enrol(user) -> bool:
    """True for a user whose role must use two-step verification and who has not set it up:
    they reach only the enrolment page and logout, and get no API token."""
    return role_requires_mfa(user.role) and not user.mfa_enabled


# --- the secret -------------------------------------------------------------------------------


def _secret_aad(user: User) -> bytes:
    return crypto.aad("users", "mfa_secret", user.id)


def _store_secret(user: User, secret: str) -> None:
    user.mfa_secret = crypto.encrypt(secret.encode("ascii"), _secret_aad(user))


def secret_of(user: User) -> str:
    if user.mfa_secret is None:
        raise MfaError(_("Two-step verification is not set up."))
    return crypto.decrypt(user.mfa_secret, _secret_aad(user)).decode("ascii")


def pending_secret(user: User) -> str:
    """The secret being enrolled: made on the first visit of the enrolment page and kept
    until it is confirmed, so reloading the page does not invalidate a scanned QR code."""
    if user.mfa_enabled:
        raise MfaError(_("Two-step verification is already on."))
    if user.mfa_secret is None:
        _store_secret(user, pyotp.random_base32(32))  # 160 bits, as RFC 4226 recommends
        db.session.flush()
    return secret_of(user)


def provisioning_uri(user: User, secret: str) -> str:
    issuer = current_app.config.get("ORGANISATION_NAME") or "Casework"
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.username, issuer_name=issuer)


def qr_svg(uri: str, title: str) -> Markup:
    """The QR code of ``uri`` as inline SVG: no request of its own, nothing the CSP refuses.
    segno escapes the title; the rest is its own path data."""
    qr = segno.make(uri, error="m")
    return Markup(qr.svg_inline(scale=5, border=4, dark="#000", light="#fff", title=title,
                                svgclass="mfa-qr"))


def grouped(secret: str) -> str:
    """The secret as it is easiest to type: groups of four characters."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


# --- codes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A code that matched: a TOTP time step, or a recovery code's row."""

    step: int | None = None
    recovery_code_id: object | None = None


def clock() -> float:
    """Seconds since the epoch (tests replace it to hold time still)."""
    return time.time()


def _now_step(now: float | None = None) -> int:
    return int((clock() if now is None else now) // STEP_SECONDS)


def _clean(code: str | None) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


def totp_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step within the window whose code is ``code``, or None."""
    code = _clean(code)
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = _now_step(now)
    found = None
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        # Every step is compared, in constant time, whatever matched before.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _recovery_hash(user: User, code: str) -> str:
    return hashlib.sha256(f"{user.id}:{_clean(code)}".encode()).hexdigest()


def _looks_like_recovery_code(code: str) -> bool:
    cleaned = _clean(code)
    return len(cleaned) == 16 and cleaned.isascii() and cleaned.isalnum()


def check_code(user: User, code: str | None, *, now: float | None = None) -> Match | None:
    """Does ``code`` (a TOTP code or a recovery code) open ``user``'s second step? Changes
    nothing: ``consume`` then takes it, once."""
    if not code or user.mfa_secret is None or len(code) > 64:
        return None
    step = totp_step(secret_of(user), code, now=now)
    if step is not None:
        if user.mfa_last_step is not None and step <= user.mfa_last_step:
            return None  # this code, or a later one, was used already
        return Match(step=step)
    if _looks_like_recovery_code(code):
        row_id = db.session.scalar(select(MfaRecoveryCode.id).where(
            MfaRecoveryCode.user_id == user.id,
            MfaRecoveryCode.code_hash == _recovery_hash(user, code),
            MfaRecoveryCode.used_at.is_(None)))
        if row_id is not None:
            return Match(recovery_code_id=row_id)
    return None


def consume(user: User, match: Match) -> bool:
    """Take a matched code for good. False when another request took it (or a later step)
    first: the conditional UPDATE waits for the row and re-checks, on either engine."""
    if match.step is not None:
        result = db.session.execute(
            update(User)
            .where(User.id == user.id,
                   or_(User.mfa_last_step.is_(None), User.mfa_last_step < match.step))
            .values(mfa_last_step=match.step)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return False
        set_committed_value(user, "mfa_last_step", match.step)
        return True
    result = db.session.execute(
        update(MfaRecoveryCode)
        .where(MfaRecoveryCode.id == match.recovery_code_id, MfaRecoveryCode.used_at.is_(None))
        .values(used_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    audit.record(user, "mfa.recovery_used", subject=user)
    return True


def verify_and_consume(user: User, code: str | None) -> bool:
    match = check_code(user, code)
    return match is not None and consume(user, match)


# --- recovery codes ---------------------------------------------------------------------------


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode().lower()
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def new_recovery_codes(user: User) -> list[str]:
    """Replace ``user``'s recovery codes with fresh ones; the codes are returned once."""
    db.session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(MfaRecoveryCode(user_id=user.id, code_hash=_recovery_hash(user, code))
                       for code in codes)
    db.session.flush()
    return codes


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(MfaRecoveryCode).where(
        MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None))) or 0


# --- enrolment and its end ------------------------------------------------------------------


def confirm_enrolment(user: User, code: str | None) -> list[str]:
    """Turn two-step verification on once ``code`` proves the app has the pending secret;
    returns the recovery codes to show once. MfaError if the code is wrong."""
    if user.mfa_enabled:
        raise MfaError(_("Two-step verification is already on."))
    secret = pending_secret(user)
    step = totp_step(secret, code or "")
    if step is None or not consume(user, Match(step=step)):
        audit.record_denial(user, "auth.mfa_failed")
        raise MfaError(_("That code is not correct. Check that your phone's clock is right and "
                         "type the code the app shows now."))
    user.mfa_enabled_at = datetime.now(UTC)
    codes = new_recovery_codes(user)
    audit.record(user, "mfa.enrolled", subject=user)
    return codes


def regenerate_recovery_codes(user: User, code: str | None) -> list[str]:
    """New recovery codes (the old ones stop working) for a current code; throttled like a
    login. Raises MfaError, or the service's InvalidCredentials / LoginThrottled."""
    from .service import confirm_identity

    if not user.mfa_enabled:
        raise MfaError(_("Two-step verification is not on."))
    confirm_identity(user, None, code, need_code=True)
    codes = new_recovery_codes(user)
    audit.record(user, "mfa.recovery_codes_replaced", subject=user)
    return codes


def disable(user: User, password: str, code: str | None) -> None:
    """Turn two-step verification off: needs the password and a code, and a role that does
    not require it. Raises MfaError, or the service's InvalidCredentials / LoginThrottled."""
    from .service import confirm_identity

    if not user.mfa_enabled:
        raise MfaError(_("Two-step verification is not on."))
    if role_requires_mfa(user.role):
        raise MfaError(_("Your role must use two-step verification: it cannot be turned off."))
    confirm_identity(user, password, code, need_code=True)
    reset(user)
    audit.record(user, "mfa.disabled", subject=user)


def reset(user: User) -> None:
    """Forget the secret and the recovery codes (disabling; an admin's reset)."""
    user.mfa_secret = None
    user.mfa_enabled_at = None
    user.mfa_last_step = None
    db.session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
