"""Models of the supervision package: reassignments and closure requests (helper A's pages
have no models of their own; helpers may add theirs here)."""

from __future__ import annotations

import uuid as _uuid
from datetime import datetime as _datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from ..auth.models import User
from ..extensions import db
from ..models_base import (
    SurvivorOwned,
    Timestamps,
    UTCDateTime,
    UUIDPrimaryKey,
    utcnow,
)

# --- reassignment and closure requests --------------------------------------------------------

_OP_RO = {"tier": "operational", "read_only": True}
_SENSITIVE_RO = {"tier": "sensitive", "read_only": True}


class Reassignment(UUIDPrimaryKey, SurvivorOwned, db.Model):
    """A supervisor moved a case to another caseworker of the team; the new lead is alerted
    until they open the case or acknowledge the alert."""

    __tablename__ = "reassignments"
    __table_args__ = (
        Index("ix_reassignments_to_user_pending", "to_user_id", "acknowledged_at"),
    )

    from_user_id: Mapped[_uuid.UUID] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    to_user_id: Mapped[_uuid.UUID] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    # Free text may name people or describe the case: sensitive.
    reason: Mapped[str] = mapped_column(Text, info=_SENSITIVE_RO)
    by_user_id: Mapped[_uuid.UUID] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    at: Mapped[_datetime] = mapped_column(UTCDateTime, default=utcnow, info=_OP_RO)
    acknowledged_at: Mapped[_datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)

    from_user: Mapped[User] = relationship(foreign_keys=[from_user_id])
    to_user: Mapped[User] = relationship(foreign_keys=[to_user_id])
    by_user: Mapped[User] = relationship(foreign_keys=[by_user_id])


CLOSURE_REQUEST_STATUSES = vocab.local(
    "closure_request_status",
    [("pending", "Waiting for approval"), ("approved", "Approved"),
     ("returned", "Returned with a comment")],
)


class ClosureRequest(UUIDPrimaryKey, SurvivorOwned, Timestamps, db.Model):
    """A caseworker asks to close a case; a supervisor of the team approves (the case
    closes with the requested status and reason) or returns it with a comment."""

    __tablename__ = "closure_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'returned')", name="status"),
        CheckConstraint("requested_status IN ('Closed', 'ClosedReferred')",
                        name="requested_status"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided"),
        # One pending request per survivor.
        Index("uq_closure_requests_pending", "survivor_id", unique=True,
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_closure_requests_status", "status"),
    )

    requested_by: Mapped[_uuid.UUID] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    requested_status: Mapped[str] = mapped_column(
        String(20), info={**_OP_RO, "vocab": "cas_Status"})
    reason: Mapped[str] = mapped_column(Text, info=_SENSITIVE_RO)
    status: Mapped[str] = mapped_column(
        String(10), default="pending", info={**_OP_RO, "vocab": "closure_request_status"})
    decided_by: Mapped[_uuid.UUID | None] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    decided_at: Mapped[_datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    comment: Mapped[str | None] = mapped_column(Text, info=_SENSITIVE_RO)
    # A returned request alerts its requester until they open the case.
    acknowledged_at: Mapped[_datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)

    requester: Mapped[User] = relationship(foreign_keys=[requested_by])
    decider: Mapped[User | None] = relationship(foreign_keys=[decided_by])
