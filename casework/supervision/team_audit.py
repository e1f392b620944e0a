"""The team audit: a supervisor's view of their team's audit events.

A team's events are those about its cases (``AuditEvent.team_id``, set when the event was
recorded) and those done by its members. Audit rows store field names, never values; the
``reason`` of a break-glass is the supervisor's own free text and is shown as written.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from .. import access, audit
from ..api.pagination import InvalidCursor
from ..audit.labels import action_label
from ..audit.models import AuditEvent
from ..auth.models import User
from ..extensions import db
from ..spreadsheets import neutralise
from ..survivors.models import Survivor
from ..survivors.service import ValidationFailed

BREAK_GLASS = "survivor.break_glass"
EXPORT_LIMIT = 100_000
_ACTION_RE = re.compile(r"^[a-z0-9_.]{1,64}$")
_CASE_RE = re.compile(r"^[A-Za-z0-9-]{1,16}$")


@dataclass
class AuditFilters:
    actor_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    case_number: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def used(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def describe(self) -> str:
        parts = []
        for name in self.used():
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.strftime("%Y-%m-%dT%H:%M:%SZ")
            parts.append(f"{name}={value}")
        return "; ".join(parts)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def parse_moment(name: str, value: str | None, *, end_of_day: bool = False) -> datetime | None:
    """A date (YYYY-MM-DD) or UTC timestamp; ``end_of_day`` makes a date include its day."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationFailed({name: [_l("Give a date as YYYY-MM-DD.")]})
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if day.year < 1900 or day.year > 9998:
                raise ValueError
            return _day_start(day + timedelta(days=1) if end_of_day else day)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed({name: [_l("Give a date as YYYY-MM-DD.")]}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.year < 1900 or moment.year > 9998:
        raise ValidationFailed({name: [_l("Give a date as YYYY-MM-DD.")]})
    return moment.astimezone(UTC)


def parse_filters(args) -> AuditFilters:
    """Filters from query arguments (page and CSV), each checked; bad ones → ValidationFailed."""
    errors: dict[str, list[str]] = {}
    result = AuditFilters()
    for name in ("actor_id", "subject_id"):
        value = (args.get(name) or "").strip()
        if value:
            try:
                setattr(result, name, uuid.UUID(value))
            except ValueError:
                errors[name] = [_l("Not a valid id.")]
    case_number = (args.get("case_number") or "").strip()
    if case_number:
        if _CASE_RE.match(case_number):
            result.case_number = case_number.upper()
        else:
            errors["case_number"] = [_l("Not a case number.")]
    action = (args.get("action") or "").strip()
    if action:
        if _ACTION_RE.match(action):
            result.action = action
        else:
            errors["action"] = [_l("Not a known action.")]
    for name, end in (("since", False), ("until", True)):
        try:
            setattr(result, name, parse_moment(name, args.get(name), end_of_day=end))
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return result


def team_clause(user):
    """Events about the team's cases, or done by one of its members."""
    members = select(User.id).where(User.team_id == user.team_id)
    return or_(AuditEvent.team_id == user.team_id, AuditEvent.actor_id.in_(members))


def _query(user, filters: AuditFilters):
    query = select(AuditEvent).where(team_clause(user))
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.subject_id is not None:
        query = query.where(AuditEvent.subject_id == filters.subject_id)
    if filters.case_number is not None:
        query = query.where(AuditEvent.subject_id.in_(
            select(Survivor.id).where(Survivor.case_number == filters.case_number)))
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.occurred_at < filters.until)
    return query


def encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["audit", event_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        tag, event_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if tag != "audit" or not isinstance(event_id, int) or isinstance(event_id, bool):
            raise ValueError
        return event_id
    except (ValueError, TypeError, UnicodeError) as exc:
        raise InvalidCursor("The cursor is not one this API gave out.") from exc


def page(user, filters: AuditFilters, limit: int, cursor: str | None
         ) -> tuple[list[AuditEvent], str | None]:
    """One page of the team's events, newest first (keyset on the gapless id)."""
    access.require(user, "team_audit.read")
    query = _query(user, filters)
    if cursor:
        query = query.where(AuditEvent.id < decode_cursor(cursor))
    rows = list(db.session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    audit.record(user, "audit.viewed", fields=filters.used(), reason=filters.describe() or None)
    return rows[:limit], next_cursor


def case_numbers(events: list[AuditEvent]) -> dict[uuid.UUID, str]:
    """Case numbers of the survivors the events are about (one query)."""
    ids = {e.subject_id for e in events if e.subject_id is not None}
    if not ids:
        return {}
    rows = db.session.execute(
        select(Survivor.id, Survivor.case_number).where(Survivor.id.in_(ids)))
    return {row.id: row.case_number for row in rows}


def team_members(user) -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.team_id == user.team_id).order_by(User.username)))


def verify(user) -> audit.VerifyResult:
    """Walk the whole chain now (nothing cached between requests)."""
    access.require(user, "audit.verify")
    return audit.verify()


CSV_COLUMNS = ("id", "occurred_at", "actor_username", "actor_id", "action", "action_label",
               "case_number", "subject_type", "subject_id", "fields", "reason", "channel",
               "break_glass")


def export_csv(user, filters: AuditFilters) -> str:
    """The filtered events as CSV (newest first, at most EXPORT_LIMIT), the export audited."""
    access.require(user, "team_audit.read")
    events = list(db.session.scalars(
        _query(user, filters).order_by(AuditEvent.id.desc()).limit(EXPORT_LIMIT)))
    numbers = case_numbers(events)
    audit.record(user, "audit.exported", fields=filters.used(),
                 reason=(f"{len(events)} events; " + filters.describe()).rstrip("; "))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow([neutralise(v) for v in (
            event.id, event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            event.actor_username, event.actor_id, event.action, action_label(event.action),
            numbers.get(event.subject_id), event.subject_type, event.subject_id,
            " ".join(event.fields or []), event.reason, event.channel,
            "yes" if event.action == BREAK_GLASS else "",
        )])
    return buffer.getvalue()
