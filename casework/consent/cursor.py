"""Keyset cursors on (timestamp, id), for lists newest first."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

from ..api.pagination import InvalidCursor


def encode(at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([at.astimezone(UTC).isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, uuid.UUID(row_id)
    except (ValueError, TypeError, UnicodeError, AttributeError) as exc:
        raise InvalidCursor("The cursor is not one this API gave out.") from exc


def page(session, query, column, id_column, limit: int, cursor: str | None):
    """Rows of ``query`` newest first by ``column`` (ties by id), after ``cursor``."""
    from sqlalchemy import and_, or_

    query = query.order_by(column.desc(), id_column.desc())
    if cursor:
        at, last_id = decode(cursor)
        query = query.where(or_(column < at, and_(column == at, id_column < last_id)))
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode(getattr(last, column.key), last.id)
    return rows, next_cursor
