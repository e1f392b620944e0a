"""Counselling logic shared by the pages and the API.

Who may do what (the field rules come from the access policy; the actions from here):

* Starting, changing and ending an engagement writes its operational fields, so it is open to
  whoever the policy lets write them for the survivor (the lead caseworker, collaborators and
  team supervisors), never to counsellors.
* Recording a session is an action of the counsellors of an open engagement, like closing a
  case is an action: it sets the session's facts (date, duration, modality, ...) together with
  its notes, and is allowed to a user who may write the survivor's privileged fields and is a
  counsellor of that engagement. Afterwards each field is changed as the policy says: the
  notes by the counsellors of the engagement only, the facts by the staff who may write
  operational fields.
* Reading goes through ``access.present``: the notes are privileged and reach the session's
  circle (its author and the engagement's counsellors) only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from flask import url_for
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Forbidden

from .. import access, audit, vocab
from ..access.fields import field_specs
from ..api.pagination import decode_cursor, encode_cursor
from ..auth.models import User
from ..extensions import db
from ..models_base import utcnow
from ..survivors import service as survivors
from ..survivors.models import Survivor
from ..survivors.service import _CONTROL, Conflict, ValidationFailed
from ..survivors.timeline import TimelineEvent
from .models import (
    MAX_DURATION,
    MAX_NOTES,
    MIN_DURATION,
    CounsellingEngagement,
    CounsellingSession,
    engagement_co_counsellors,
)

__all__ = ["Conflict", "ValidationFailed"]

EARLIEST_DATE = date(1900, 1, 1)
# What a counsellor gives when recording a session (the action's inputs).
SESSION_FACTS = ("held_on", "duration_minutes", "modality", "language", "interpreter_used",
                 "attended")
SESSION_INPUT = (*SESSION_FACTS, "notes")
ENGAGEMENT_INPUT = ("counsellor_id", "started_on", "co_counsellor_ids")


class NotAllowed(Forbidden):
    """The caller may read the survivor but not do this (403, with the reason)."""


# --- validation ----------------------------------------------------------------------------------


def _text(value, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(_l("Enter text."))
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError(_l("Remove the control characters from this text."))
    if len(value) > limit:
        raise ValueError(_l("Use at most %(n)d characters.", n=limit))
    return value or None


def _date(value, *, required: bool, today: date | None = None) -> date | None:
    today = today or date.today()
    if value is None or value == "":
        if required:
            raise ValueError(_l("Enter a date."))
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValueError(_l("Enter a date as YYYY-MM-DD.")) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(_l("Enter a date as YYYY-MM-DD."))
    if value > today:
        raise ValueError(_l("This date is in the future."))
    if value < EARLIEST_DATE:
        raise ValueError(_l("This date is before 1900."))
    return value


def _bool(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(_l("Answer true or false."))
    return value


def _duration(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(_l("Enter the duration as a whole number of minutes."))
    if not MIN_DURATION <= value <= MAX_DURATION:
        raise ValueError(_l("Enter between %(low)d and %(high)d minutes.",
                            low=MIN_DURATION, high=MAX_DURATION))
    return value


def _vocab_value(name: str, value, *, required: bool) -> str | None:
    if isinstance(value, str) and len(value) > 40:
        raise ValueError(_l("“%(value)s” is not one of the allowed values.", value=value[:40]))
    text = _text(value, 40)
    if text is None:
        if required:
            raise ValueError(_l("Choose a value."))
        return None
    vocabulary = vocab.resolve(field_specs(CounsellingSession)[name].vocab)
    if text not in vocabulary:
        raise ValueError(_l("“%(value)s” is not one of the allowed values.", value=text))
    return text


def _uuid(value) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise ValueError(_l("Not an id."))
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(_l("Not an id.")) from None


def _counsellor(value) -> User:
    try:
        user_id = _uuid(value)
    except ValueError:
        raise ValueError(_l("Not a user id.")) from None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.role != "counsellor":
        raise ValueError(_l("No active counsellor with this id."))
    return user


def _counsellors(value) -> list[User]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError(_l("Give a list of user ids."))
    users = [_counsellor(v) for v in value]
    return list({u.id: u for u in users}.values())


def _collect(checks: dict) -> dict:
    """Run ``name -> callable`` checks, gathering every field's error."""
    errors: dict[str, list] = {}
    clean = {}
    for name, check in checks.items():
        try:
            clean[name] = check()
        except ValueError as exc:
            errors.setdefault(name, []).append(exc.args[0])
    if errors:
        raise ValidationFailed(errors)
    return clean


def _reject_unknown(model, data: dict) -> None:
    """Unknown names are invalid (422); names of fields set by the system are forbidden."""
    if not isinstance(data, dict):
        raise ValidationFailed({"_schema": [_l("Send an object of fields.")]})
    specs = field_specs(model)
    unknown = sorted(name for name in data if name not in specs)
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in unknown})


def _refuse_system_fields(user, survivor, data: dict, accepted: tuple[str, ...]) -> None:
    forbidden = sorted(name for name in data if name not in accepted)
    if forbidden:
        audit.record_denial(user, "survivor.write_denied", survivor, forbidden)
        raise access.ForbiddenFields(forbidden)


# --- loading -------------------------------------------------------------------------------------


def get_engagement(user, engagement_id) -> CounsellingEngagement:
    """Load, then authorise: 404 unless the caller may read the engagement's survivor."""
    return survivors.get_record_for(user, CounsellingEngagement, engagement_id)


def get_session(user, session_id) -> CounsellingSession:
    return survivors.get_record_for(user, CounsellingSession, session_id)


def _audit_read(user, action: str, survivor: Survivor, shown: list[dict], prefix: str) -> None:
    names = sorted({f"{prefix}.{name}" for item in shown for name in item})
    audit.record(user, action, survivor, fields=names)


def engagements_for(user, survivor: Survivor) -> list[CounsellingEngagement]:
    """Every engagement of ``survivor``, open ones first, then latest first (not audited:
    callers present and audit what they show)."""
    return list(db.session.scalars(
        select(CounsellingEngagement)
        .where(CounsellingEngagement.survivor_id == survivor.id)
        .options(selectinload(CounsellingEngagement.co_counsellors),
                 selectinload(CounsellingEngagement.counsellor))
        .order_by(CounsellingEngagement.ended_on.is_not(None),
                  CounsellingEngagement.started_on.desc(), CounsellingEngagement.id.desc())
    ))


def engagements_page(user, survivor: Survivor, limit: int, cursor: str | None
                     ) -> tuple[list[CounsellingEngagement], str | None]:
    """One page of the survivor's engagements, latest started first (raises InvalidCursor)."""
    query = (
        select(CounsellingEngagement)
        .where(CounsellingEngagement.survivor_id == survivor.id)
        .options(selectinload(CounsellingEngagement.co_counsellors))
        .order_by(CounsellingEngagement.started_on.desc(), CounsellingEngagement.id.desc())
    )
    if cursor:
        started_on, last_id = decode_cursor(cursor)
        query = query.where(or_(
            CounsellingEngagement.started_on < started_on,
            and_(CounsellingEngagement.started_on == started_on,
                 CounsellingEngagement.id < last_id),
        ))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].started_on, rows[-1].id)
    return rows, next_cursor


def present_engagements(user, survivor: Survivor,
                        engagements: list[CounsellingEngagement]) -> list[dict]:
    shown = [access.present(user, e) for e in engagements]
    _audit_read(user, "counselling.engagements_viewed", survivor, shown, "counselling_engagement")
    return shown


def _session_query(survivor_id):
    return (
        select(CounsellingSession)
        .where(CounsellingSession.survivor_id == survivor_id)
        .options(selectinload(CounsellingSession.engagement)
                 .selectinload(CounsellingEngagement.co_counsellors),
                 selectinload(CounsellingSession.counsellor))
        .order_by(CounsellingSession.held_on.desc(), CounsellingSession.id.desc())
    )


def sessions_page(user, survivor: Survivor, limit: int, cursor: str | None
                  ) -> tuple[list[CounsellingSession], str | None]:
    """One page of the survivor's sessions, latest first (raises InvalidCursor)."""
    query = _session_query(survivor.id)
    if cursor:
        held_on, last_id = decode_cursor(cursor)
        query = query.where(or_(
            CounsellingSession.held_on < held_on,
            and_(CounsellingSession.held_on == held_on, CounsellingSession.id < last_id),
        ))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].held_on, rows[-1].id)
    return rows, next_cursor


def present_sessions(user, survivor: Survivor, sessions: list[CounsellingSession]) -> list[dict]:
    shown = [access.present(user, s) for s in sessions]
    _audit_read(user, "counselling.sessions_viewed", survivor, shown, "counselling_session")
    return shown


def view_session(user, session: CounsellingSession) -> dict:
    shown = access.present(user, session)
    _audit_read(user, "counselling.session_viewed", session.survivor, [shown],
                "counselling_session")
    return shown


def view_engagement(user, engagement: CounsellingEngagement) -> dict:
    shown = access.present(user, engagement)
    _audit_read(user, "counselling.engagement_viewed", engagement.survivor, [shown],
                "counselling_engagement")
    return shown


def my_sessions(user, limit: int = 100) -> list[tuple[CounsellingSession, dict, str | None]]:
    """A counsellor's latest sessions: those they recorded and those of their engagements,
    of survivors they may still see."""
    if user.role != "counsellor":
        raise Forbidden()
    co = engagement_co_counsellors
    mine = or_(
        CounsellingSession.counsellor_id == user.id,
        CounsellingSession.engagement_id.in_(
            select(CounsellingEngagement.id).where(or_(
                CounsellingEngagement.counsellor_id == user.id,
                CounsellingEngagement.id.in_(
                    select(co.c.engagement_id).where(co.c.user_id == user.id)),
            ))
        ),
    )
    rows = list(db.session.scalars(
        select(CounsellingSession)
        .join(Survivor, Survivor.id == CounsellingSession.survivor_id)
        .where(mine, access.scope_clause(user))
        .options(
            selectinload(CounsellingSession.survivor).selectinload(Survivor.collaborators),
            selectinload(CounsellingSession.survivor).selectinload(Survivor.lead_caseworker),
            selectinload(CounsellingSession.engagement)
            .selectinload(CounsellingEngagement.co_counsellors),
        )
        .order_by(CounsellingSession.held_on.desc(), CounsellingSession.id.desc())
        .limit(limit)
    ))
    by_survivor: dict[uuid.UUID, list[dict]] = {}
    case_numbers: dict[uuid.UUID, str | None] = {}
    out = []
    for session in rows:
        shown = access.present(user, session)
        by_survivor.setdefault(session.survivor_id, []).append(shown)
        if session.survivor_id not in case_numbers:
            readable = access.readable_fields(user, session.survivor)
            case_numbers[session.survivor_id] = (
                session.survivor.case_number if "case_number" in readable else None)
        out.append((session, shown, case_numbers[session.survivor_id]))
    survivors_by_id = {s.survivor_id: s.survivor for s in rows}
    for survivor_id, shown in by_survivor.items():
        names = sorted({f"counselling_session.{n}" for item in shown for n in item})
        if case_numbers[survivor_id] is not None:
            names.append("case_number")
        audit.record(user, "counselling.sessions_listed", survivors_by_id[survivor_id],
                     fields=names)
    return out


# --- who may do what -----------------------------------------------------------------------------


def may_start_engagement(user, survivor: Survivor) -> bool:
    writable = access.writable_fields(user, CounsellingEngagement, survivor=survivor)
    return {"counsellor_id", "started_on"} <= writable and not survivor.is_closed


def may_manage(user, engagement: CounsellingEngagement) -> bool:
    """Change or end ``engagement``: whoever may write its operational fields."""
    return "started_on" in access.writable_fields(user, engagement)


def may_record(user, survivor: Survivor) -> bool:
    """A counsellor who may write the survivor's privileged fields (policy) may record the
    sessions of their own open engagements with them."""
    if user.role != "counsellor":
        return False
    return "notes" in access.writable_fields(user, CounsellingSession, survivor=survivor)


def open_engagements_of(user, survivor: Survivor,
                        engagements: list[CounsellingEngagement] | None = None
                        ) -> list[CounsellingEngagement]:
    """The open engagements of ``survivor`` that ``user`` is a counsellor of."""
    if engagements is None:
        engagements = engagements_for(user, survivor)
    return [e for e in engagements if e.is_open and user.id in e.counsellor_ids()]


# --- engagements ---------------------------------------------------------------------------------


def _check_start(survivor: Survivor, started_on: date | None) -> None:
    if started_on is not None and started_on < survivor.intake_date:
        raise ValidationFailed({"started_on": [_l(
            "An engagement cannot start before the survivor's intake (%(day)s).",
            day=format_date(survivor.intake_date))]})


def start_engagement(user, survivor: Survivor, data: dict) -> CounsellingEngagement:
    _reject_unknown(CounsellingEngagement, data)
    access.check_write(user, CounsellingEngagement, data.keys(), survivor=survivor)
    if survivor.is_closed:
        raise Conflict(_l("This case is closed: no new engagement can start."))
    clean = _collect({
        "counsellor_id": lambda: _counsellor(data.get("counsellor_id")),
        "started_on": lambda: _date(data.get("started_on"), required=True),
        "co_counsellor_ids": lambda: _counsellors(data.get("co_counsellor_ids")),
    })
    counsellor: User = clean["counsellor_id"]
    co_counsellors = [u for u in clean["co_counsellor_ids"] if u.id != counsellor.id]
    _check_start(survivor, clean["started_on"])
    already = db.session.scalar(select(CounsellingEngagement.id).where(
        CounsellingEngagement.survivor_id == survivor.id,
        CounsellingEngagement.counsellor_id == counsellor.id,
        CounsellingEngagement.ended_on.is_(None),
    ))
    if already is not None:
        raise Conflict(_l("%(name)s already has an open engagement with this survivor.",
                          name=counsellor.display_name))
    engagement = CounsellingEngagement(survivor_id=survivor.id, survivor=survivor,
                                       counsellor_id=counsellor.id, counsellor=counsellor,
                                       started_on=clean["started_on"],
                                       co_counsellors=co_counsellors)
    try:
        with db.session.begin_nested():
            db.session.add(engagement)
            db.session.flush()
    except IntegrityError:  # another request opened the same engagement first
        raise Conflict(_l("%(name)s already has an open engagement with this survivor.",
                          name=counsellor.display_name)) from None
    access.forget(survivor)
    audit.record(user, "counselling.engagement_started", survivor,
                 fields=[f"counselling_engagement.{n}" for n in
                         ("counsellor_id", "started_on", "co_counsellor_ids")])
    return engagement


def update_engagement(user, engagement: CounsellingEngagement, data: dict) -> list[str]:
    """Change the start date or the co-counsellors of an open engagement."""
    survivor = engagement.survivor
    _reject_unknown(CounsellingEngagement, data)
    access.check_write(user, engagement, data.keys())
    if not engagement.is_open:
        raise Conflict(_l("This engagement has ended and can no longer change."))
    checks = {}
    if "counsellor_id" in data:
        checks["counsellor_id"] = lambda: _counsellor(data["counsellor_id"])
    if "started_on" in data:
        checks["started_on"] = lambda: _date(data["started_on"], required=True)
    if "co_counsellor_ids" in data:
        checks["co_counsellor_ids"] = lambda: _counsellors(data["co_counsellor_ids"])
    clean = _collect(checks)
    if "counsellor_id" in clean and clean["counsellor_id"].id != engagement.counsellor_id:
        raise ValidationFailed({"counsellor_id": [_l(
            "An engagement keeps its counsellor: end it and start a new one.")]})
    changed = []
    if "started_on" in clean and clean["started_on"] != engagement.started_on:
        _check_start(survivor, clean["started_on"])
        first = db.session.scalar(select(func.min(CounsellingSession.held_on)).where(
            CounsellingSession.engagement_id == engagement.id))
        if first is not None and clean["started_on"] > first:
            raise ValidationFailed({"started_on": [_l(
                "A session of this engagement was held on %(day)s, before this date.",
                day=format_date(first))]})
        engagement.started_on = clean["started_on"]
        changed.append("started_on")
    if "co_counsellor_ids" in clean:
        co = [u for u in clean["co_counsellor_ids"] if u.id != engagement.counsellor_id]
        if [u.id for u in co] != engagement.co_counsellor_ids:
            engagement.co_counsellors = co
            changed.append("co_counsellor_ids")
    if changed:
        engagement.updated_at = utcnow()
        access.forget(survivor)
        audit.record(user, "counselling.engagement_updated", survivor,
                     fields=[f"counselling_engagement.{n}" for n in changed])
    return changed


def end_engagement(user, engagement: CounsellingEngagement, on) -> None:
    survivor = engagement.survivor
    if not may_manage(user, engagement):
        audit.record_denial(user, "counselling.end.denied", survivor)
        raise NotAllowed(_l("Only the case's caseworkers and supervisors may end an "
                            "engagement."))
    if not engagement.is_open:
        raise Conflict(_l("This engagement already ended on %(day)s.",
                          day=format_date(engagement.ended_on)))
    clean = _collect({"on": lambda: _date(on, required=True)})
    ended_on = clean["on"]
    if ended_on < engagement.started_on:
        raise ValidationFailed({"on": [_l("The engagement started on %(day)s, after this date.",
                                          day=format_date(engagement.started_on))]})
    last = db.session.scalar(select(func.max(CounsellingSession.held_on)).where(
        CounsellingSession.engagement_id == engagement.id))
    if last is not None and ended_on < last:
        raise ValidationFailed({"on": [_l(
            "A session of this engagement was held on %(day)s, after this date.",
            day=format_date(last))]})
    engagement.ended_on = ended_on
    engagement.updated_at = utcnow()
    access.forget(survivor)
    audit.record(user, "counselling.engagement_ended", survivor,
                 fields=["counselling_engagement.ended_on"])


# --- sessions ------------------------------------------------------------------------------------


def _check_held_on(engagement: CounsellingEngagement, held_on: date) -> None:
    if held_on < engagement.started_on:
        raise ValidationFailed({"held_on": [_l(
            "The engagement started on %(day)s: a session cannot be before it.",
            day=format_date(engagement.started_on))]})
    if engagement.ended_on is not None and held_on > engagement.ended_on:
        raise ValidationFailed({"held_on": [_l(
            "The engagement ended on %(day)s: a session cannot be after it.",
            day=format_date(engagement.ended_on))]})


def _engagement_for_recording(user, survivor: Survivor, engagement_id) -> CounsellingEngagement:
    engagements = engagements_for(user, survivor)
    if engagement_id is not None:
        try:
            key = _uuid(engagement_id)
        except ValueError as exc:
            raise ValidationFailed({"engagement_id": [exc.args[0]]}) from None
        chosen = next((e for e in engagements if e.id == key), None)
        if chosen is None:
            raise ValidationFailed({"engagement_id": [_l(
                "No engagement of this survivor has this id.")]})
        if user.id not in chosen.counsellor_ids():
            audit.record_denial(user, "counselling.record.denied", survivor)
            raise NotAllowed(_l("You are not a counsellor of this engagement."))
        if not chosen.is_open:
            raise Conflict(_l("This engagement ended on %(day)s: no session can be added to it.",
                              day=format_date(chosen.ended_on)))
        return chosen
    mine = [e for e in engagements if user.id in e.counsellor_ids()]
    open_ = [e for e in mine if e.is_open]
    if len(open_) == 1:
        return open_[0]
    if len(open_) > 1:
        raise ValidationFailed({"engagement_id": [_l(
            "You are on more than one open engagement with this survivor: choose one.")]})
    if mine:
        raise Conflict(_l("Your engagement with this survivor ended on %(day)s: no session can "
                          "be added to it. Ask the caseworker to start a new one.",
                          day=format_date(max(e.ended_on for e in mine))))
    raise Conflict(_l("You have no open counselling engagement with this survivor. Ask the "
                      "caseworker to start one."))


def record_session(user, survivor: Survivor, data: dict) -> CounsellingSession:
    """A counsellor of an open engagement records a session (attended or a no-show)."""
    if not isinstance(data, dict):
        raise ValidationFailed({"_schema": [_l("Send an object of fields.")]})
    data = dict(data)
    engagement_id = data.pop("engagement_id", None)
    _reject_unknown(CounsellingSession, data)
    _refuse_system_fields(user, survivor, data, SESSION_INPUT)
    if not may_record(user, survivor):
        audit.record_denial(user, "counselling.record.denied", survivor)
        raise NotAllowed(_l("Only a counsellor with an open engagement may record sessions."))
    if "notes" in data:
        access.check_write(user, CounsellingSession, ["notes"], survivor=survivor)
    engagement = _engagement_for_recording(user, survivor, engagement_id)
    clean = _collect({
        "held_on": lambda: _date(data.get("held_on"), required=True),
        "duration_minutes": lambda: _duration(data.get("duration_minutes")),
        "modality": lambda: _vocab_value("modality", data.get("modality"), required=True),
        "language": lambda: _vocab_value("language", data.get("language"), required=False),
        "interpreter_used": lambda: _bool(data.get("interpreter_used", False)),
        "attended": lambda: _bool(data.get("attended", True)),
        "notes": lambda: _text(data.get("notes"), MAX_NOTES),
    })
    _check_held_on(engagement, clean["held_on"])
    session = CounsellingSession(survivor_id=survivor.id, survivor=survivor,
                                 engagement_id=engagement.id, engagement=engagement,
                                 counsellor_id=user.id, **clean)
    db.session.add(session)
    db.session.flush()
    audit.record(user, "counselling.session_recorded", survivor,
                 fields=[f"counselling_session.{n}" for n in
                         ("engagement_id", "counsellor_id", *SESSION_INPUT)
                         if n not in ("notes",) or clean["notes"] is not None])
    return session


def update_session(user, session: CounsellingSession, data: dict) -> list[str]:
    """Change some fields of a session, as the policy allows (refused whole otherwise)."""
    _reject_unknown(CounsellingSession, data)
    access.check_write(user, session, data.keys())
    checks = {
        "held_on": lambda: _date(data["held_on"], required=True),
        "duration_minutes": lambda: _duration(data["duration_minutes"]),
        "modality": lambda: _vocab_value("modality", data["modality"], required=True),
        "language": lambda: _vocab_value("language", data["language"], required=False),
        "interpreter_used": lambda: _bool(data["interpreter_used"]),
        "attended": lambda: _bool(data["attended"]),
        "notes": lambda: _text(data["notes"], MAX_NOTES),
    }
    clean = _collect({name: check for name, check in checks.items() if name in data})
    if "held_on" in clean:
        _check_held_on(session.engagement, clean["held_on"])
    changed = [name for name, value in clean.items() if getattr(session, name) != value]
    for name in changed:
        setattr(session, name, clean[name])
    if changed:
        session.updated_at = utcnow()
        audit.record(user, "counselling.session_updated", session.survivor,
                     fields=[f"counselling_session.{n}" for n in changed])
    return changed


# --- reports ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceSummary:
    held: int  # sessions recorded in the period (planned sessions, whether attended or not)
    attended: int
    no_shows: int


def attendance_summary(survivor_ids, start: date, end: date) -> AttendanceSummary:
    """Sessions of ``survivor_ids`` held from ``start`` to ``end`` (inclusive): how many were
    recorded, attended and missed. One query; an aggregate with no survivor data."""
    ids = list(survivor_ids)
    if not ids:
        return AttendanceSummary(0, 0, 0)
    row = db.session.execute(
        select(
            func.count(CounsellingSession.id),
            func.coalesce(func.sum(case((CounsellingSession.attended.is_(True), 1), else_=0)), 0),
        ).where(CounsellingSession.survivor_id.in_(ids),
                CounsellingSession.held_on >= start, CounsellingSession.held_on <= end)
    ).one()
    held, attended = int(row[0]), int(row[1])
    return AttendanceSummary(held, attended, held - attended)


# --- timeline --------------------------------------------------------------------------------------


# What the timeline shows of each record (of what the viewer may read).
ENGAGEMENT_EVENT_FIELDS = ("counsellor_id", "co_counsellor_ids", "started_on", "ended_on")
SESSION_EVENT_FIELDS = ("counsellor_id", "duration_minutes", "modality", "language",
                        "interpreter_used", "attended", "notes")


def _subset(shown: dict, names: tuple[str, ...]) -> dict:
    return {name: shown[name] for name in names if name in shown}


def timeline_events(user, survivor) -> list[TimelineEvent]:
    """Engagements started and ended, and sessions, as far as ``user`` may see them.
    Three queries whatever the number of records."""
    engagements = engagements_for(user, survivor)
    sessions = list(db.session.scalars(_session_query(survivor.id)))
    page = url_for("counselling.survivor_sessions", survivor_id=survivor.id)
    events = []
    for engagement in engagements:
        shown = access.present(user, engagement)
        if "started_on" in shown:
            events.append(TimelineEvent(
                shown["started_on"], "counselling.engagement_started",
                str(_l("Counselling engagement started")), "counselling_engagement",
                engagement.id, _subset(shown, ENGAGEMENT_EVENT_FIELDS[:3]),
                f"{page}#engagement-{engagement.id}"))
        if shown.get("ended_on"):
            events.append(TimelineEvent(
                shown["ended_on"], "counselling.engagement_ended",
                str(_l("Counselling engagement ended")), "counselling_engagement",
                engagement.id, _subset(shown, ("counsellor_id", "ended_on")),
                f"{page}#engagement-{engagement.id}"))
    for session in sessions:
        shown = access.present(user, session)
        if "held_on" not in shown:
            continue
        missed = shown.get("attended") is False
        title = _l("Counselling session (missed)") if missed else _l("Counselling session")
        events.append(TimelineEvent(shown["held_on"], "counselling.session", str(title),
                                    "counselling_session", session.id,
                                    _subset(shown, SESSION_EVENT_FIELDS),
                                    f"{page}#session-{session.id}"))
    return events
