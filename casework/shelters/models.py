"""Shelters, their beds, and placements of survivors in beds.

Shelters and beds are reference data (no tiers: staff read them, admins write them). A
placement is a record about one survivor, so every column it shows declares its tier.

The database, not only Python, guarantees the two rules that matter:

* a bed holds at most one survivor: a partial unique index on ``placements(bed_id)`` over
  open placements (``discharged_on IS NULL``);
* a survivor has at most one open placement: the same on ``placements(survivor_id)``;

and a placement's bed belongs to its shelter (a composite foreign key to
``beds(shelter_id, id)``), its status agrees with its discharge date, and nobody leaves before
arriving (check constraints). All of it works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from ..extensions import db
from ..models_base import SurvivorOwned, Timestamps, UUIDPrimaryKey
from ..referrals.models import Partner

OPERATIONAL = {"tier": "operational"}
SENSITIVE = {"tier": "sensitive"}

# What a bed is for, or offers. Gender and age restrictions are checked against the
# survivor's recorded gender (HTCDS prs_Gender) and age band at admission.
BED_RESTRICTIONS = vocab.local(
    "bed_restriction",
    [
        ("women_only", "Women only"),
        ("men_only", "Men only"),
        ("adults_only", "Adults only (18 and over)"),
        ("minors_only", "Minors only (under 18)"),
        ("wheelchair_accessible", "Wheelchair accessible"),
    ],
)
# Restrictions that cannot hold together on one bed.
EXCLUSIVE_RESTRICTIONS = (("women_only", "men_only"), ("adults_only", "minors_only"))

PLACEMENT_STATUSES = vocab.local("placement_status", [("open", "Open"), ("closed", "Closed")])
PLACEMENT_ENDINGS = vocab.local(
    "placement_ending", [("discharge", "Discharged"), ("transfer", "Transferred")]
)

# The partial unique indexes' condition, the same text on both engines.
OPEN = text("discharged_on IS NULL")


class Shelter(UUIDPrimaryKey, Timestamps, db.Model):
    """A shelter, run by the organisation itself (``partner_id`` null) or by a partner."""

    __tablename__ = "shelters"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)

    partner: Mapped[Partner | None] = relationship()
    beds: Mapped[list[Bed]] = relationship(
        back_populates="shelter", order_by="Bed.label", cascade="all, delete-orphan"
    )

    @property
    def active_beds(self) -> list[Bed]:
        return [bed for bed in self.beds if bed.active]

    @property
    def capacity(self) -> int:
        """A shelter's capacity is its beds in service."""
        return len(self.active_beds)

    def __repr__(self) -> str:
        return f"<Shelter {self.name}>"


class Bed(UUIDPrimaryKey, Timestamps, db.Model):
    __tablename__ = "beds"
    __table_args__ = (
        UniqueConstraint("shelter_id", "label", name="uq_beds_shelter_label"),
        # The target of placements' composite foreign key (bed and shelter must agree).
        UniqueConstraint("shelter_id", "id", name="uq_beds_shelter_bed"),
    )

    shelter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shelters.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(40))
    restrictions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A bed out of service keeps its history but no longer counts towards capacity.
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    shelter: Mapped[Shelter] = relationship(back_populates="beds")

    def __repr__(self) -> str:
        return f"<Bed {self.label}>"


class Placement(UUIDPrimaryKey, Timestamps, SurvivorOwned, db.Model):
    """One stay of a survivor in one bed. A transfer closes it and opens the next one."""

    __tablename__ = "placements"
    __table_args__ = (
        ForeignKeyConstraint(
            ["shelter_id", "bed_id"], ["beds.shelter_id", "beds.id"],
            name="fk_placements_bed_in_shelter",
        ),
        Index("uq_placements_open_bed", "bed_id", unique=True,
              sqlite_where=OPEN, postgresql_where=OPEN),
        Index("uq_placements_open_survivor", "survivor_id", unique=True,
              sqlite_where=OPEN, postgresql_where=OPEN),
        Index("ix_placements_shelter_open", "shelter_id", "discharged_on"),
        CheckConstraint(
            "(status = 'open' AND discharged_on IS NULL AND ended_by IS NULL) OR "
            "(status = 'closed' AND discharged_on IS NOT NULL "
            "AND ended_by IN ('discharge', 'transfer'))",
            name="status_matches_discharge",
        ),
        CheckConstraint("discharged_on IS NULL OR discharged_on >= admitted_on",
                        name="discharge_not_before_admission"),
        CheckConstraint("expected_discharge_on IS NULL OR expected_discharge_on >= admitted_on",
                        name="expected_not_before_admission"),
    )

    shelter_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shelters.id"), info=OPERATIONAL
    )
    bed_id: Mapped[uuid.UUID] = mapped_column(index=True, info=OPERATIONAL)
    admitted_on: Mapped[date] = mapped_column(Date, info=OPERATIONAL)
    expected_discharge_on: Mapped[date | None] = mapped_column(Date, info=OPERATIONAL)
    discharged_on: Mapped[date | None] = mapped_column(Date, info=OPERATIONAL)
    # Free text may name people and places: sensitive.
    discharge_reason: Mapped[str | None] = mapped_column(Text, info=SENSITIVE)
    status: Mapped[str] = mapped_column(
        String(8), default="open", info={**OPERATIONAL, "read_only": True,
                                         "vocab": "placement_status"}
    )
    ended_by: Mapped[str | None] = mapped_column(
        String(10), info={**OPERATIONAL, "read_only": True, "vocab": "placement_ending"}
    )
    # The placement this one continues after a transfer (history is kept, never rewritten).
    previous_placement_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("placements.id"), info={**OPERATIONAL, "read_only": True}
    )

    # Read-only views: the ids are set directly (bed and shelter share the composite key).
    shelter: Mapped[Shelter] = relationship(viewonly=True)
    bed: Mapped[Bed] = relationship(
        primaryjoin="Placement.bed_id == Bed.id", foreign_keys=[bed_id], viewonly=True
    )

    @property
    def is_open(self) -> bool:
        return self.discharged_on is None

    def __repr__(self) -> str:
        return f"<Placement {self.id} {self.status}>"
