"""Partner organisations: where survivors are referred, and who runs shelters, training and
legal aid. Partners are organisations, not survivors: staff read them, admins write them.
Referrals (one survivor to one partner) and the letters issued for them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from ..auth.models import User
from ..extensions import db
from ..models_base import SurvivorOwned, Timestamps, UTCDateTime, UUIDPrimaryKey, utcnow

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


# --- referrals ---------------------------------------------------------------------------------

REFERRAL_STATUSES = vocab.local(
    "referral_status",
    [
        ("draft", "Draft"),
        ("awaiting_approval", "Awaiting approval"),
        ("approved", "Approved"),
        ("issued", "Issued to the partner"),
        ("accepted", "Accepted by the partner"),
        ("declined", "Declined by the partner"),
        ("completed", "Completed"),
        ("withdrawn", "Withdrawn"),
    ],
)
# Languages a referral letter can be written in (casework/referrals/letters/catalogue.py).
LETTER_LANGUAGES = vocab.local(
    "letter_language",
    [("en", "English"), ("es", "Spanish"), ("fr", "French"), ("ar", "Arabic"), ("th", "Thai"),
     ("vi", "Vietnamese"), ("uk", "Ukrainian")],
)
FINAL_STATUSES = ("declined", "completed", "withdrawn")
# Waiting on the partner: issued, no answer yet.
AWAITING_PARTNER = ("issued",)

_OP = {"tier": "operational"}
_OP_RO = {"tier": "operational", "read_only": True}
_SENSITIVE_RO = {"tier": "sensitive", "read_only": True}


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Referral(UUIDPrimaryKey, SurvivorOwned, Timestamps, db.Model):
    """A referral of one survivor to one partner, from draft to the partner's answer."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(_in("status", REFERRAL_STATUSES.values), name="status"),
        CheckConstraint(_in("service", PARTNER_SERVICES.values), name="service"),
        CheckConstraint(_in("language", LETTER_LANGUAGES.values), name="language"),
        # Issued referrals carry their reference and date; drafts have neither.
        CheckConstraint(
            "(status IN ('draft', 'awaiting_approval', 'approved')"
            " OR (status = 'withdrawn' AND issued_at IS NULL))"
            " OR (reference IS NOT NULL AND issued_at IS NOT NULL)",
            name="issued_has_reference",
        ),
        Index("ix_referrals_status_issued_at", "status", "issued_at"),
        Index("ix_referrals_partner_id", "partner_id"),
    )

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), info=_OP)
    service: Mapped[str] = mapped_column(String(30), info={**_OP, "vocab": "partner_service"})
    # Why the survivor is referred, as the letter says it: may describe what happened.
    reason: Mapped[str | None] = mapped_column(Text, info={"tier": "sensitive"})
    language: Mapped[str] = mapped_column(String(2), info={**_OP, "vocab": "letter_language"})
    status: Mapped[str] = mapped_column(String(20), default="draft",
                                        info={**_OP_RO, "vocab": "referral_status"})
    reference: Mapped[str | None] = mapped_column(String(20), unique=True, info=_OP_RO)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    # The partner's answer (accepted or declined), as the caseworker recorded it.
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    decline_reason: Mapped[str | None] = mapped_column(Text, info=_SENSITIVE_RO)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    withdraw_reason: Mapped[str | None] = mapped_column(Text, info=_SENSITIVE_RO)
    # A supervisor returned the submitted referral to draft, saying what to change (the
    # latest return; every return is in the audit log and the case's timeline).
    returned_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    return_comment: Mapped[str | None] = mapped_column(Text, info=_SENSITIVE_RO)

    partner: Mapped[Partner] = relationship()
    creator: Mapped[User] = relationship(foreign_keys=[created_by])
    approver: Mapped[User | None] = relationship(foreign_keys=[approved_by])
    returner: Mapped[User | None] = relationship(foreign_keys=[returned_by])
    letter: Mapped[ReferralLetter | None] = relationship(back_populates="referral",
                                                         uselist=False)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def __repr__(self) -> str:
        return f"<Referral {self.reference or self.id} {self.status}>"


class ReferralLetter(UUIDPrimaryKey, db.Model):
    """The letter as issued: the PDF (encrypted, casework/crypto.py) and its SHA-256, and
    what the public verification page may say about it. Not a survivor record: it is never
    presented field by field; its PDF is served whole to those who may see the referral."""

    __tablename__ = "referral_letters"
    __table_args__ = (
        CheckConstraint("revocation IN ('consent_withdrawn', 'referral_withdrawn')",
                        name="revocation"),
        CheckConstraint("(revoked_at IS NULL) = (revocation IS NULL)", name="revoked_with_why"),
    )

    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), unique=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    # SHA-256 of the verification code printed on the letter (the code is not stored).
    code_sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # crypto.encrypt(the PDF)
    sha256: Mapped[str] = mapped_column(String(64))  # of the PDF as issued
    size: Mapped[int] = mapped_column(Integer)
    organisation: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2))
    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consents.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation: Mapped[str | None] = mapped_column(String(20))

    referral: Mapped[Referral] = relationship(back_populates="letter")
