"""Funded programmes (what donors fund), shared by the admin pages and the API.

Reference data: staff (caseworkers, counsellors, supervisors) and admins read every programme,
admins write them, and a donor reads only the programmes it funds — any other answers "not
found", so that a donor learns nothing of programmes it does not fund. Who may do what is the
access policy's ``programmes.read`` / ``programmes.write`` (casework/access/guards.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from .. import access, audit
from ..api.pagination import decode_keyset, encode_keyset
from ..auth.models import User
from ..extensions import db
from ..survivors.service import ValidationFailed, _clean_text
from .models import Programme, programme_donors

FIELDS = ("name", "donor_ids", "starts_on", "ends_on")
MAX_NAME = 200
MAX_DONORS = 100
EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)
# The keyset of the list: by name, then id.
SORT_KEY = "name:asc"


# --- reads ---------------------------------------------------------------------------------------


def _scoped(user, query):
    """Only the programmes ``user`` may read (a donor: those it funds)."""
    if user.role == "donor":
        funded = select(programme_donors.c.programme_id).where(
            programme_donors.c.user_id == user.id)
        query = query.where(Programme.id.in_(funded))
    return query


def list_page(user, limit: int, cursor: str | None) -> tuple[list[Programme], str | None]:
    """Programmes the caller may read, by name, keyset-paginated (InvalidCursor on a bad
    cursor); 403 for a role that reads none."""
    access.require(user, "programmes.read")
    query = _scoped(user, select(Programme).options(selectinload(Programme.donors)))
    query = query.order_by(Programme.name, Programme.id)
    if cursor:
        name, last_id = decode_keyset(cursor, SORT_KEY)
        query = query.where(or_(Programme.name > name,
                                and_(Programme.name == name, Programme.id > last_id)))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_keyset(SORT_KEY, rows[-1].name, rows[-1].id)
    return rows, next_cursor


def list_all(user) -> list[Programme]:
    """Every programme the caller may read, by name (the admin page, the survivor form)."""
    access.require(user, "programmes.read")
    query = _scoped(user, select(Programme).options(selectinload(Programme.donors)))
    return list(db.session.scalars(query.order_by(Programme.name, Programme.id)))


def load(programme_id) -> Programme | None:
    try:
        key = (programme_id if isinstance(programme_id, uuid.UUID)
               else uuid.UUID(str(programme_id)))
    except (ValueError, TypeError, AttributeError):
        return None
    return db.session.get(Programme, key)


def get(user, programme_id) -> Programme:
    """Load, then authorise: 403 for a role that reads no programme, 404 for a programme that
    does not exist or that the caller may not read (a donor's unfunded one)."""
    access.require(user, "programmes.read")
    programme = load(programme_id)
    if programme is None:
        raise NotFound()
    if not access.allowed(user, "programmes.read", programme):
        from ..audit import record_denial

        record_denial(user, "programmes.read.denied")
        raise NotFound()
    return programme


def donor_ids_shown(user, programme: Programme) -> list[uuid.UUID]:
    """The donors a caller sees on a programme: all of them for staff and admins; a donor sees
    only itself (which other accounts fund the programme is not its business)."""
    donors = sorted(programme.donors, key=lambda donor: donor.username)  # as when loaded
    return [donor.id for donor in donors if user.role != "donor" or donor.id == user.id]


def donor_choices() -> list[User]:
    """Active donor accounts, by name: who may be chosen to fund a programme."""
    return list(db.session.scalars(
        select(User).where(User.role == "donor", User.active.is_(True))
        .order_by(User.display_name, User.username)))


# --- validation ----------------------------------------------------------------------------------


def _clean_name(value) -> str:
    if value is not None and not isinstance(value, str):
        raise ValueError(_l("Enter the programme's name as text."))
    text = _clean_text("name", value)  # trimmed; control characters refused
    if not text:
        raise ValueError(_l("Enter the programme's name."))
    if len(text) > MAX_NAME:
        raise ValueError(_l("Use at most %(n)d characters.", n=MAX_NAME))
    return text


def _clean_date(value, *, required: bool) -> date | None:
    if value is None or value == "":
        if required:
            raise ValueError(_l("Enter the date the programme starts."))
        return None
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value) if len(value) == 10 else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError(_l("Enter a date as YYYY-MM-DD."))
        value = parsed
    elif not isinstance(value, date) or hasattr(value, "hour"):
        raise ValueError(_l("Enter a date as YYYY-MM-DD."))
    if not EARLIEST <= value <= LATEST:
        raise ValueError(_l("Give a date from %(first)s to %(last)s.",
                            first=format_date(EARLIEST), last=format_date(LATEST)))
    return value


def _clean_donor_ids(value) -> list[uuid.UUID]:
    """Ids of existing, active donor accounts; one message per problem, naming the account."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError(_l("Give a list of user ids."))
    if len(value) > MAX_DONORS:
        raise ValueError(_l("Give at most %(n)d donors.", n=MAX_DONORS))
    ids: list[uuid.UUID] = []
    for item in value:
        try:
            if isinstance(item, uuid.UUID):
                ids.append(item)
            elif isinstance(item, str) and len(item) <= 64:
                ids.append(uuid.UUID(item))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(_l("Not a user id: give the ids of donor accounts.")) from None
    ids = list(dict.fromkeys(ids))
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} \
        if ids else {}
    problems = []
    for uid in ids:
        user = users.get(uid)
        if user is None:
            problems.append(_l("No user has the id %(id)s.", id=str(uid)))
        elif user.role != "donor":
            problems.append(_l("%(name)s is a %(role)s account, not a donor: only donor "
                               "accounts fund programmes.", name=user.username, role=user.role))
        elif not user.active:
            problems.append(_l("%(name)s is deactivated: choose active donor accounts only.",
                               name=user.username))
    if problems:
        raise ValueError(*problems)
    return ids


def validate(data: dict, programme: Programme | None = None) -> dict:
    """Check and normalise a create (``programme`` None) or a partial update; raise
    ValidationFailed naming every field that is wrong."""
    errors: dict[str, list] = {}
    for name in sorted(set(data) - set(FIELDS)):
        errors[name] = [_l("Unknown field.")]
    clean: dict = {}
    cleaners = {
        "name": _clean_name,
        "starts_on": lambda v: _clean_date(v, required=True),
        "ends_on": lambda v: _clean_date(v, required=False),
        "donor_ids": _clean_donor_ids,
    }
    for name, cleaner in cleaners.items():
        if name not in data:
            continue
        try:
            clean[name] = cleaner(data[name])
        except ValueError as exc:
            errors.setdefault(name, []).extend(exc.args)
    if programme is None:
        if "name" not in data:
            errors.setdefault("name", []).append(_l("Enter the programme's name."))
        if "starts_on" not in data:
            errors.setdefault("starts_on", []).append(
                _l("Enter the date the programme starts."))
    if "starts_on" not in errors and "ends_on" not in errors:
        starts = clean.get("starts_on", programme.starts_on if programme else None)
        ends = clean.get("ends_on", programme.ends_on if programme else None)
        if starts is not None and ends is not None and ends < starts:
            field = "ends_on" if "ends_on" in clean else "starts_on"
            errors.setdefault(field, []).append(
                _l("The programme cannot end (%(ends)s) before it starts (%(starts)s).",
                   ends=format_date(ends), starts=format_date(starts)))
    if "name" in clean and "name" not in errors:
        query = select(Programme.id).where(func.lower(Programme.name) == clean["name"].lower())
        if programme is not None:
            query = query.where(Programme.id != programme.id)
        if db.session.scalar(query) is not None:
            errors.setdefault("name", []).append(
                _l("A programme with this name exists already."))
    if errors:
        raise ValidationFailed(errors)
    return clean


# --- writes --------------------------------------------------------------------------------------


def _apply(programme: Programme, clean: dict) -> list[str]:
    changed = []
    for name, value in clean.items():
        if name == "donor_ids":
            if set(programme.donor_ids) != set(value):
                programme.donors = [db.session.get(User, uid) for uid in value]
                changed.append(name)
        elif getattr(programme, name) != value:
            setattr(programme, name, value)
            changed.append(name)
    return changed


def create(user, data: dict) -> Programme:
    """Admins: add a programme (403 for anyone else, before anything is checked)."""
    access.require(user, "programmes.write")
    clean = validate(data)
    programme = Programme(name=clean["name"], starts_on=clean["starts_on"],
                          ends_on=clean.get("ends_on"))
    programme.donors = [db.session.get(User, uid) for uid in clean.get("donor_ids", [])]
    db.session.add(programme)
    db.session.flush()
    audit.record(user, "programme.created", programme, fields=sorted(clean))
    return programme


def update(user, programme: Programme, data: dict) -> list[str]:
    """Admins: change some fields of ``programme``; returns the names of those changed."""
    access.require(user, "programmes.write")
    clean = validate(data, programme)
    changed = _apply(programme, clean)
    if changed:
        programme.updated_at = datetime.now(UTC)  # also when only the donors changed
        db.session.flush()
        audit.record(user, "programme.updated", programme, fields=changed)
    return changed
