"""The survivor record, aligned to HTCDS 2.0.

Every column declares its access tier in ``info={"tier": ...}``; the access policy
(casework/access) reads the tiers from here and nowhere else. ``info["vocab"]`` names the
vocabulary a value must come from; ``info["read_only"]`` marks values the system derives.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from ..auth.models import User
from ..extensions import db
from ..models_base import Timestamps, UTCDateTime, UUIDPrimaryKey, none_of
from ..programmes.models import Programme, survivor_programmes

OPERATIONAL = {"tier": "operational"}
DEMOGRAPHIC = {"tier": "demographic"}
IDENTIFYING = {"tier": "identifying"}
SENSITIVE = {"tier": "sensitive"}

CLOSED_STATUSES = ("Closed", "ClosedReferred")
# Risk by severity (the supervisors' caseload review sorts by it, on an index of this exact
# expression: keep the text identical in queries).
RISK_RANK_SQL = ("(CASE risk_level WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 "
                 "ELSE 0 END)")

survivor_collaborators = Table(
    "survivor_collaborators",
    db.metadata,
    Column("survivor_id", ForeignKey("survivors.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True, index=True),
)


class Survivor(UUIDPrimaryKey, Timestamps, db.Model):
    __tablename__ = "survivors"
    __table_args__ = (
        Index("ix_survivors_status_intake", "status", "intake_date"),
        Index("ix_survivors_intake_id", "intake_date", "id"),
        Index("ix_survivors_risk_rank_id", text(RISK_RANK_SQL), "id"),
    )

    # Fields that are not columns of this table, with their tiers.
    policy_fields = {"collaborator_ids": {"tier": "operational"},
                     "programme_ids": {"tier": "operational"}}

    # --- operational
    case_number: Mapped[str] = mapped_column(
        String(16), unique=True, info={**OPERATIONAL, "read_only": True}
    )
    status: Mapped[str] = mapped_column(
        String(20), default="Active", info={**OPERATIONAL, "vocab": vocab.CASE_STATUS}
    )
    lead_caseworker_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id"), index=True, info=OPERATIONAL
    )
    intake_date: Mapped[date] = mapped_column(Date, info=OPERATIONAL)
    referral_source: Mapped[str | None] = mapped_column(
        String(40), info={**OPERATIONAL, "vocab": "referral_source"}
    )
    closed_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info={**OPERATIONAL, "read_only": True}
    )
    # Free text may name people: it is sensitive, like the narrative.
    closure_reason: Mapped[str | None] = mapped_column(Text, info={**SENSITIVE, "read_only": True})
    # Set when the survivor's identifying data and free text were destroyed (erasure on
    # request, or the retention run): the anonymous record stays for statistics.
    erased_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info={**OPERATIONAL, "read_only": True}
    )

    # --- demographic
    gender: Mapped[str | None] = mapped_column(
        String(40), info={**DEMOGRAPHIC, "vocab": vocab.GENDER}
    )
    # Age at intake, derived from the birth date so that it can be shown without it.
    age_band: Mapped[str | None] = mapped_column(
        String(8), info={**DEMOGRAPHIC, "read_only": True}
    )
    citizenship: Mapped[list[str]] = mapped_column(
        JSON, default=list, info={**DEMOGRAPHIC, "vocab": "iso3166"}
    )
    primary_language: Mapped[str | None] = mapped_column(
        String(3), info={**DEMOGRAPHIC, "vocab": "iso639"}
    )
    trafficking_status: Mapped[str | None] = mapped_column(
        String(40), info={**DEMOGRAPHIC, "vocab": vocab.TRAFFICKING_STATUS}
    )
    exploitation_types: Mapped[list[str]] = mapped_column(
        JSON, default=list, info={**DEMOGRAPHIC, "vocab": vocab.EXPLOITATION_TYPES}
    )
    recruitment_methods: Mapped[list[str]] = mapped_column(
        JSON, default=list, info={**DEMOGRAPHIC, "vocab": vocab.RECRUITMENT_METHODS}
    )
    recruitment_platforms: Mapped[list[str]] = mapped_column(
        JSON, default=list, info={**DEMOGRAPHIC, "vocab": vocab.RECRUITMENT_PLATFORMS}
    )
    countries_of_exploitation: Mapped[list[str]] = mapped_column(
        JSON, default=list, info={**DEMOGRAPHIC, "vocab": "iso3166"}
    )

    # --- identifying
    first_name: Mapped[str | None] = mapped_column(String(100), info=IDENTIFYING)
    last_name: Mapped[str | None] = mapped_column(String(100), info=IDENTIFYING)
    known_as: Mapped[str | None] = mapped_column(String(100), info=IDENTIFYING)
    date_of_birth: Mapped[date | None] = mapped_column(Date, info=IDENTIFYING)
    phone: Mapped[str | None] = mapped_column(String(40), info=IDENTIFYING)
    email: Mapped[str | None] = mapped_column(String(254), info=IDENTIFYING)
    address: Mapped[str | None] = mapped_column(Text, info=IDENTIFYING)

    # --- sensitive
    narrative: Mapped[str | None] = mapped_column(Text, info=SENSITIVE)
    risk_level: Mapped[str | None] = mapped_column(
        String(10), index=True, info={**SENSITIVE, "vocab": "risk_level"}
    )
    risk_notes: Mapped[str | None] = mapped_column(Text, info=SENSITIVE)

    lead_caseworker: Mapped[User] = relationship(foreign_keys=[lead_caseworker_id])
    collaborators: Mapped[list[User]] = relationship(
        secondary=survivor_collaborators, order_by=User.username
    )

    # The funded programmes that pay for the survivor's services (donor reports count by them).
    programmes: Mapped[list[Programme]] = relationship(
        secondary=survivor_programmes, order_by=Programme.name
    )

    @property
    def collaborator_ids(self) -> list[uuid.UUID]:
        return [user.id for user in self.collaborators]

    @property
    def programme_ids(self) -> list[uuid.UUID]:
        return [programme.id for programme in self.programmes]

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @classmethod
    def open_case(cls):
        """SQL condition: the case is open (``not is_closed``), each closed status its own
        bound parameter (the condition sits in statements built once, ``none_of``)."""
        return none_of(cls.status, CLOSED_STATUSES)

    def assigned_user_ids(self) -> set[uuid.UUID]:
        return {self.lead_caseworker_id, *self.collaborator_ids}

    def __repr__(self) -> str:
        return f"<Survivor {self.case_number}>"


class CaseNumberCounter(db.Model):
    """The last case number given out in a year: CW-YYYY-NNNNNN."""

    __tablename__ = "case_number_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)
