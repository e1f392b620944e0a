"""Audit events: record() appends to the hash chain; verify() walks it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import g, has_request_context, request
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from ..extensions import db
from .models import GENESIS_HASH, AuditEvent, CanonicalBatch, chain_hash

# One advisory lock key serialises appends to the chain on PostgreSQL.
_CHAIN_LOCK_KEY = 0x4341_5345  # "CASE"
_LOCK_CHAIN = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD = select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)


def _channel() -> str:
    if not has_request_context():
        return "cli"
    return "api" if request.path.startswith("/api/") else "web"


def _chain_head(session) -> tuple[int, str]:
    """Lock the chain for this transaction and return the last (id, hash)."""
    head = session.info.get("audit_head")
    if head is not None:
        return head
    connection = session.connection()  # the transaction's own; no ORM needed for these
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_CHAIN, {"key": _CHAIN_LOCK_KEY})
    row = connection.execute(_HEAD).first()
    return (row.id, row.hash) if row else (0, GENESIS_HASH)


# Events recorded in a transaction wait in ``session.info[_PENDING]`` and are chained and
# inserted together when it commits (a query of the audit table in the same transaction does
# not see them; ``write_pending`` writes them at once where one must). The
# chain's lock is then held from that INSERT to the COMMIT only, not while the rest of the
# request (its other queries, its template) runs: concurrent requests, which all append,
# no longer queue behind each other for the whole of one.
_PENDING = "audit_pending"


def _pending(session) -> list[dict]:
    """The events waiting in ``session``'s transaction (begun here if none is: a rollback
    before any query must still take them away)."""
    if not session.in_transaction():
        session.begin()
    return session.info.setdefault(_PENDING, [])


def _origin(actor, actor_username: str | None = None) -> dict:
    """Who acted, and through what: the part of an event that every event of one call shares
    (worked out once for a list's fifty)."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return {
        "actor_id": actor.id if authenticated else None,
        "actor_username": actor.username if authenticated else actor_username,
        "channel": _channel(),
        "ip": request.remote_addr if has_request_context() else None,
    }


def _row(origin: dict, action: str, subject_type, subject_id, team_id, fields, reason,
         occurred_at: datetime) -> dict:
    """One event's content: all its columns but the chain's (id, prev_hash, hash)."""
    return {
        "occurred_at": occurred_at,
        **origin,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "team_id": team_id,
        "fields": sorted(fields),
        "reason": reason,
    }


def record(
    actor,
    action: str,
    subject=None,
    fields: Iterable[str] = (),
    reason: str | None = None,
    *,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
    actor_username: str | None = None,
) -> dict:
    """Append one event in the current unit of work (committed with the request).

    Returns the event's content (its id and hashes are given when it is written). Its time
    is when it was recorded; its place in the chain, when its transaction commits."""
    if subject is not None:
        subject_type = subject_type or type(subject).__tablename__.rstrip("s")
        subject_id = subject.id
    row = _row(_origin(actor, actor_username), action, subject_type, subject_id,
               _team_of(subject), fields, reason, datetime.now(UTC))
    _pending(db.session()).append(row)
    return row


def record_many(actor, action: str, items: Iterable[tuple[object, Iterable[str]]]) -> int:
    """Append one event per ``(subject, fields)`` — a list's rows — written with the
    transaction's other events in a single INSERT (no ORM object for each)."""
    now = datetime.now(UTC)
    origin = _origin(actor)
    rows = [_row(origin, action, type(subject).__tablename__.rstrip("s"), subject.id,
                 _team_of(subject), fields, None, now) for subject, fields in items]
    if rows:
        _pending(db.session()).extend(rows)
    return len(rows)


def write_pending(session) -> int:
    """Chain and insert the events recorded in ``session``'s transaction (one INSERT)."""
    rows = session.info.pop(_PENDING, None)
    if not rows:
        return 0
    last_id, last_hash = _chain_head(session)
    canonical = CanonicalBatch()
    for row in rows:
        row["id"] = last_id + 1
        row["prev_hash"] = last_hash
        row["hash"] = chain_hash(last_hash, canonical(row))
        last_id, last_hash = row["id"], row["hash"]
    session.connection().execute(insert(AuditEvent.__table__), rows)
    session.info["audit_head"] = (last_id, last_hash)
    return len(rows)


def _team_of(subject):
    lead = getattr(subject, "lead_caseworker", None)
    return lead.team_id if lead is not None else None


@dataclass
class _PendingDenial:
    actor_id: uuid.UUID | None
    action: str
    subject_id: uuid.UUID | None
    fields: list[str]
    actor_username: str | None
    reason: str | None


def record_denial(actor, action: str, subject=None, fields: Iterable[str] = (),
                  *, actor_username: str | None = None, reason: str | None = None) -> None:
    """Record an event that must outlive the failed request it belongs to.

    A denied or failed request rolls its unit of work back; these events are written again
    in a transaction of their own afterwards (see ``flush_denials``).
    """
    event = record(actor, action, subject, fields, reason, actor_username=actor_username)
    if has_request_context():
        g.setdefault("audit_denials", []).append(
            _PendingDenial(event["actor_id"], action, event["subject_id"], list(fields),
                           event["actor_username"], reason)
        )


def flush_denials(committed: bool) -> None:
    """Called once per request after its commit or rollback."""
    pending = g.pop("audit_denials", [])
    if committed or not pending:
        return
    from ..auth.models import User
    from ..survivors.models import Survivor

    for item in pending:
        actor = db.session.get(User, item.actor_id) if item.actor_id else None
        subject = db.session.get(Survivor, item.subject_id) if item.subject_id else None
        record(actor, item.action, subject, item.fields, item.reason,
               actor_username=item.actor_username)
    db.session.commit()


def forget_chain_head(session) -> None:
    session.info.pop("audit_head", None)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None
    problem: str | None = None


def verify(batch_size: int = 2000) -> VerifyResult:
    """Walk the whole chain in order and recompute every hash."""
    expected_prev = GENESIS_HASH
    expected_id = 1
    checked = 0
    stmt = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch_size)
    for event in db.session.scalars(stmt):
        if event.id != expected_id:
            problem = "a row is missing before it" if event.id > expected_id else "out of order"
            return VerifyResult(False, checked, event.id, problem)
        if event.prev_hash != expected_prev:
            return VerifyResult(False, checked, event.id, "it does not follow the row before")
        if event.compute_hash() != event.hash:
            return VerifyResult(False, checked, event.id, "its content does not match its hash")
        checked += 1
        expected_prev = event.hash
        expected_id += 1
    return VerifyResult(True, checked, None)


def _clear_head(session, *args) -> None:
    forget_chain_head(session)


def _mark_savepoint(session, transaction) -> None:
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_PENDING, ()))


def _discard_rolled_back(session, previous_transaction) -> None:
    """Events recorded inside a savepoint that rolls back go with it; a rolled back
    transaction takes all its unwritten events."""
    mark = session.info.get(_MARKS, {}).pop(previous_transaction, None)
    if previous_transaction.nested:
        if mark is not None and session.info.get(_PENDING):
            del session.info[_PENDING][mark:]
    elif previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)


def _write_at_commit(session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release: its events wait
        write_pending(session)


_MARKS = "audit_savepoint_marks"
sa_event.listen(Session, "before_commit", _write_at_commit)
sa_event.listen(Session, "after_transaction_create", _mark_savepoint)
sa_event.listen(Session, "after_soft_rollback", _discard_rolled_back)
# The cached chain head belongs to one transaction only.
for _name in ("after_commit", "after_rollback", "after_soft_rollback"):
    sa_event.listen(Session, _name, _clear_head)
