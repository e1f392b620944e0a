"""Legal aid: a survivor's legal matters, the partner handling each, hearings and outcomes.

Kind, status, partner, dates and outcome are operational (they feed the case's plan and
reports); free-text notes may name people and events, so they are sensitive.
``next_hearing_on`` is derived: the earliest hearing from today on.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from ..extensions import db
from ..models_base import SurvivorOwned, Timestamps, UUIDPrimaryKey
from ..referrals.models import Partner

OPERATIONAL = {"tier": "operational"}
SENSITIVE = {"tier": "sensitive"}
MAX_NOTES = 5000

MATTER_KINDS = vocab.local(
    "legal_matter_kind",
    [
        ("immigration", "Immigration relief"),
        ("criminal_witness", "Criminal case (as witness)"),
        ("civil_compensation", "Civil compensation"),
        ("labour_claim", "Labour claim"),
        ("identity_documents", "Identity documents"),
        ("other", "Other"),
    ],
)
MATTER_STATUSES = vocab.local(
    "legal_matter_status",
    [
        ("open", "Open"),
        ("awaiting_hearing", "Awaiting hearing"),
        ("decided", "Decided"),
        ("closed", "Closed"),
    ],
)
OUTCOMES = vocab.local(
    "legal_outcome",
    [
        ("pending", "Pending"),
        ("granted", "Granted"),
        ("denied", "Denied"),
        ("settled", "Settled"),
        ("dismissed", "Dismissed"),
        ("withdrawn", "Withdrawn"),
    ],
)
HEARING_KINDS = vocab.local(
    "legal_hearing_kind",
    [
        ("interview", "Interview"),
        ("preliminary", "Preliminary hearing"),
        ("hearing", "Hearing"),
        ("trial", "Trial"),
        ("decision", "Decision"),
        ("appeal", "Appeal hearing"),
        ("mediation", "Mediation"),
        ("other", "Other"),
    ],
)


def _one_of(column: str, vocabulary: vocab.Vocabulary) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in vocabulary.values) + ")"


class LegalMatter(UUIDPrimaryKey, Timestamps, SurvivorOwned, db.Model):
    __tablename__ = "legal_matters"
    __table_args__ = (
        CheckConstraint(_one_of("kind", MATTER_KINDS), name="kind_known"),
        CheckConstraint(_one_of("status", MATTER_STATUSES), name="status_known"),
        CheckConstraint(_one_of("outcome", OUTCOMES), name="outcome_known"),
        Index("ix_legal_matters_survivor_opened", "survivor_id", "opened_on"),
    )

    # Derived from the hearings, not a column.
    policy_fields = {"next_hearing_on": {"tier": "operational", "read_only": True}}

    kind: Mapped[str] = mapped_column(String(30), info={**OPERATIONAL,
                                                        "vocab": "legal_matter_kind"})
    status: Mapped[str] = mapped_column(String(20), default="open",
                                        info={**OPERATIONAL, "vocab": "legal_matter_status"})
    partner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partners.id"), index=True, info=OPERATIONAL
    )
    opened_on: Mapped[date] = mapped_column(Date, info=OPERATIONAL)
    outcome: Mapped[str] = mapped_column(String(20), default="pending",
                                         info={**OPERATIONAL, "vocab": "legal_outcome"})
    notes: Mapped[str | None] = mapped_column(Text, info=SENSITIVE)

    partner: Mapped[Partner | None] = relationship()
    hearings: Mapped[list[LegalHearing]] = relationship(
        back_populates="matter", order_by=lambda: (LegalHearing.scheduled_on, LegalHearing.id),
        cascade="all, delete-orphan", passive_deletes=True,
    )

    @property
    def next_hearing_on(self) -> date | None:
        today = date.today()
        upcoming = [h.scheduled_on for h in self.hearings if h.scheduled_on >= today]
        return min(upcoming) if upcoming else None

    @property
    def is_closed(self) -> bool:
        return self.status == "closed"

    def __repr__(self) -> str:
        return f"<LegalMatter {self.kind} {self.status}>"


class LegalHearing(UUIDPrimaryKey, Timestamps, SurvivorOwned, db.Model):
    __tablename__ = "legal_hearings"
    __table_args__ = (
        CheckConstraint(_one_of("kind", HEARING_KINDS), name="kind_known"),
        Index("ix_legal_hearings_matter_scheduled", "matter_id", "scheduled_on"),
    )

    matter_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("legal_matters.id", ondelete="CASCADE"), info={**OPERATIONAL,
                                                                   "read_only": True}
    )
    scheduled_on: Mapped[date] = mapped_column(Date, info=OPERATIONAL)
    kind: Mapped[str] = mapped_column(String(20), info={**OPERATIONAL,
                                                        "vocab": "legal_hearing_kind"})
    notes: Mapped[str | None] = mapped_column(Text, info=SENSITIVE)

    matter: Mapped[LegalMatter] = relationship(back_populates="hearings")

    def __repr__(self) -> str:
        return f"<LegalHearing {self.kind} {self.scheduled_on}>"
