"""Programmes, the donors funding them, and the survivors they serve."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import User
from ..extensions import db
from ..models_base import Timestamps, UUIDPrimaryKey

# Donor users funding a programme (admins set it).
programme_donors = Table(
    "programme_donors",
    db.metadata,
    Column("programme_id", ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True, index=True),
)

# The programmes a survivor's services are funded by (caseworkers set it).
survivor_programmes = Table(
    "survivor_programmes",
    db.metadata,
    Column("survivor_id", ForeignKey("survivors.id", ondelete="CASCADE"), primary_key=True),
    Column("programme_id", ForeignKey("programmes.id"), primary_key=True, index=True),
)


class Programme(UUIDPrimaryKey, Timestamps, db.Model):
    """A funded programme. Reference data: staff read it, admins write it."""

    __tablename__ = "programmes"
    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="period"),
    )

    name: Mapped[str] = mapped_column(String(200), unique=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)

    donors: Mapped[list[User]] = relationship(secondary=programme_donors,
                                              order_by=User.username)

    @property
    def donor_ids(self) -> list[uuid.UUID]:
        return [user.id for user in self.donors]

    def __repr__(self) -> str:
        return f"<Programme {self.name}>"
