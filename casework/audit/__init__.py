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
from .models import GENESIS_HASH, AuditEvent, canonical_bytes, chain_hash

# One advisory lock key serialises appends to the chain on PostgreSQL.
_CHAIN_LOCK_KEY = 0x4341_5345  # "CASE"


def _channel() -> str:
    if not has_request_context():
        return "cli"
    return "api" if request.path.startswith("/api/") else "web"


def _chain_head() -> tuple[int, str]:
    """Lock the chain for this transaction and return the last (id, hash)."""
    session = db.session
    head = session.info.get("audit_head")
    if head is not None:
        return head
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (row.id, row.hash) if row else (0, GENESIS_HASH)


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
) -> AuditEvent:
    """Append one event in the current unit of work (committed with the request)."""
    last_id, last_hash = _chain_head()
    if subject is not None:
        subject_type = subject_type or type(subject).__tablename__.rstrip("s")
        subject_id = subject.id
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        id=last_id + 1,
        occurred_at=datetime.now(UTC),
        actor_id=actor.id if authenticated else None,
        actor_username=actor.username if authenticated else actor_username,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        team_id=_team_of(subject),
        fields=sorted(fields),
        reason=reason,
        channel=_channel(),
        ip=request.remote_addr if has_request_context() else None,
        prev_hash=last_hash,
    )
    event.hash = event.compute_hash()
    db.session.add(event)
    db.session.info["audit_head"] = (event.id, event.hash)
    return event


def record_many(actor, action: str, items: Iterable[tuple[object, Iterable[str]]]) -> int:
    """Append one event per ``(subject, fields)`` — a list's rows — in a single INSERT.

    The same events ``record`` would append, chained the same way, without building an ORM
    object for each: a page of 50 survivors is one statement.
    """
    rows = []
    last_id, last_hash = _chain_head()
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    now = datetime.now(UTC)
    channel = _channel()
    ip = request.remote_addr if has_request_context() else None
    for subject, fields in items:
        row = {
            "id": last_id + 1,
            "occurred_at": now,
            "actor_id": actor.id if authenticated else None,
            "actor_username": actor.username if authenticated else None,
            "action": action,
            "subject_type": type(subject).__tablename__.rstrip("s"),
            "subject_id": subject.id,
            "team_id": _team_of(subject),
            "fields": sorted(fields),
            "reason": None,
            "channel": channel,
            "ip": ip,
            "prev_hash": last_hash,
        }
        row["hash"] = chain_hash(last_hash, canonical_bytes(row))
        rows.append(row)
        last_id, last_hash = row["id"], row["hash"]
    if rows:
        db.session.execute(insert(AuditEvent.__table__), rows)
        db.session.info["audit_head"] = (last_id, last_hash)
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
            _PendingDenial(event.actor_id, action, event.subject_id, list(fields),
                           event.actor_username, reason)
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


# The cached chain head belongs to one transaction only.
for _name in ("after_commit", "after_rollback", "after_soft_rollback"):
    sa_event.listen(Session, _name, _clear_head)
