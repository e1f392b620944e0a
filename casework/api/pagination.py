"""Opaque keyset cursors and the list envelope {"items": [...], "next_cursor": ...}."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date

from marshmallow import Schema, fields, validate

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class InvalidCursor(ValueError):
    pass


def encode_cursor(sort_value: date, row_id: uuid.UUID) -> str:
    """The position after a row, by its sort key (a date) and its id (the tie-breaker)."""
    raw = json.dumps([sort_value.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[date, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort_value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return date.fromisoformat(sort_value), uuid.UUID(row_id)
    except (ValueError, TypeError, UnicodeError) as exc:
        raise InvalidCursor("The cursor is not one this API gave out.") from exc


def encode_keyset(key: str, sort_value: str | int, row_id: uuid.UUID) -> str:
    """The position after a row of a list sorted by ``key`` (e.g. "case_number:asc"): the
    row's sort value (a JSON string or integer) and its id (the tie-breaker)."""
    raw = json.dumps([key, sort_value, str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_keyset(cursor: str, key: str) -> tuple[str | int, uuid.UUID]:
    """The sort value and id of ``cursor``; InvalidCursor unless it was given out for a
    list sorted by ``key``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_key, sort_value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if cursor_key != key or isinstance(sort_value, bool) \
                or not isinstance(sort_value, str | int):
            raise ValueError(cursor_key)
        return sort_value, uuid.UUID(row_id)
    except (ValueError, TypeError, UnicodeError, AttributeError) as exc:
        raise InvalidCursor("The cursor is not one this API gave out.") from exc


class PageArgs(Schema):
    limit = fields.Integer(load_default=DEFAULT_LIMIT,
                           validate=validate.Range(min=1, max=MAX_LIMIT),
                           metadata={"description": f"Items per page (1–{MAX_LIMIT})."})
    cursor = fields.String(load_default=None, validate=validate.Length(max=200),
                           metadata={"description": "next_cursor of the previous page."})
