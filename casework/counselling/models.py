"""Counselling engagements and sessions.

An engagement is a counsellor's work with one survivor, from ``started_on`` until it ends
(``ended_on``); while it is open the counsellor is *assigned* to the survivor (see
``casework.access.guards``). A session records when, how long, how and in which language a
counsellor met the survivor, and whether the survivor came. Its ``notes`` are privileged:
only the counsellors of the session's engagement (and its author) may read them — the guards
ask ``CounsellingSession.privileged_user_ids()``.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from ..auth.models import User
from ..extensions import db
from ..models_base import SurvivorOwned, Timestamps, UUIDPrimaryKey

OPERATIONAL = {"tier": "operational"}
PRIVILEGED = {"tier": "privileged"}

MODALITIES = vocab.local(
    "counselling_modality",
    [("in_person", "In person"), ("phone", "Phone"), ("video", "Video")],
)
MIN_DURATION, MAX_DURATION = 1, 600
MAX_NOTES = 20000

# Counsellors who work on an engagement besides its lead counsellor.
engagement_co_counsellors = Table(
    "counselling_engagement_counsellors",
    db.metadata,
    Column("engagement_id", ForeignKey("counselling_engagements.id", ondelete="CASCADE"),
           primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True, index=True),
)


class CounsellingEngagement(UUIDPrimaryKey, Timestamps, SurvivorOwned, db.Model):
    __tablename__ = "counselling_engagements"
    __table_args__ = (
        # At most one open engagement per survivor and counsellor.
        Index(
            "uq_counselling_engagements_open",
            "survivor_id",
            "counsellor_id",
            unique=True,
            sqlite_where=text("ended_on IS NULL"),
            postgresql_where=text("ended_on IS NULL"),
        ),
        CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="ends_after_start"),
    )

    policy_fields = {"co_counsellor_ids": {"tier": "operational"}}

    counsellor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id"), index=True, info=OPERATIONAL
    )
    started_on: Mapped[date] = mapped_column(Date, info=OPERATIONAL)
    # Set by ending the engagement, never written directly.
    ended_on: Mapped[date | None] = mapped_column(Date, info={**OPERATIONAL, "read_only": True})

    counsellor: Mapped[User] = relationship(foreign_keys=[counsellor_id])
    co_counsellors: Mapped[list[User]] = relationship(
        secondary=engagement_co_counsellors, order_by=User.username
    )

    @property
    def co_counsellor_ids(self) -> list[uuid.UUID]:
        return [user.id for user in self.co_counsellors]

    @property
    def is_open(self) -> bool:
        return self.ended_on is None

    def counsellor_ids(self) -> set[uuid.UUID]:
        """The counsellors on this engagement: its counsellor and co-counsellors."""
        return {self.counsellor_id, *self.co_counsellor_ids}

    def __repr__(self) -> str:
        return f"<CounsellingEngagement {self.id} open={self.is_open}>"


class CounsellingSession(UUIDPrimaryKey, Timestamps, SurvivorOwned, db.Model):
    __tablename__ = "counselling_sessions"
    __table_args__ = (
        CheckConstraint(
            f"duration_minutes BETWEEN {MIN_DURATION} AND {MAX_DURATION}", name="duration_range"
        ),
        CheckConstraint(
            "modality IN (" + ", ".join(f"'{v}'" for v in MODALITIES.values) + ")",
            name="modality_known",
        ),
        Index("ix_counselling_sessions_survivor_held", "survivor_id", "held_on"),
        Index("ix_counselling_sessions_counsellor_held", "counsellor_id", "held_on"),
    )

    engagement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("counselling_engagements.id", ondelete="CASCADE"), index=True,
        info={**OPERATIONAL, "read_only": True},
    )
    # The author: the counsellor who recorded the session.
    counsellor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id"), info={**OPERATIONAL, "read_only": True}
    )
    held_on: Mapped[date] = mapped_column(Date, info=OPERATIONAL)
    duration_minutes: Mapped[int] = mapped_column(Integer, info=OPERATIONAL)
    modality: Mapped[str] = mapped_column(
        String(20), info={**OPERATIONAL, "vocab": "counselling_modality"}
    )
    language: Mapped[str | None] = mapped_column(String(3), info={**OPERATIONAL, "vocab": "iso639"})
    interpreter_used: Mapped[bool] = mapped_column(Boolean, default=False, info=OPERATIONAL)
    attended: Mapped[bool] = mapped_column(Boolean, default=True, info=OPERATIONAL)
    notes: Mapped[str | None] = mapped_column(Text, info=PRIVILEGED)

    engagement: Mapped[CounsellingEngagement] = relationship()
    counsellor: Mapped[User] = relationship(foreign_keys=[counsellor_id])

    def privileged_user_ids(self) -> set[uuid.UUID]:
        """Who may read the notes: the author and the counsellors of the engagement."""
        return {self.counsellor_id, *self.engagement.counsellor_ids()}

    def __repr__(self) -> str:
        return f"<CounsellingSession {self.id} {self.held_on}>"
