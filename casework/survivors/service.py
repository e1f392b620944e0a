"""The survivor record's logic, shared by the pages and the API."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, bindparam, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, load_only, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from .. import access, audit, crypto, vocab
from ..access.fields import field_specs
from ..access.models import BreakGlassGrant
from ..audit.models import AuditEvent
from ..auth.models import User
from ..extensions import db, execute_without_objects
from ..programmes.models import Programme
from . import search
from .models import CLOSED_STATUSES, CaseNumberCounter, Survivor

MAX_TEXT = {"address": 500, "narrative": 20000, "risk_notes": 5000, "closure_reason": 2000}
EARLIEST_DATE = date(1900, 1, 1)
# Anything below U+0020 except tab, newline and carriage return has no place in a record
# (and PostgreSQL refuses NUL outright); nor have lone surrogates (JSON "\ud800"), which no
# database driver can encode.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,40}$")


class ValidationFailed(ValueError):
    """One or more fields are wrong; ``errors`` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = {name: [str(m) for m in msgs] for name, msgs in errors.items()}
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))


class Conflict(ValueError):
    pass


# --- validation ------------------------------------------------------------------------------


def _max_length(name: str) -> int | None:
    column = Survivor.__table__.columns.get(name)
    length = getattr(crypto.logical_type(column), "length", None) if column is not None else None
    return length or MAX_TEXT.get(name)


def validate(changes: dict, *, today: date | None = None) -> dict:
    """Check and normalise ``changes`` (field -> Python value); raise ValidationFailed."""
    today = today or date.today()
    specs = field_specs(Survivor)
    errors: dict[str, list] = {}
    clean: dict = {}
    for name, value in changes.items():
        spec = specs.get(name)
        if spec is None:
            errors.setdefault(name, []).append(_l("Unknown field."))
            continue
        try:
            clean[name] = _clean_value(name, spec, value, today)
        except ValueError as exc:
            errors.setdefault(name, []).append(exc.args[0])
    if errors:
        raise ValidationFailed(errors)
    return clean


def _clean_text(name: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(_l("Enter text."))
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError(_l("Remove the control characters from this text."))
    limit = _max_length(name)
    if limit and len(value) > limit:
        raise ValueError(_l("Use at most %(n)d characters.", n=limit))
    return value or None


def _clean_value(name: str, spec, value, today: date):
    if name in ("lead_caseworker_id",):
        return _clean_user_id(value, ("caseworker",))
    if name == "collaborator_ids":
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise ValueError(_l("Give a list of user ids."))
        # Clean first, then de-duplicate: items may be unhashable (objects, lists).
        ids = [_clean_user_id(v, ("caseworker", "counsellor")) for v in value]
        return list(dict.fromkeys(ids))
    if name == "programme_ids":
        return _clean_programme_ids(value)
    if name in ("intake_date", "date_of_birth"):
        return _clean_date(name, value, today)
    column = Survivor.__table__.columns.get(name)
    if column is not None and column.type.__class__.__name__ == "JSON":
        return _clean_list(spec, value)
    text = _clean_text(name, value)
    if text is None:
        if name == "status":  # NOT NULL: a case always has a status
            raise ValueError(_l("Choose the case status."))
        return None
    if spec.vocab:
        vocabulary = vocab.resolve(spec.vocab)
        if text not in vocabulary:
            raise ValueError(_l("“%(value)s” is not one of the allowed values.", value=text[:40]))
    if name == "email" and not _EMAIL.match(text):
        raise ValueError(_l("Enter an email address like name@example.org."))
    if name == "phone" and not _PHONE.match(text):
        raise ValueError(_l("Enter a phone number: digits, spaces and + ( ) - only."))
    return text


def _clean_list(spec, value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(_l("Give a list of values."))
    vocabulary = vocab.resolve(spec.vocab) if spec.vocab else None
    cleaned = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    if vocabulary is not None:
        unknown = [v for v in cleaned if v not in vocabulary]
        if unknown:
            raise ValueError(
                _l("Not allowed here: %(values)s.", values=", ".join(v[:40] for v in unknown[:5]))
            )
    return cleaned


def _clean_date(name: str, value, today: date) -> date | None:
    if value is None or value == "":
        if name == "intake_date":
            raise ValueError(_l("Enter the intake date."))
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


def _clean_user_id(value, roles: tuple[str, ...]) -> uuid.UUID:
    try:
        user_id = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(_l("Not a user id.")) from None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.role not in roles:
        raise ValueError(_l("No active %(roles)s with this id.", roles=" or ".join(roles)))
    return user_id


def _clean_programme_ids(value) -> list[uuid.UUID]:
    """Ids of existing funded programmes (casework/programmes), without repeats."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError(_l("Give a list of programme ids."))
    ids = []
    for item in value:
        try:
            if isinstance(item, uuid.UUID):
                ids.append(item)
            elif isinstance(item, str) and len(item) <= 64:
                ids.append(uuid.UUID(item))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(_l("Not a programme id.")) from None
    ids = list(dict.fromkeys(ids))
    if ids:
        found = set(db.session.scalars(select(Programme.id).where(Programme.id.in_(ids))))
        if missing := [str(i) for i in ids if i not in found]:
            raise ValueError(_l("No programme has the id %(ids)s.", ids=", ".join(missing[:5])))
    return ids


# --- case numbers ------------------------------------------------------------------------------


def next_case_number(year: int) -> str:
    """CW-YYYY-NNNNNN, numbered per year; safe under concurrent requests."""
    for _attempt in range(5):
        value = db.session.scalar(
            update(CaseNumberCounter)
            .where(CaseNumberCounter.year == year)
            .values(last_value=CaseNumberCounter.last_value + 1)
            .returning(CaseNumberCounter.last_value)
        )
        if value is not None:
            return f"CW-{year}-{value:06d}"
        try:
            with db.session.begin_nested():
                db.session.add(CaseNumberCounter(year=year, last_value=0))
        except IntegrityError:
            continue  # another request created the year's counter first
    raise RuntimeError("could not allocate a case number")


# --- reads ---------------------------------------------------------------------------------------


def load(survivor_id) -> Survivor | None:
    """The survivor with the people and programmes every check and page of it reads (its
    collaborators decide who stands in which relationship to it) in one SELECT."""
    try:
        key = survivor_id if isinstance(survivor_id, uuid.UUID) else uuid.UUID(str(survivor_id))
    except ValueError:
        return None
    return db.session.execute(_LOAD, {"survivor_id": key}).unique().scalar_one_or_none()


# Built once: every page of a survivor starts with it.
_LOAD = (select(Survivor).where(Survivor.id == bindparam("survivor_id"))
         .options(joinedload(Survivor.lead_caseworker), joinedload(Survivor.collaborators),
                  joinedload(Survivor.programmes)))


def get_record_for(user, model, record_id):
    """Load a record about a survivor (a placement, session, plan item...), then authorise it
    through its survivor: 404 unless the caller may read the survivor and the record."""
    from werkzeug.exceptions import NotFound

    try:
        key = record_id if isinstance(record_id, uuid.UUID) else uuid.UUID(str(record_id))
    except ValueError:
        raise NotFound() from None
    record = db.session.get(model, key)
    if record is None:
        raise NotFound()
    get_for(user, record.survivor_id)
    if not access.readable_fields(user, record):
        raise NotFound()
    return record


def get_for(user, survivor_id, action: str = "survivor.read") -> Survivor:
    """Load, then authorise (404 outside the caller's scope)."""
    from werkzeug.exceptions import NotFound

    survivor = load(survivor_id)
    if survivor is None:
        raise NotFound()
    access.require(user, action, survivor)
    return survivor


def record_view(user, survivor: Survivor, *, unseen_returns: bool = True) -> dict:
    """The caller's view of one survivor, audited as a read of the fields shown.

    ``unseen_returns``: False when the caller already knows they have no returned closure
    request of this survivor left to see (nothing to acknowledge then)."""
    shown = access.present(user, survivor)
    audit.record(user, "survivor.viewed", survivor, fields=shown.keys())
    from ..supervision.approvals import acknowledge_returns
    from ..supervision.reassign import acknowledge_case

    acknowledge_case(user, survivor)  # a new lead opening the case has seen the reassignment
    if unseen_returns:
        acknowledge_returns(user, survivor)  # and a requester, their returned closure request
    return shown


@dataclass
class CaseloadFilters:
    status: str | None = None
    risk_level: str | None = None
    case_number: str | None = None
    lead_caseworker_id: uuid.UUID | None = None  # /me/caseload: one lead's survivors


def fields_readable_in_caseload(user) -> set[str]:
    """What ``user`` may read of the survivors in their own caseload."""
    relationship = {"caseworker": "assigned", "counsellor": "assigned",
                    "supervisor": "team"}.get(user.role, "none")
    from ..access.policy import READ, permissions

    return {name for name, spec in field_specs(Survivor).items()
            if READ in permissions(user.role, relationship, spec.tier)}


def caseload_query(user, filters: CaseloadFilters) -> Select:
    access.require(user, "survivor.list")
    readable = fields_readable_in_caseload(user)
    forbidden = [name for name in ("status", "risk_level", "case_number", "lead_caseworker_id")
                 if getattr(filters, name) and name not in readable]
    if forbidden:
        raise access.ForbiddenFields(forbidden)
    query = select(Survivor).where(access.scope_clause(user))
    if any(_CONTROL.search(value) for value in
           (filters.status, filters.risk_level, filters.case_number) if value):
        # No stored value holds control characters, and PostgreSQL refuses NUL in a parameter.
        filters = CaseloadFilters()
        query = query.where(false())
    if filters.status:
        query = query.where(Survivor.status == filters.status)
    if filters.lead_caseworker_id:
        query = query.where(Survivor.lead_caseworker_id == filters.lead_caseworker_id)
    if filters.risk_level:
        query = query.where(Survivor.risk_level == filters.risk_level)
    if filters.case_number:
        term = filters.case_number.strip().upper()
        query = query.where(Survivor.case_number.contains(term, autoescape=True))
    return query


# The columns of the caseload page's table (the name is shown to those who may read it).
PAGE_COLUMNS = ("case_number", "first_name", "last_name", "known_as", "status", "risk_level",
                "intake_date", "lead_caseworker_id")


def caseload_page(user, filters: CaseloadFilters, limit: int, cursor: str | None,
                  columns: tuple[str, ...] | None = None):
    """One page of the caseload, latest intake first, keyset-paginated: (survivor,
    ``access.present`` of it) pairs and the next page's cursor (None at the end).

    ``columns``: only these fields are loaded, shown and audited as listed (the page's
    table); by default every field the user may read (the API). Each survivor listed is
    audited, the page's events in one INSERT.
    """
    from ..api.pagination import decode_cursor, encode_cursor

    query = caseload_query(user, filters).order_by(
        Survivor.intake_date.desc(), Survivor.id.desc()
    ).options(*list_load_options(columns, "intake_date"))
    if cursor:
        intake_date, last_id = decode_cursor(cursor)
        query = query.where(
            or_(Survivor.intake_date < intake_date,
                and_(Survivor.intake_date == intake_date, Survivor.id < last_id))
        )
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].intake_date, rows[-1].id)
    return present_listed(user, rows, columns), next_cursor


def list_load_options(columns: tuple[str, ...] | None, *also: str) -> list:
    """Loader options of a list of survivors selected through ``access.scope_clause``:
    ``columns`` (and ``also``, e.g. the sort key) only, anything else raising, or every
    field when ``columns`` is None. The relationship comes from the scope
    (``present_listed``), not from the collaborators; the leads from ``load_leads``."""
    options = []
    if columns is None or "collaborator_ids" in columns:
        options.append(selectinload(Survivor.collaborators))
    if columns is None or "programme_ids" in columns:
        options.append(selectinload(Survivor.programmes))
    if columns is not None:
        needed = {*columns, *also, "id", "lead_caseworker_id"}
        options.append(load_only(*(getattr(Survivor, name) for name in needed
                                   if name in Survivor.__table__.c), raiseload=True))
    return options


def present_listed(user, rows: list[Survivor], columns: tuple[str, ...] | None,
                   action: str = "survivor.listed"):
    """(survivor, ``access.present`` of it) for each survivor of a list selected through
    ``access.scope_clause``, each audited (``action``: listed, exported) with the fields
    shown (one INSERT)."""
    access.note_in_scope(user, rows)
    access.preload_break_glass(user, [s.id for s in rows])
    load_leads(rows)
    page = [(survivor, access.present(user, survivor, only=columns)) for survivor in rows]
    audit.record_many(user, action, ((s, shown.keys()) for s, shown in page))
    return page


def load_leads(rows: list[Survivor]) -> None:
    """The lead caseworkers of a list's survivors (each audit event names its survivor's
    team): those already in the session taken from it, the others in one SELECT. A
    caseworker's list is mostly their own cases: no SELECT at all."""
    from ..auth.models import User

    leads = {lead_id: db.session.identity_map.get(db.session.identity_key(User, lead_id))
             for lead_id in {s.lead_caseworker_id for s in rows} - {None}}
    missing = [lead_id for lead_id, lead in leads.items() if lead is None]
    if missing:
        leads.update((u.id, u) for u in db.session.scalars(select(User).where(
            User.id.in_(missing))))
    for survivor in rows:  # as a loader would set it: not a change to flush
        set_committed_value(survivor, "lead_caseworker", leads.get(survivor.lead_caseworker_id))


EXPORT_BATCH = 500


def _export_cell(name: str, value) -> str:
    """A value as the export writes it: the API's form (ISO dates, HTCDS value names), lists
    joined with "; ", staff ids as the person's name (spreadsheets are read by people)."""
    from ..i18n import USER_FIELDS, format_value

    if value is None:
        return ""
    if name in USER_FIELDS:
        return format_value(name, value)
    if isinstance(value, (list, tuple, set)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def export_caseload(user, filters: CaseloadFilters) -> str:
    """The whole caseload ``user`` sees with ``filters``, as CSV: one row per survivor, latest
    intake first, every cell through ``access.present`` so exactly the fields the user may
    read of that survivor (a column only the break glass opened is empty for the others),
    each cell neutralised against formula injection. Each survivor exported is audited with
    the fields that went out."""
    import csv
    import io

    from ..spreadsheets import neutralise

    query = caseload_query(user, filters).order_by(
        Survivor.intake_date.desc(), Survivor.id.desc()).options(*list_load_options(None))
    presented: list[dict] = []
    last = None
    while True:
        batch_query = query
        if last is not None:
            batch_query = batch_query.where(or_(
                Survivor.intake_date < last.intake_date,
                and_(Survivor.intake_date == last.intake_date, Survivor.id < last.id)))
        batch = list(db.session.scalars(batch_query.limit(EXPORT_BATCH)))
        if not batch:
            break
        shown = present_listed(user, batch, None, action="survivor.exported")
        presented.extend(fields for _survivor, fields in shown)
        last = batch[-1]
    present_anywhere = set().union(*presented) if presented else set()
    columns = [name for name in field_specs(Survivor) if name in present_anywhere] or [
        name for name in field_specs(Survivor) if name in fields_readable_in_caseload(user)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for fields in presented:
        writer.writerow([neutralise(_export_cell(name, fields[name])) if name in fields else ""
                         for name in columns])
    return out.getvalue()


# --- writes --------------------------------------------------------------------------------------


def _apply(survivor: Survivor, clean: dict) -> list[str]:
    changed = []
    for name, value in clean.items():
        if name == "collaborator_ids":
            users = [db.session.get(User, uid) for uid in value]
            if [u.id for u in survivor.collaborators] != [u.id for u in users]:
                survivor.collaborators = users
                changed.append(name)
            continue
        if name == "programme_ids":
            if set(survivor.programme_ids) != set(value):
                survivor.programmes = [db.session.get(Programme, pid) for pid in value]
                changed.append(name)
            continue
        if getattr(survivor, name) != value:
            setattr(survivor, name, value)
            changed.append(name)
    _derive(survivor)
    return changed


def _derive(survivor: Survivor) -> None:
    dob, intake = survivor.date_of_birth, survivor.intake_date
    if dob is None or intake is None:
        survivor.age_band = None
        return
    years = intake.year - dob.year - ((intake.month, intake.day) < (dob.month, dob.day))
    survivor.age_band = vocab.age_band_for(max(years, 0))


def _check_status_change(survivor: Survivor | None, clean: dict) -> None:
    status = clean.get("status")
    if status in CLOSED_STATUSES and (survivor is None or survivor.status != status):
        raise ValidationFailed({"status": [_l("Close a case with the Close action and a reason.")]})


def _reject_unknown(data: dict) -> None:
    unknown = set(data) - set(field_specs(Survivor))
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in sorted(unknown)})


def create(user, data: dict) -> Survivor:
    access.require(user, "survivor.create")
    _reject_unknown(data)
    access.check_write(user, Survivor, data.keys())
    clean = validate({"intake_date": date.today(), **data})
    _check_status_change(None, clean)
    survivor = Survivor(lead_caseworker_id=clean.pop("lead_caseworker_id", user.id),
                        status=clean.pop("status", None) or "Active")
    survivor.lead_caseworker = db.session.get(User, survivor.lead_caseworker_id)
    survivor.case_number = next_case_number(clean["intake_date"].year)
    changed = _apply(survivor, clean)
    db.session.add(survivor)
    db.session.flush()
    search.reindex(survivor)
    audit.record(user, "survivor.created", survivor,
                 fields=sorted({*changed, "case_number", "status", "lead_caseworker_id"}))
    return survivor


def update_record(user, survivor: Survivor, data: dict) -> list[str]:
    """Apply a partial update; refused whole if it names a field the user may not write."""
    _reject_unknown(data)
    access.check_write(user, survivor, data.keys())
    clean = validate(data)
    _check_status_change(survivor, clean)
    if user.role == "supervisor" and "lead_caseworker_id" in clean:
        lead = db.session.get(User, clean["lead_caseworker_id"])
        if lead.team_id != user.team_id:
            raise ValidationFailed({"lead_caseworker_id": [_l("Choose a caseworker of your team.")]})
    changed = _apply(survivor, clean)
    if set(changed) & set(search.INDEXED_FIELDS):
        search.reindex(survivor)
    if changed:
        survivor.updated_at = datetime.now(UTC)
        access.forget(survivor)
        audit.record(user, "survivor.updated", survivor, fields=changed)
    return changed


def close(user, survivor: Survivor, reason: str, status: str = "Closed"):
    """Close the case; or, when the organisation asks for a supervisor's approval, create a
    pending closure request (casework/supervision/approvals.py) and return it (else None)."""
    access.require(user, "survivor.close", survivor)
    if status not in CLOSED_STATUSES:
        raise ValidationFailed({"status": [_l("Choose Closed or Closed (referred).")]})
    if survivor.is_closed:
        raise Conflict(_l("This case is already closed."))
    try:
        reason_clean = _clean_text("closure_reason", reason)
    except ValueError as exc:
        raise ValidationFailed({"reason": [exc.args[0]]}) from None
    if not reason_clean:
        raise ValidationFailed({"reason": [_l("Give the reason for closing the case.")]})
    from ..supervision import approvals

    if approvals.close_needs_request(user):
        return approvals.request_closure(user, survivor, status, reason_clean)
    close_now(user, survivor, status, reason_clean)
    return None


def close_now(user, survivor: Survivor, status: str, reason_clean: str) -> None:
    """Close ``survivor`` (the caller was authorised and the values checked)."""
    survivor.status = status
    survivor.closure_reason = reason_clean
    survivor.closed_at = datetime.now(UTC)
    audit.record(user, "survivor.closed", survivor, fields=["status", "closure_reason", "closed_at"])


def break_glass(user, survivor: Survivor, reason: str | None) -> BreakGlassGrant:
    access.require(user, "survivor.break_glass", survivor)
    try:
        reason_clean = _clean_text("closure_reason", reason) if isinstance(reason, str) else None
    except ValueError as exc:
        raise ValidationFailed({"reason": [exc.args[0]]}) from None
    if not reason_clean or len(reason_clean) < 10:
        raise ValidationFailed(
            {"reason": [_l("Say why you need the identifying details (at least 10 characters).")]}
        )
    now = datetime.now(UTC)
    grant = BreakGlassGrant(user_id=user.id, survivor_id=survivor.id, reason=reason_clean,
                            session_digest=access.access_session_digest(), granted_at=now,
                            expires_at=now + current_app.config["BREAK_GLASS_DURATION"])
    db.session.add(grant)
    access.forget(survivor)
    audit.record(user, "survivor.break_glass", survivor,
                 fields=access.fields_in_tier(Survivor, "identifying"), reason=reason_clean)
    return grant


# What the access log shows of each event (rows, not ORM objects: it is on every survivor
# page, and the chain's hashes and the rest are not shown). templates/survivors/view.html
# unpacks the rows in this order.
ACCESS_LOG_COLUMNS = (AuditEvent.id, AuditEvent.occurred_at, AuditEvent.actor_id,
                      AuditEvent.actor_username, AuditEvent.action, AuditEvent.channel,
                      AuditEvent.fields, AuditEvent.reason)


# Built once: it runs on every survivor page.
_ACCESS_LOG = (
    select(*ACCESS_LOG_COLUMNS)
    # Every event about the survivor: the record, its services, letters and denials.
    .where(AuditEvent.subject_id == bindparam("survivor_id"))
    .order_by(AuditEvent.id.desc())
    .limit(bindparam("limit"))
)


def access_log(user, survivor: Survivor, limit: int = 200) -> list:
    """The latest ``limit`` events about ``survivor``, newest first (rows of
    ``ACCESS_LOG_COLUMNS``); showing it is audited."""
    access.require(user, "survivor.access_log", survivor)
    events = list(execute_without_objects(_ACCESS_LOG, {"survivor_id": survivor.id,
                                                       "limit": limit}))
    audit.record(user, "survivor.access_log_viewed", survivor)
    return events


# --- search-before-create ------------------------------------------------------------------------

DUPLICATE_FIELDS = ("first_name", "last_name", "known_as", "date_of_birth", "phone")


def possible_duplicates(user, data: dict) -> tuple[list[Survivor], int]:
    """Survivors that may be the person about to be registered: those ``user`` may see
    (in scope), and how many others there are (never which). Matched through the blind
    indexes of casework/survivors/search.py, without decrypting the table. Audited without
    the searched values."""
    access.require(user, "survivor.create")
    unknown = set(data) - set(DUPLICATE_FIELDS)
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in sorted(unknown)})
    clean = validate({name: value for name, value in data.items() if value not in (None, "")})
    ids = search.matching_ids(clean)
    in_scope: list[Survivor] = []
    if ids:
        in_scope = list(db.session.scalars(
            select(Survivor).where(Survivor.id.in_(ids), access.scope_clause(user))))
        order = {sid: n for n, sid in enumerate(ids)}
        in_scope.sort(key=lambda s: order[s.id])
    audit.record(user, "survivor.duplicate_search", None, fields=sorted(clean))
    return in_scope, len(ids) - len(in_scope)


def count_in_scope(user) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Survivor).where(access.scope_clause(user))
    ) or 0
