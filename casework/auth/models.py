"""Organisation, teams, users and API tokens."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models_base import Timestamps, UTCDateTime, UUIDPrimaryKey, utcnow

ROLES = ("caseworker", "counsellor", "supervisor", "admin", "donor")
ROLE_LABELS = {
    "caseworker": _l("Caseworker"),
    "counsellor": _l("Counsellor"),
    "supervisor": _l("Supervisor"),
    "admin": _l("Administrator"),
    "donor": _l("Donor"),
}

# Roles whose members work with survivors and belong to a team.
TEAM_ROLES = ("caseworker", "counsellor", "supervisor")


class Organisation(UUIDPrimaryKey, db.Model):
    """The NGO running this installation (one row)."""

    __tablename__ = "organisations"

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    country: Mapped[str | None] = mapped_column(String(2))
    # Referrals need a supervisor's approval before their letter is issued.
    referrals_need_approval: Mapped[bool] = mapped_column(Boolean, default=True,
                                                          server_default=true())
    # Closing a case needs a supervisor's approval (a closure request) when set.
    closures_need_approval: Mapped[bool] = mapped_column(Boolean, default=False,
                                                         server_default=false())
    # Closed cases are anonymised this many years after closure (flask retention run);
    # None: config RETENTION_YEARS_AFTER_CLOSURE, and if that is unset too, keep them.
    retention_years_after_closure: Mapped[int | None] = mapped_column(Integer)


class Team(UUIDPrimaryKey, db.Model):
    """Caseworkers and counsellors under one or more supervisors."""

    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    members: Mapped[list[User]] = relationship(back_populates="team")


class User(UUIDPrimaryKey, Timestamps, UserMixin, db.Model):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    # IANA zone of the user's dates and times (profile); None: the organisation's default.
    timezone: Mapped[str | None] = mapped_column(String(64))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped whenever every session and token of the user must end (deactivation,
    # password change); sessions carry it and are refused when it no longer matches.
    session_generation: Mapped[int] = mapped_column(default=0)
    # Two-step verification (casework/auth/mfa.py): the TOTP secret, encrypted with
    # crypto.encrypt under aad("users", "mfa_secret", id); set while enrolling, in use once
    # mfa_enabled_at is set. mfa_last_step is the time step of the last code accepted: only a
    # later step is accepted next, so no code (nor an earlier one) works twice.
    mfa_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    mfa_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mfa_last_step: Mapped[int | None] = mapped_column(BigInteger)

    team: Mapped[Team | None] = relationship(back_populates="members")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_enabled_at is not None

    def get_id(self) -> str:
        return f"{self.id}:{self.session_generation}"

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role})>"


class MfaRecoveryCode(UUIDPrimaryKey, db.Model):
    """A one-time recovery code, typed instead of a TOTP code when the phone is lost. Only
    its SHA-256 is stored (the code carries 80 random bits, like a token); shown once."""

    __tablename__ = "mfa_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(UUIDPrimaryKey, db.Model):
    """A bearer token; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now and self.user.active

