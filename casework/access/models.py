"""Break-glass grants: a supervisor's reasoned access to identifying fields of one case, for
the session (login or API token) it was opened in, and for a limited time within it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UTCDateTime, UUIDPrimaryKey, utcnow


class BreakGlassGrant(UUIDPrimaryKey, db.Model):
    __tablename__ = "break_glass_grants"
    __table_args__ = (Index("ix_break_glass_user_survivor", "user_id", "survivor_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("survivors.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # SHA-256 of the session the grant was opened in (access.access_session_digest): the grant
    # opens nothing in the user's other sessions, nor after logout or a new login.
    session_digest: Mapped[str | None] = mapped_column(String(64))
