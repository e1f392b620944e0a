"""Donor impact reports: drafted by a supervisor, frozen when published."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import User
from ..extensions import db
from ..models_base import UTCDateTime, UUIDPrimaryKey, utcnow
from ..programmes.models import Programme


class Report(UUIDPrimaryKey, db.Model):
    """One programme's (or the whole organisation's) impact over whole months.

    ``tables`` is what donors receive (suppressed cells as ``"<k"``); ``record`` is the
    disclosure-control record with the true figures, kept to check later reports against
    (differencing) and never shown to anyone. Both are computed once, when the draft is made:
    the supervisor publishes exactly what they previewed.
    """

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published')", name="status"),
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint("(status = 'published') = (published_at IS NOT NULL)",
                        name="published"),
        Index("ix_reports_programme_status", "programme_id", "status"),
    )

    programme_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("programmes.id"))
    period_start: Mapped[date] = mapped_column(Date)  # the first day of a month
    period_end: Mapped[date] = mapped_column(Date)  # the last day of a month
    threshold: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    tables: Mapped[list] = mapped_column(JSON)
    record: Mapped[dict] = mapped_column(JSON)
    # Survivors left out because they refused anonymised statistics (shown to supervisors).
    excluded_survivors: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    programme: Mapped[Programme | None] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[created_by])
    publisher: Mapped[User | None] = relationship(foreign_keys=[published_by])

    @property
    def is_published(self) -> bool:
        return self.status == "published"
