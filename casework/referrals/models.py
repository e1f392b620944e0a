"""Partner organisations: where survivors are referred, and who runs shelters, training and
legal aid. Partners are organisations, not survivors: staff read them, admins write them."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .. import vocab
from ..extensions import db
from ..models_base import Timestamps, UUIDPrimaryKey

PARTNER_SERVICES = vocab.local(
    "partner_service",
    [
        ("shelter", "Shelter"),
        ("counselling", "Counselling"),
        ("vocational_training", "Vocational training"),
        ("legal_aid", "Legal aid"),
        ("health", "Health"),
        ("other", "Other"),
    ],
)


class Partner(UUIDPrimaryKey, Timestamps, db.Model):
    __tablename__ = "partners"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    accepting_referrals: Mapped[bool] = mapped_column(Boolean, default=True)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(Text)

    def offers(self, service: str) -> bool:
        return service in (self.services or [])

    def __repr__(self) -> str:
        return f"<Partner {self.name}>"
