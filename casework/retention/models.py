"""Erasure requests: a caseworker records that the survivor asks to be erased; a supervisor
of the team approves (the survivor's identifying data and free text are destroyed and a
deletion certificate is issued) or refuses with a comment."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from .. import vocab
from ..auth.models import User
from ..extensions import db
from ..models_base import SurvivorOwned, Timestamps, UTCDateTime, UUIDPrimaryKey

_OP_RO = {"tier": "operational", "read_only": True}
_SENSITIVE_RO = {"tier": "sensitive", "read_only": True}

ERASURE_REQUEST_STATUSES = vocab.local(
    "erasure_request_status",
    [("pending", "Waiting for approval"), ("approved", "Approved: erased"),
     ("refused", "Refused with a comment")],
)


class ErasureRequest(UUIDPrimaryKey, SurvivorOwned, Timestamps, db.Model):
    __tablename__ = "erasure_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'refused')", name="status"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided"),
        # One pending request per survivor.
        Index("uq_erasure_requests_pending", "survivor_id", unique=True,
              sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_erasure_requests_status", "status"),
    )

    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    # The day the survivor asked (may be before it was recorded).
    requested_on: Mapped[date] = mapped_column(Date, info=_OP_RO)
    # Free text may name people: sensitive, and destroyed with the rest on erasure.
    reason: Mapped[str | None] = mapped_column(Text, info=_SENSITIVE_RO)
    status: Mapped[str] = mapped_column(
        String(10), default="pending", info={**_OP_RO, "vocab": "erasure_request_status"})
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), info=_OP_RO)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    comment: Mapped[str | None] = mapped_column(Text, info=_SENSITIVE_RO)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=_OP_RO)
    # The deletion certificate (PDF; it holds no identifying data, so it is not encrypted).
    certificate: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))

    requester: Mapped[User] = relationship(foreign_keys=[requested_by])
    decider: Mapped[User | None] = relationship(foreign_keys=[decided_by])
