"""Vocational training: programmes, enrolments, completion, certification and employment
outcomes at 3 and 6 months, shared by the pages and the API.

Employment follow-ups are not stored: a check is due ``completed_on`` + 3 (and + 6) months
while its outcome is unrecorded. ``due_checks_query`` finds them for the alerts
(casework/me/service.py) with plain date comparisons, so it runs the same on every engine.
"""

from __future__ import annotations

import calendar
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import url_for
from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Forbidden, NotFound

from .. import access, audit
from ..access.fields import field_specs
from ..access.policy import WRITE, permissions
from ..api.pagination import decode_cursor, encode_cursor
from ..extensions import db
from ..referrals.models import Partner
from ..survivors.models import Survivor
from ..survivors.service import Conflict, ValidationFailed, _clean_text
from ..survivors.timeline import TimelineEvent
from .models import HOLDING_A_PLACE, Enrolment, TrainingProgramme

# Reference data: who reads and writes it is the access policy's "reference.*" actions.
PROGRAMME_READERS = "reference.read"
PROGRAMME_WRITERS = "reference.write"
PROGRAMME_FIELDS = ("name", "provider_partner_id", "starts_on", "ends_on", "capacity")
PROVIDER_SERVICE = "vocational_training"
MAX_CAPACITY = 10_000
MAX_REASON = 2000
EARLIEST = date(2000, 1, 1)
FOLLOW_UP_MONTHS = (3, 6)
OUTCOME_FIELDS = {3: "employed_at_3_months", 6: "employed_at_6_months"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


# --- dates ---------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day where it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_due_on(completed_on: date, months: int) -> date:
    return add_months(completed_on, months)


def latest_completion_due(today: date, months: int) -> date:
    """The last completion date whose ``months`` check is due by ``today``.

    ``add_months`` never decreases as the day grows, so "check due by today" is exactly
    "completed on or before this date" — a comparison any SQL engine can index.
    """
    cutoff = add_months(today, -months)
    while add_months(cutoff + timedelta(days=1), months) <= today:
        cutoff += timedelta(days=1)
    while add_months(cutoff, months) > today:
        cutoff -= timedelta(days=1)
    return cutoff


# --- input cleaning (shared with casework/plans) -------------------------------------------------


def clean_text(name: str, value, limit: int) -> str | None:
    text = _clean_text(name, value)
    if text is not None and len(text) > limit:
        raise ValueError(_l("Use at most %(n)d characters.", n=limit))
    return text


def clean_date(value, *, earliest: date = EARLIEST, latest: date | None = None,
               not_after_today: bool = False) -> date | None:
    """A date from ISO text or a ``date``; ``latest`` is "today" when ``not_after_today``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(_l("Enter a date as YYYY-MM-DD."))
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValueError(_l("Enter a date as YYYY-MM-DD.")) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(_l("Enter a date as YYYY-MM-DD."))
    if latest is not None and value > latest:
        if not_after_today:
            raise ValueError(_l("This date is in the future."))
        raise ValueError(_l("Give a date up to %(day)s.", day=format_date(latest)))
    if value < earliest:
        raise ValueError(_l("Give a date from %(day)s.", day=format_date(earliest)))
    return value


def clean_uuid(value) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(_l("Not a valid id."))
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(_l("Not a valid id.")) from None


def clean_bool(value, *, nullable: bool) -> bool | None:
    if value is None and nullable:
        return None
    if not isinstance(value, bool):
        raise ValueError(_l("Give true or false.") if not nullable
                         else _l("Give true, false or null."))
    return value


def clean_int(value, *, low: int, high: int, nullable: bool = True) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(_l("Enter a whole number from %(low)d to %(high)d.", low=low, high=high))
    if not low <= value <= high:
        raise ValueError(_l("Enter a whole number from %(low)d to %(high)d.", low=low, high=high))
    return value


def reject_unknown(data: dict, allowed) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in sorted(unknown)})


def require_tier_write(user, record, names) -> None:
    """For actions that set system-managed fields (status, dates): the caller must hold write
    permission on those fields' tiers, as if they were writable. Refused whole, audited."""
    survivor = record.survivor
    relationship = access.relationship(user, survivor)
    specs = field_specs(type(record))
    forbidden = sorted(name for name in names
                       if WRITE not in permissions(user.role, relationship, specs[name].tier))
    if forbidden:
        from ..audit import record_denial

        record_denial(user, "survivor.write_denied", survivor, forbidden)
        if not access.readable_fields(user, survivor):
            raise NotFound()
        raise access.ForbiddenFields(forbidden)


# --- programmes (reference data) -----------------------------------------------------------------


def require_role(user, policy_action: str, action: str) -> None:
    """Refuse (403, audited as ``action``.denied) unless the policy allows ``policy_action``."""
    if access.allowed(user, policy_action):
        return
    from ..audit import record_denial

    record_denial(user, f"{action}.denied")
    raise Forbidden()


def may_write_programmes(user) -> bool:
    return access.allowed(user, PROGRAMME_WRITERS)


def places_taken(programme_ids) -> dict[uuid.UUID, int]:
    """Places held (enrolled or completed) per programme, in one query."""
    ids = list(programme_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Enrolment.programme_id, func.count())
        .where(Enrolment.programme_id.in_(ids), Enrolment.status.in_(HOLDING_A_PLACE))
        .group_by(Enrolment.programme_id)
    )
    counts = dict.fromkeys(ids, 0)
    counts.update({pid: n for pid, n in rows})
    return counts


def programmes_page(user, limit: int, cursor: str | None):
    """Programmes, latest start first, keyset-paginated (InvalidCursor on a bad cursor)."""
    require_role(user, PROGRAMME_READERS, "training_programme.list")
    query = select(TrainingProgramme).options(selectinload(TrainingProgramme.provider))
    query = query.order_by(TrainingProgramme.starts_on.desc(), TrainingProgramme.id.desc())
    if cursor:
        starts_on, last_id = decode_cursor(cursor)
        query = query.where(or_(TrainingProgramme.starts_on < starts_on,
                                and_(TrainingProgramme.starts_on == starts_on,
                                     TrainingProgramme.id < last_id)))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].starts_on, rows[-1].id)
    return rows, next_cursor


def all_programmes(user) -> list[TrainingProgramme]:
    require_role(user, PROGRAMME_READERS, "training_programme.list")
    return list(db.session.scalars(
        select(TrainingProgramme).options(selectinload(TrainingProgramme.provider))
        .order_by(TrainingProgramme.starts_on.desc(), TrainingProgramme.name)
    ))


def get_programme(user, programme_id) -> TrainingProgramme:
    require_role(user, PROGRAMME_READERS, "training_programme.read")
    try:
        key = clean_uuid(programme_id)
    except ValueError:
        raise NotFound() from None
    programme = db.session.get(TrainingProgramme, key) if key else None
    if programme is None:
        raise NotFound()
    return programme


def provider_choices() -> list[Partner]:
    partners = db.session.scalars(select(Partner).order_by(Partner.name))
    return [p for p in partners if p.offers(PROVIDER_SERVICE)]


def _validate_programme(data: dict, programme: TrainingProgramme | None) -> dict:
    reject_unknown(data, PROGRAMME_FIELDS)
    errors: dict[str, list] = {}
    clean: dict = {}
    latest = date.today().replace(year=date.today().year + 5)
    for name in PROGRAMME_FIELDS:
        if name not in data:
            if programme is None:
                errors[name] = [_l("This field is required.")]
            continue
        value = data[name]
        try:
            if name == "name":
                clean[name] = clean_text("name", value, 200)
                if not clean[name]:
                    raise ValueError(_l("Enter the programme's name."))
            elif name == "provider_partner_id":
                partner_id = clean_uuid(value)
                partner = db.session.get(Partner, partner_id) if partner_id else None
                if partner is None or not partner.offers(PROVIDER_SERVICE):
                    raise ValueError(_l("Choose a partner that offers vocational training."))
                clean[name] = partner_id
            elif name in ("starts_on", "ends_on"):
                clean[name] = clean_date(value, latest=latest)
                if clean[name] is None:
                    raise ValueError(_l("Enter a date."))
            elif name == "capacity":
                clean[name] = clean_int(value, low=1, high=MAX_CAPACITY, nullable=False)
        except ValueError as exc:
            errors.setdefault(name, []).append(exc.args[0])
    if not errors:
        starts_on = clean.get("starts_on", programme.starts_on if programme else None)
        ends_on = clean.get("ends_on", programme.ends_on if programme else None)
        if starts_on and ends_on and ends_on < starts_on:
            errors["ends_on"] = [_l("The programme cannot end before it starts.")]
    if errors:
        raise ValidationFailed(errors)
    return clean


def create_programme(user, data: dict) -> TrainingProgramme:
    require_role(user, PROGRAMME_WRITERS, "training_programme.create")
    clean = _validate_programme(data, None)
    programme = TrainingProgramme(**clean)
    db.session.add(programme)
    db.session.flush()
    audit.record(user, "training_programme.created", programme, fields=sorted(clean))
    return programme


def update_programme(user, programme: TrainingProgramme, data: dict) -> list[str]:
    require_role(user, PROGRAMME_WRITERS, "training_programme.update")
    clean = _validate_programme(data, programme)
    if "capacity" in clean and clean["capacity"] < programme.capacity:
        locked = _lock_programme(programme.id)
        taken = places_taken([locked.id])[locked.id]
        if clean["capacity"] < taken:
            raise Conflict(_l("%(n)d places are taken: the capacity cannot be lower.", n=taken))
    if "starts_on" in clean:
        earliest_completion = db.session.scalar(
            select(func.min(Enrolment.completed_on)).where(Enrolment.programme_id == programme.id))
        if earliest_completion and clean["starts_on"] > earliest_completion:
            raise Conflict(_l("An enrolment was completed on %(day)s: the programme cannot "
                              "start after that.", day=format_date(earliest_completion)))
    changed = [name for name, value in clean.items() if getattr(programme, name) != value]
    for name in changed:
        setattr(programme, name, clean[name])
    if changed:
        audit.record(user, "training_programme.updated", programme, fields=changed)
    return changed


def _lock_programme(programme_id) -> TrainingProgramme | None:
    """The programme row, locked for this transaction (PostgreSQL: SELECT ... FOR UPDATE;
    SQLite has one writer at a time already, BEGIN IMMEDIATE)."""
    return db.session.scalar(
        select(TrainingProgramme).where(TrainingProgramme.id == programme_id)
        .with_for_update().execution_options(populate_existing=True)
    )


# --- enrolments ----------------------------------------------------------------------------------

ENROLMENT_INPUT = ("programme_id", "enrolled_on", "attendance_rate", "certified",
                   "employed_at_3_months", "employed_at_6_months")


def get_enrolment_for(user, enrolment_id) -> Enrolment:
    """Load, then authorise: 404 unless the caller may read the enrolment's survivor."""
    from ..survivors.service import get_record_for

    return get_record_for(user, Enrolment, enrolment_id)


def _survivor_enrolments_query(survivor: Survivor):
    return (select(Enrolment).where(Enrolment.survivor_id == survivor.id)
            .options(selectinload(Enrolment.programme).selectinload(TrainingProgramme.provider)))


def enrolments_for(user, survivor: Survivor) -> list[tuple[Enrolment, dict]]:
    """Every enrolment of ``survivor`` with the caller's view of it (audited once)."""
    rows = list(db.session.scalars(_survivor_enrolments_query(survivor).order_by(
        Enrolment.enrolled_on.desc(), Enrolment.id.desc())))
    presented = [(e, access.present(user, e)) for e in rows]
    _audit_read(user, survivor, "enrolment.listed", [shown for _e, shown in presented])
    return presented


def enrolments_page(user, survivor: Survivor, limit: int, cursor: str | None):
    query = _survivor_enrolments_query(survivor).order_by(Enrolment.enrolled_on.desc(),
                                                          Enrolment.id.desc())
    if cursor:
        enrolled_on, last_id = decode_cursor(cursor)
        query = query.where(or_(Enrolment.enrolled_on < enrolled_on,
                                and_(Enrolment.enrolled_on == enrolled_on,
                                     Enrolment.id < last_id)))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].enrolled_on, rows[-1].id)
    items = [access.present(user, e) for e in rows]
    _audit_read(user, survivor, "enrolment.listed", items)
    return items, next_cursor


def view_enrolment(user, enrolment: Enrolment) -> dict:
    shown = access.present(user, enrolment)
    _audit_read(user, enrolment.survivor, "enrolment.viewed", [shown])
    return shown


def _audit_read(user, survivor, action: str, shown: list[dict]) -> None:
    if not shown:
        return
    names = sorted({name for item in shown for name in item})
    audit.record(user, action, survivor, fields=names)


def _validate_enrolment(data: dict, today: date) -> dict:
    errors: dict[str, list] = {}
    clean: dict = {}
    for name, value in data.items():
        try:
            if name == "programme_id":
                clean[name] = clean_uuid(value)
                if clean[name] is None:
                    raise ValueError(_l("Choose a programme."))
            elif name == "enrolled_on":
                clean[name] = clean_date(value, latest=today, not_after_today=True)
                if clean[name] is None:
                    raise ValueError(_l("Enter the enrolment date."))
            elif name == "attendance_rate":
                clean[name] = clean_int(value, low=0, high=100)
            elif name == "certified":
                clean[name] = clean_bool(value, nullable=False)
            elif name in ("employed_at_3_months", "employed_at_6_months"):
                clean[name] = clean_bool(value, nullable=True)
        except ValueError as exc:
            errors.setdefault(name, []).append(exc.args[0])
    if errors:
        raise ValidationFailed(errors)
    return clean


def _check_outcomes(enrolment: Enrolment | None, clean: dict, today: date) -> None:
    """Certification and employment are outcomes of a completed enrolment; each employment
    outcome only once its date has come."""
    completed = enrolment is not None and enrolment.status == "completed"
    recording = clean.get("certified") is True or any(
        clean.get(name) is not None for name in OUTCOME_FIELDS.values())
    if recording and not completed:
        raise Conflict(_l("Certification and employment are recorded once the enrolment is "
                          "completed."))
    if not completed:
        return
    errors = {}
    for months, name in OUTCOME_FIELDS.items():
        if clean.get(name) is None:
            continue
        due = check_due_on(enrolment.completed_on, months)
        if due > today:
            errors[name] = [_l("The %(n)d-month employment check is due on %(day)s; record it "
                               "from then.", n=months, day=format_date(due))]
    if errors:
        raise ValidationFailed(errors)


def enrol(user, survivor: Survivor, data: dict, today: date | None = None) -> Enrolment:
    """Enrol ``survivor`` in a programme; 409 when it is full or they are enrolled already."""
    today = today or date.today()
    reject_unknown(data, field_specs(Enrolment))
    access.check_write(user, Enrolment, {"programme_id", *data}, survivor=survivor)
    clean = _validate_enrolment(data, today)
    if "programme_id" not in clean:
        raise ValidationFailed({"programme_id": [_l("Choose a programme.")]})
    _check_outcomes(None, clean, today)
    programme = _lock_programme(clean["programme_id"])
    if programme is None:
        raise ValidationFailed({"programme_id": [_l("There is no such programme.")]})
    enrolled_on = clean.setdefault("enrolled_on", min(today, programme.ends_on))
    if enrolled_on > programme.ends_on:
        raise ValidationFailed({"enrolled_on": [
            _l("The programme ended on %(day)s: give an enrolment date up to then.",
               day=format_date(programme.ends_on))]})
    existing = db.session.scalar(select(Enrolment.status).where(
        Enrolment.survivor_id == survivor.id, Enrolment.programme_id == programme.id))
    if existing is not None:
        raise Conflict(_l("%(case)s is already enrolled in this programme.",
                          case=survivor.case_number))
    taken = places_taken([programme.id])[programme.id]
    if taken >= programme.capacity:
        raise Conflict(_l("“%(name)s” is full: all %(n)d places are taken.",
                          name=programme.name, n=programme.capacity))
    enrolment = Enrolment(survivor=survivor, status="enrolled", certified=False, **clean)
    try:
        with db.session.begin_nested():
            db.session.add(enrolment)
            db.session.flush()
    except IntegrityError:
        raise Conflict(_l("%(case)s is already enrolled in this programme.",
                          case=survivor.case_number)) from None
    audit.record(user, "enrolment.created", survivor,
                 fields=sorted({*clean, "status", "programme_id"}))
    return enrolment


def update_enrolment(user, enrolment: Enrolment, data: dict,
                     today: date | None = None) -> list[str]:
    today = today or date.today()
    reject_unknown(data, field_specs(Enrolment))
    access.check_write(user, enrolment, data.keys())
    clean = _validate_enrolment(data, today)
    if "programme_id" in clean and clean["programme_id"] != enrolment.programme_id:
        raise ValidationFailed({"programme_id": [
            _l("An enrolment's programme cannot be changed: withdraw it and enrol in the "
               "other programme.")]})
    if "enrolled_on" in clean:
        latest = min(d for d in (enrolment.programme.ends_on, enrolment.completed_on,
                                 enrolment.withdrawn_on) if d is not None)
        if clean["enrolled_on"] > latest:
            raise ValidationFailed({"enrolled_on": [
                _l("Give an enrolment date up to %(day)s.", day=format_date(latest))]})
    changing = {name: value for name, value in clean.items()
                if getattr(enrolment, name) != value}
    _check_outcomes(enrolment, changing, today)
    for name, value in changing.items():
        setattr(enrolment, name, value)
    if changing:
        audit.record(user, "enrolment.updated", enrolment.survivor, fields=sorted(changing))
    return sorted(changing)


def complete(user, enrolment: Enrolment, on, certified=False,
             today: date | None = None, unknown=()) -> None:
    """Mark completed on ``on``; 409 when already completed or withdrawn, or when the
    programme has not started yet."""
    today = today or date.today()
    names = ["status", "completed_on"] + (["certified"] if certified else [])
    require_tier_write(user, enrolment, names)
    reject_unknown(dict.fromkeys(unknown), ())
    if enrolment.status == "completed":
        raise Conflict(_l("This enrolment was completed already, on %(day)s.",
                          day=format_date(enrolment.completed_on)))
    if enrolment.status == "withdrawn":
        raise Conflict(_l("This enrolment was withdrawn on %(day)s: it cannot be completed.",
                          day=format_date(enrolment.withdrawn_on)))
    programme = enrolment.programme
    if programme.starts_on > today:
        raise Conflict(_l("“%(name)s” starts on %(day)s: an enrolment cannot be completed "
                          "before the programme starts.", name=programme.name,
                          day=format_date(programme.starts_on)))
    errors: dict[str, list] = {}
    try:
        on = clean_date(on, latest=today, not_after_today=True)
        if on is None:
            raise ValueError(_l("Enter the completion date."))
        if on < programme.starts_on:
            raise ValueError(_l("The programme started on %(day)s: give a completion date "
                                "from then.", day=format_date(programme.starts_on)))
        if on < enrolment.enrolled_on:
            raise ValueError(_l("Give a date after the enrolment (%(day)s).",
                                day=format_date(enrolment.enrolled_on)))
    except ValueError as exc:
        errors["on"] = [exc.args[0]]
    try:
        certified = clean_bool(certified if certified is not None else False, nullable=False)
    except ValueError as exc:
        errors["certified"] = [exc.args[0]]
    if errors:
        raise ValidationFailed(errors)
    enrolment.status = "completed"
    enrolment.completed_on = on
    enrolment.certified = certified
    audit.record(user, "enrolment.completed", enrolment.survivor,
                 fields=["certified", "completed_on", "status"])


def withdraw(user, enrolment: Enrolment, on, reason=None, today: date | None = None,
             unknown=()) -> None:
    """Withdraw an ongoing enrolment; the reason is sensitive (it may describe the
    survivor's situation), so it needs write permission on that tier."""
    today = today or date.today()
    names = ["status", "withdrawn_on"] + (["withdraw_reason"] if reason else [])
    require_tier_write(user, enrolment, names)
    reject_unknown(dict.fromkeys(unknown), ())
    if enrolment.status != "enrolled":
        raise Conflict(_l("Only an ongoing enrolment can be withdrawn; this one is %(status)s.",
                          status=_status_label(enrolment.status)))
    errors: dict[str, list] = {}
    try:
        on = clean_date(on, latest=today, not_after_today=True)
        if on is None:
            raise ValueError(_l("Enter the date of withdrawal."))
        if on < enrolment.enrolled_on:
            raise ValueError(_l("Give a date after the enrolment (%(day)s).",
                                day=format_date(enrolment.enrolled_on)))
    except ValueError as exc:
        errors["on"] = [exc.args[0]]
    try:
        reason = clean_text("withdraw_reason", reason, MAX_REASON)
    except ValueError as exc:
        errors["reason"] = [exc.args[0]]
    if errors:
        raise ValidationFailed(errors)
    enrolment.status = "withdrawn"
    enrolment.withdrawn_on = on
    enrolment.withdraw_reason = reason
    audit.record(user, "enrolment.withdrawn", enrolment.survivor,
                 fields=["status", "withdrawn_on"] + (["withdraw_reason"] if reason else []))


def _status_label(status: str) -> str:
    from .models import ENROLMENT_STATUSES

    return str(_l(ENROLMENT_STATUSES.label(status))).lower()


def programmes_open_to(survivor: Survivor) -> list[tuple[TrainingProgramme, int]]:
    """Programmes not ended and not yet joined by ``survivor``, with places left."""
    joined = select(Enrolment.programme_id).where(Enrolment.survivor_id == survivor.id)
    programmes = list(db.session.scalars(
        select(TrainingProgramme).where(TrainingProgramme.ends_on >= date.today(),
                                        TrainingProgramme.id.not_in(joined))
        .order_by(TrainingProgramme.starts_on, TrainingProgramme.name)))
    taken = places_taken(p.id for p in programmes)
    return [(p, p.capacity - taken[p.id]) for p in programmes]


# --- employment follow-ups -----------------------------------------------------------------------


@dataclass(frozen=True)
class DueCheck:
    enrolment: Enrolment
    months: int
    due_on: date


def due_checks(enrolment: Enrolment, today: date) -> list[DueCheck]:
    """The employment checks of ``enrolment`` that are due and unrecorded."""
    if enrolment.status != "completed" or enrolment.completed_on is None:
        return []
    out = []
    for months, name in OUTCOME_FIELDS.items():
        due = check_due_on(enrolment.completed_on, months)
        if getattr(enrolment, name) is None and due <= today:
            out.append(DueCheck(enrolment, months, due))
    return out


def next_check(enrolment: Enrolment) -> tuple[int, date] | None:
    """The next unrecorded employment check (months, due date), due or not."""
    if enrolment.status != "completed" or enrolment.completed_on is None:
        return None
    for months, name in OUTCOME_FIELDS.items():
        if getattr(enrolment, name) is None:
            return months, check_due_on(enrolment.completed_on, months)
    return None


def due_check_conditions(today: date) -> dict[int, object]:
    """SQL conditions, per follow-up, of an enrolment whose employment check is due."""
    return {
        months: and_(Enrolment.status == "completed",
                     getattr(Enrolment, name).is_(None),
                     Enrolment.completed_on <= latest_completion_due(today, months))
        for months, name in OUTCOME_FIELDS.items()
    }


# --- reports -------------------------------------------------------------------------------------


def training_outcomes(survivor_ids, start: date, end: date) -> dict[str, int]:
    """Counts for reports over ``survivor_ids`` (a list or a SELECT of ids), between
    ``start`` and ``end`` inclusive: enrolments made, completions, certified completions,
    and completions with employment found at 3 and at 6 months."""
    in_period = and_(Enrolment.completed_on >= start, Enrolment.completed_on <= end,
                     Enrolment.status == "completed")

    def count_if(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = db.session.execute(
        select(
            count_if(and_(Enrolment.enrolled_on >= start, Enrolment.enrolled_on <= end)),
            count_if(in_period),
            count_if(and_(in_period, Enrolment.certified.is_(True))),
            count_if(and_(in_period, Enrolment.employed_at_3_months.is_(True))),
            count_if(and_(in_period, Enrolment.employed_at_6_months.is_(True))),
        ).where(Enrolment.survivor_id.in_(survivor_ids))
    ).one()
    keys = ("enrolments", "completions", "certified", "employed_at_3_months",
            "employed_at_6_months")
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}


# --- timeline ------------------------------------------------------------------------------------


def timeline_events(user, survivor) -> list[TimelineEvent]:
    """Enrolled, completed and withdrawn events: two queries however many enrolments."""
    rows = db.session.scalars(
        select(Enrolment).where(Enrolment.survivor_id == survivor.id)
        .options(selectinload(Enrolment.programme))
    )
    events = []
    for enrolment in rows:
        shown = access.present(user, enrolment)
        if not shown:
            continue
        url = url_for("training.enrolment", enrolment_id=enrolment.id)
        name = enrolment.programme.name
        for kind, day, title in (
            ("training.enrolled", shown.get("enrolled_on"),
             _l("Enrolled in training: %(name)s", name=name)),
            ("training.completed", shown.get("completed_on"),
             _l("Completed training: %(name)s", name=name)),
            ("training.withdrawn", shown.get("withdrawn_on"),
             _l("Withdrew from training: %(name)s", name=name)),
        ):
            if day is not None:
                events.append(TimelineEvent(day, kind, str(title), "enrolment", enrolment.id,
                                            dict(shown), url))
    return events
