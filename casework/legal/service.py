"""Legal-aid logic shared by the pages and the API.

Matters and hearings are written by whoever the access policy lets write their fields for the
survivor (lead caseworker and collaborators; team supervisors for the operational fields,
not the notes). A closed matter no longer changes; a hearing is never before the matter was
opened.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from flask import url_for
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from .. import access, audit, vocab
from ..access.fields import field_specs
from ..api.pagination import decode_cursor, encode_cursor
from ..extensions import db
from ..models_base import utcnow
from ..referrals.models import Partner
from ..survivors import service as survivors
from ..survivors.models import Survivor
from ..survivors.service import _CONTROL, Conflict, ValidationFailed
from ..survivors.timeline import TimelineEvent
from .models import MAX_NOTES, LegalHearing, LegalMatter

__all__ = ["Conflict", "ValidationFailed"]

EARLIEST_DATE = date(1900, 1, 1)
HEARING_HORIZON = timedelta(days=5 * 366)  # hearings are scheduled at most ~5 years ahead
MATTER_INPUT = ("kind", "status", "partner_id", "opened_on", "outcome", "notes")
HEARING_INPUT = ("scheduled_on", "kind", "notes")
# Status changes a matter may make; a closed matter makes none.
TRANSITIONS = {
    "open": {"awaiting_hearing", "decided", "closed"},
    "awaiting_hearing": {"open", "decided", "closed"},
    "decided": {"awaiting_hearing", "closed"},  # back to a hearing: an appeal
    "closed": set(),
}


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


def _date(value, *, latest: date) -> date:
    if value is None or value == "":
        raise ValueError(_l("Enter a date."))
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValueError(_l("Enter a date as YYYY-MM-DD.")) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(_l("Enter a date as YYYY-MM-DD."))
    if value < EARLIEST_DATE:
        raise ValueError(_l("This date is before 1900."))
    if value > latest:
        if latest == date.today():
            raise ValueError(_l("This date is in the future."))
        raise ValueError(_l("This date is too far ahead (after %(day)s).", day=format_date(latest)))
    return value


def _vocab_value(model, name: str, value) -> str:
    if isinstance(value, str) and len(value) > 40:
        raise ValueError(_l("“%(value)s” is not one of the allowed values.", value=value[:40]))
    text = _text(value, 40)
    if text is None:
        raise ValueError(_l("Choose a value."))
    if text not in vocab.resolve(field_specs(model)[name].vocab):
        raise ValueError(_l("“%(value)s” is not one of the allowed values.", value=text))
    return text


def _partner(value) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    if isinstance(value, uuid.UUID):
        key = value
    elif isinstance(value, str):
        try:
            key = uuid.UUID(value)
        except ValueError:
            raise ValueError(_l("Not a partner id.")) from None
    else:
        raise ValueError(_l("Not a partner id."))
    partner = db.session.get(Partner, key)
    if partner is None:
        raise ValueError(_l("No partner has this id."))
    if not partner.offers("legal_aid"):
        raise ValueError(_l("%(name)s does not offer legal aid.", name=partner.name))
    return key


def _collect(checks: dict) -> dict:
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


def _reject_unknown(model, data) -> None:
    if not isinstance(data, dict):
        raise ValidationFailed({"_schema": [_l("Send an object of fields.")]})
    unknown = sorted(name for name in data if name not in field_specs(model))
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in unknown})


def _matter_checks(data: dict) -> dict:
    today = date.today()
    checks = {
        "kind": lambda: _vocab_value(LegalMatter, "kind", data["kind"]),
        "status": lambda: _vocab_value(LegalMatter, "status", data["status"]),
        "partner_id": lambda: _partner(data["partner_id"]),
        "opened_on": lambda: _date(data["opened_on"], latest=today),
        "outcome": lambda: _vocab_value(LegalMatter, "outcome", data["outcome"]),
        "notes": lambda: _text(data["notes"], MAX_NOTES),
    }
    return {name: check for name, check in checks.items() if name in data}


def _check_consistent(status: str, outcome: str) -> None:
    """The outcome must fit the status."""
    if status in ("open", "awaiting_hearing") and outcome != "pending":
        raise ValidationFailed({"outcome": [_l(
            "A matter that is not decided has a pending outcome; set the status to decided "
            "or closed to record an outcome.")]})
    if status in ("decided", "closed") and outcome == "pending":
        raise ValidationFailed({"outcome": [_l(
            "Record the outcome (for example granted, denied or withdrawn) of a decided or "
            "closed matter.")]})


# --- loading -------------------------------------------------------------------------------------


def get_matter(user, matter_id) -> LegalMatter:
    """Load, then authorise: 404 unless the caller may read the matter's survivor."""
    return survivors.get_record_for(user, LegalMatter, matter_id)


def _matter_query(survivor_id):
    return (
        select(LegalMatter)
        .where(LegalMatter.survivor_id == survivor_id)
        .options(selectinload(LegalMatter.hearings), selectinload(LegalMatter.partner))
        .order_by(LegalMatter.opened_on.desc(), LegalMatter.id.desc())
    )


def matters_page(user, survivor: Survivor, limit: int, cursor: str | None
                 ) -> tuple[list[LegalMatter], str | None]:
    """One page of the survivor's matters, latest opened first (raises InvalidCursor)."""
    query = _matter_query(survivor.id)
    if cursor:
        opened_on, last_id = decode_cursor(cursor)
        query = query.where(or_(
            LegalMatter.opened_on < opened_on,
            and_(LegalMatter.opened_on == opened_on, LegalMatter.id < last_id),
        ))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].opened_on, rows[-1].id)
    return rows, next_cursor


def hearings_page(user, matter: LegalMatter, limit: int, cursor: str | None
                  ) -> tuple[list[LegalHearing], str | None]:
    """One page of the matter's hearings, earliest first (raises InvalidCursor)."""
    query = (select(LegalHearing).where(LegalHearing.matter_id == matter.id)
             .order_by(LegalHearing.scheduled_on, LegalHearing.id))
    if cursor:
        scheduled_on, last_id = decode_cursor(cursor)
        query = query.where(or_(
            LegalHearing.scheduled_on > scheduled_on,
            and_(LegalHearing.scheduled_on == scheduled_on, LegalHearing.id > last_id),
        ))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].scheduled_on, rows[-1].id)
    return rows, next_cursor


def _audit_read(user, action: str, survivor, shown: list[dict], prefix: str) -> None:
    audit.record(user, action, survivor,
                 fields=sorted({f"{prefix}.{name}" for item in shown for name in item}))


def present_matters(user, survivor: Survivor, matters: list[LegalMatter]) -> list[dict]:
    shown = [access.present(user, m) for m in matters]
    _audit_read(user, "legal.matters_viewed", survivor, shown, "legal_matter")
    return shown


def view_matter(user, matter: LegalMatter) -> dict:
    shown = access.present(user, matter)
    _audit_read(user, "legal.matter_viewed", matter.survivor, [shown], "legal_matter")
    return shown


def view_hearing(user, hearing: LegalHearing) -> dict:
    shown = access.present(user, hearing)
    _audit_read(user, "legal.hearing_viewed", hearing.survivor, [shown], "legal_hearing")
    return shown


def present_hearings(user, survivor: Survivor, hearings: list[LegalHearing]) -> list[dict]:
    shown = [access.present(user, h) for h in hearings]
    _audit_read(user, "legal.hearings_viewed", survivor, shown, "legal_hearing")
    return shown


def legal_aid_partners() -> list[Partner]:
    """Partners offering legal aid (reference data: any staff member may see them)."""
    partners = db.session.scalars(select(Partner).order_by(Partner.name))
    return [p for p in partners if p.offers("legal_aid")]


# --- who may do what -----------------------------------------------------------------------------


def may_open(user, survivor: Survivor) -> bool:
    writable = access.writable_fields(user, LegalMatter, survivor=survivor)
    return {"kind", "opened_on"} <= writable and not survivor.is_closed


def may_add_hearing(user, matter: LegalMatter) -> bool:
    writable = access.writable_fields(user, LegalHearing, survivor=matter.survivor)
    return {"scheduled_on", "kind"} <= writable and not matter.is_closed


# --- matters -------------------------------------------------------------------------------------


def open_matter(user, survivor: Survivor, data: dict) -> LegalMatter:
    _reject_unknown(LegalMatter, data)
    access.check_write(user, LegalMatter, data.keys(), survivor=survivor)
    if survivor.is_closed:
        raise Conflict(_l("This case is closed: no new legal matter can be opened."))
    # kind and opened_on are required: absent, they are checked as empty.
    data = {"kind": None, "opened_on": None, "status": "open", "outcome": "pending", **data}
    clean = _collect(_matter_checks(data))
    _check_consistent(clean["status"], clean["outcome"])
    matter = LegalMatter(survivor_id=survivor.id, survivor=survivor, hearings=[], **clean)
    db.session.add(matter)
    db.session.flush()
    audit.record(user, "legal.matter_opened", survivor,
                 fields=[f"legal_matter.{n}" for n in sorted(clean)])
    return matter


def update_matter(user, matter: LegalMatter, data: dict) -> list[str]:
    """Change some fields; refused whole if any may not be written; a closed matter is
    final."""
    _reject_unknown(LegalMatter, data)
    access.check_write(user, matter, data.keys())
    if matter.is_closed:
        raise Conflict(_l("This legal matter is closed and can no longer change."))
    clean = _collect(_matter_checks(data))
    status = clean.get("status", matter.status)
    if status != matter.status and status not in TRANSITIONS[matter.status]:
        raise Conflict(_l("A matter that is %(old)s cannot become %(new)s.",
                          old=vocab.resolve("legal_matter_status").display(matter.status).lower(),
                          new=vocab.resolve("legal_matter_status").display(status).lower()))
    _check_consistent(status, clean.get("outcome", matter.outcome))
    if "opened_on" in clean:
        first = min((h.scheduled_on for h in matter.hearings), default=None)
        if first is not None and clean["opened_on"] > first:
            raise ValidationFailed({"opened_on": [_l(
                "A hearing of this matter is on %(day)s, before this date.",
                day=format_date(first))]})
    changed = [name for name, value in clean.items() if getattr(matter, name) != value]
    for name in changed:
        setattr(matter, name, clean[name])
    if changed:
        matter.updated_at = utcnow()
        audit.record(user, "legal.matter_updated", matter.survivor,
                     fields=[f"legal_matter.{n}" for n in changed])
    return changed


# --- hearings ------------------------------------------------------------------------------------


def add_hearing(user, matter: LegalMatter, data: dict) -> LegalHearing:
    survivor = matter.survivor
    _reject_unknown(LegalHearing, data)
    access.check_write(user, LegalHearing, data.keys(), survivor=survivor)
    if matter.is_closed:
        raise Conflict(_l("This legal matter is closed: no hearing can be added."))
    latest = date.today() + HEARING_HORIZON
    clean = _collect({
        "scheduled_on": lambda: _date(data.get("scheduled_on"), latest=latest),
        "kind": lambda: _vocab_value(LegalHearing, "kind", data.get("kind")),
        "notes": lambda: _text(data.get("notes"), MAX_NOTES),
    })
    if clean["scheduled_on"] < matter.opened_on:
        raise ValidationFailed({"scheduled_on": [_l(
            "The matter was opened on %(day)s: a hearing cannot be before it.",
            day=format_date(matter.opened_on))]})
    hearing = LegalHearing(survivor_id=survivor.id, survivor=survivor, matter=matter, **clean)
    db.session.add(hearing)
    db.session.flush()
    matter.updated_at = utcnow()
    audit.record(user, "legal.hearing_added", survivor,
                 fields=[f"legal_hearing.{n}" for n in sorted(clean) if clean[n] is not None])
    return hearing


# --- timeline ------------------------------------------------------------------------------------

MATTER_EVENT_FIELDS = ("kind", "status", "outcome", "next_hearing_on", "notes")
HEARING_EVENT_FIELDS = ("kind", "notes")


def _subset(shown: dict, names: tuple[str, ...]) -> dict:
    return {name: shown[name] for name in names if name in shown}


def timeline_events(user, survivor) -> list[TimelineEvent]:
    """Matters opened and hearings (past and scheduled), as far as ``user`` may see them.
    A fixed number of queries whatever the number of records."""
    matters = list(db.session.scalars(_matter_query(survivor.id)))
    page = url_for("legal.survivor_matters", survivor_id=survivor.id)
    today = date.today()
    kinds = vocab.resolve("legal_matter_kind")
    events = []
    for matter in matters:
        shown = access.present(user, matter)
        if "opened_on" not in shown:
            continue
        label = kinds.display(shown["kind"]) if "kind" in shown else ""
        events.append(TimelineEvent(
            shown["opened_on"], "legal.matter_opened",
            str(_l("Legal matter opened: %(kind)s", kind=_l(label))), "legal_matter",
            matter.id, _subset(shown, MATTER_EVENT_FIELDS), f"{page}#matter-{matter.id}"))
        for hearing in matter.hearings:
            heard = access.present(user, hearing)
            if "scheduled_on" not in heard:
                continue
            title = (_l("Hearing scheduled: %(kind)s", kind=_l(label))
                     if heard["scheduled_on"] >= today else _l("Hearing: %(kind)s", kind=_l(label)))
            events.append(TimelineEvent(
                heard["scheduled_on"], "legal.hearing", str(title), "legal_hearing",
                hearing.id, _subset(heard, HEARING_EVENT_FIELDS),
                f"{page}#hearing-{hearing.id}"))
    return events
