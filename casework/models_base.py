"""Column helpers shared by every package's models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, ForeignKey, TypeDecorator, Uuid, literal
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from . import encryption  # noqa: F401  (encrypts the fields at rest of every model)

if TYPE_CHECKING:
    from .survivors.models import Survivor


def utcnow() -> datetime:
    return datetime.now(UTC)


def none_of(column, values):
    """``column NOT IN (…)``, each value its own bound parameter. ``not_in(list)`` makes one
    "expanding" parameter that SQLAlchemy writes into the SQL again on every execution: a
    waste in statements built once and run on every page (the navigation's alert count)."""
    return column.not_in([literal(value, column.type) for value in values])


def one_of(column, values):
    """``column IN (…)``, each value its own bound parameter (see ``none_of``)."""
    return column.in_([literal(value, column.type) for value in values])


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC and always handed back timezone-aware.

    SQLite keeps no zone, so a naive value read back is UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class UUIDPrimaryKey:
    """Random UUID primary keys: nothing sequential appears in URLs or the API."""

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4,
        info={"tier": "operational", "read_only": True},
    )


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, nullable=False,
        info={"tier": "operational", "read_only": True},
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False,
        info={"tier": "operational", "read_only": True},
    )


class SurvivorOwned:
    """A record about one survivor. Its fields' access follows the survivor's: the guards
    find the survivor through ``.survivor`` (casework/access/guards.py)."""

    @declared_attr
    def survivor_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            ForeignKey("survivors.id", ondelete="CASCADE"),
            index=True,
            info={"tier": "operational", "read_only": True},
        )

    @declared_attr
    def survivor(cls) -> Mapped[Survivor]:
        return relationship("Survivor")
