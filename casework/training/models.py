"""Vocational training: programmes (reference data) and survivors' enrolments in them.

A programme is about an organisation's course, not about a survivor: it carries no tiers
(staff read it, admins write it). An enrolment is about one survivor: every field declares
its tier, so the access policy decides who sees and changes it.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from ..extensions import db
from ..models_base import SurvivorOwned, Timestamps, UUIDPrimaryKey
from ..referrals.models import Partner

ENROLMENT_STATUSES = vocab.local(
    "enrolment_status",
    [("enrolled", "Enrolled"), ("completed", "Completed"), ("withdrawn", "Withdrawn")],
)
# Enrolments that hold a place in the programme.
HOLDING_A_PLACE = ("enrolled", "completed")

OPERATIONAL = {"tier": "operational"}
SENSITIVE = {"tier": "sensitive"}


class TrainingProgramme(UUIDPrimaryKey, Timestamps, db.Model):
    __tablename__ = "training_programmes"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        Index("ix_training_programmes_starts_on_id", "starts_on", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    provider_partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id"), index=True
    )
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    capacity: Mapped[int] = mapped_column(Integer)

    provider: Mapped[Partner] = relationship()

    def __repr__(self) -> str:
        return f"<TrainingProgramme {self.name}>"


class Enrolment(UUIDPrimaryKey, Timestamps, SurvivorOwned, db.Model):
    __tablename__ = "training_enrolments"
    __table_args__ = (
        # A survivor is enrolled at most once per programme.
        UniqueConstraint("survivor_id", "programme_id", name="uq_training_enrolment_once"),
        CheckConstraint("attendance_rate IS NULL OR (attendance_rate >= 0 AND "
                        "attendance_rate <= 100)", name="attendance_rate_percent"),
        CheckConstraint("status IN ('enrolled', 'completed', 'withdrawn')",
                        name="enrolment_status_known"),
        CheckConstraint("status != 'completed' OR completed_on IS NOT NULL",
                        name="completed_has_date"),
        CheckConstraint("status != 'withdrawn' OR withdrawn_on IS NOT NULL",
                        name="withdrawn_has_date"),
        CheckConstraint("status = 'completed' OR (certified = false AND "
                        "employed_at_3_months IS NULL AND employed_at_6_months IS NULL)",
                        name="outcomes_after_completion"),
        # Capacity counts and employment follow-ups.
        Index("ix_training_enrolments_programme_status", "programme_id", "status"),
        Index("ix_training_enrolments_status_completed", "status", "completed_on"),
    )

    # --- operational: what, when, and the service's outcomes
    programme_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_programmes.id"), info=OPERATIONAL
    )
    status: Mapped[str] = mapped_column(
        String(20), default="enrolled",
        info={**OPERATIONAL, "read_only": True, "vocab": "enrolment_status"},
    )
    enrolled_on: Mapped[date] = mapped_column(Date, info=OPERATIONAL)
    completed_on: Mapped[date | None] = mapped_column(
        Date, info={**OPERATIONAL, "read_only": True}
    )
    withdrawn_on: Mapped[date | None] = mapped_column(
        Date, info={**OPERATIONAL, "read_only": True}
    )
    attendance_rate: Mapped[int | None] = mapped_column(Integer, info=OPERATIONAL)
    certified: Mapped[bool] = mapped_column(Boolean, default=False, info=OPERATIONAL)
    employed_at_3_months: Mapped[bool | None] = mapped_column(Boolean, info=OPERATIONAL)
    employed_at_6_months: Mapped[bool | None] = mapped_column(Boolean, info=OPERATIONAL)

    # --- sensitive: why the survivor left may describe their situation
    withdraw_reason: Mapped[str | None] = mapped_column(
        Text, info={**SENSITIVE, "read_only": True}
    )

    programme: Mapped[TrainingProgramme] = relationship()

    def __repr__(self) -> str:
        return f"<Enrolment {self.id} {self.status}>"
