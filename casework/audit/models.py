"""The audit log: append-only and hash-chained.

Each row stores ``hash = sha256(prev_hash || canonical_json(row))``. Rows are numbered
without gaps (``id``), so an edited row breaks its own hash, a deleted row breaks the
numbering and the next row's ``prev_hash``, and an inserted row breaks both.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from sqlalchemy import DDL, JSON, BigInteger, Index, Integer, String, Text, Uuid, event
from sqlalchemy.orm import Mapped, mapped_column

from .. import append_only
from ..extensions import db
from ..models_base import UTCDateTime

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    # A survivor's access log reads its latest events (subject, then id descending): walked
    # in this index's order it stops after the page, however long the survivor's history.
    __table_args__ = (Index("ix_audit_events_subject_id_id", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    actor_username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str | None] = mapped_column(String(32))
    # Indexed with id (below): a record's access log is its latest events, newest first.
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The team responsible for the subject when the event happened (supervisors' filter).
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    # Names of fields read or changed — never the values of identifying fields.
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(8))
    ip: Mapped[str | None] = mapped_column(String(45))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def canonical(self) -> bytes:
        """The row's content, in one stable byte form, as the hash covers it."""
        return canonical_bytes({name: getattr(self, name) for name in HASHED_COLUMNS})

    def compute_hash(self) -> str:
        return chain_hash(self.prev_hash, self.canonical())


# The columns the hash covers (all but prev_hash and hash themselves).
HASHED_COLUMNS = ("id", "occurred_at", "actor_id", "actor_username", "action", "subject_type",
                  "subject_id", "team_id", "fields", "reason", "channel", "ip")


# json.dumps with these options would build a new encoder for every event (a list writes fifty).
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(row: dict) -> bytes:
    """One stable byte form of an event's content, from its column values."""
    body = {name: _canonical_value(name, row[name]) for name in HASHED_COLUMNS}
    return _CANONICAL_JSON.encode(body).encode()


def _canonical_value(name: str, value):
    """A column's value as the canonical form holds it (JSON's types)."""
    if name == "occurred_at":
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if name in ("actor_id", "subject_id", "team_id"):
        return str(value) if value else None
    if name == "fields":
        return list(value or [])
    return value


class CanonicalBatch:
    """``canonical_bytes`` of the events of one transaction, byte for byte the same, made
    several times faster: a list's fifty events differ in their id and subject only (one
    time, actor, action, team, set of fields), so the JSON around those two is made once per
    distinct rest and each event only fills its id and subject in. Measured: 450 µs for the
    fifty events of a list page through ``canonical_bytes``, 120 µs through this."""

    def __init__(self) -> None:
        self._frames: dict[tuple, tuple[str, str, str] | None] = {}

    def __call__(self, row: dict) -> bytes:
        event_id, subject_id = row["id"], row["subject_id"]
        if type(event_id) is not int or not (subject_id is None
                                             or isinstance(subject_id, uuid.UUID)):
            return canonical_bytes(row)
        occurred_at, fields = row["occurred_at"], row["fields"]
        rest = (occurred_at, occurred_at.tzinfo,  # equal instants in two zones format apart
                tuple(fields) if fields else (),
                *((type(row[name]), row[name]) for name in _FRAME_COLUMNS))
        if rest not in self._frames:
            frame = _frame(row)
            # (checked once per frame: an event whose form it would not give keeps the slow way)
            self._frames[rest] = frame if _fill(frame, row) == canonical_bytes(row) else None
        frame = self._frames[rest]
        return _fill(frame, row) if frame is not None else canonical_bytes(row)


# The columns a frame is made of besides the time and the fields (the id and subject fill it).
_FRAME_COLUMNS = ("action", "actor_id", "actor_username", "channel", "ip", "reason",
                  "subject_type", "team_id")
_ID_MARK, _SUBJECT_MARK = 0x1D_1D_1D, "\x00subject\x00"


def _fill(frame: tuple[str, str, str], row: dict) -> bytes:
    before_id, before_subject, after_subject = frame
    subject = f'"{row["subject_id"]}"' if row["subject_id"] else "null"
    return f"{before_id}{row['id']}{before_subject}{subject}{after_subject}".encode()


def _frame(row: dict) -> tuple[str, str, str]:
    """The canonical JSON of ``row`` cut around its id and subject: made by the same encoder
    with two marks in their place, so it cannot differ from ``canonical_bytes``."""
    body = {name: _canonical_value(name, row[name]) for name in HASHED_COLUMNS}
    body["id"], body["subject_id"] = _ID_MARK, _SUBJECT_MARK
    text = _CANONICAL_JSON.encode(body)
    before_id, _, after_id = text.partition(f'"id":{_ID_MARK}')
    before_subject, _, after_subject = after_id.partition(
        '"subject_id":' + _CANONICAL_JSON.encode(_SUBJECT_MARK))
    return before_id + '"id":', before_subject + '"subject_id":', after_subject


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


# The database itself refuses to change or remove audit rows, on both engines. The same
# statements are in the migration that creates the table.
APPEND_ONLY_DDL = {
    "sqlite": [
        """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
           BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
        """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
           BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    ],
    "postgresql": [
        """CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
           FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
    ],
}
DROP_APPEND_ONLY_DDL = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_events_no_update",
        "DROP TRIGGER IF EXISTS audit_events_no_delete",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events",
        "DROP FUNCTION IF EXISTS audit_events_append_only()",
    ],
}

for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(
            AuditEvent.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect)
        )

append_only.register(APPEND_ONLY_DDL, DROP_APPEND_ONLY_DDL)
