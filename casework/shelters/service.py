"""Shelters, beds and placements: the logic shared by the pages and the API.

Reference data (shelters, beds) is read by staff and written by admins. Placements are
survivor records: the caller loads the survivor (``survivors.service.get_for``), and every
write here is checked field by field with ``access.check_write`` before anything changes.

Concurrency. Admissions and transfers lock the target shelter's row (``SELECT ... FOR
UPDATE``) before choosing a bed, so concurrent requests for one shelter queue on PostgreSQL
(SQLite serialises writers already: BEGIN IMMEDIATE, casework/web.py). The partial unique
indexes on open placements are the last word: an IntegrityError from them, caught inside a
savepoint so that the request's transaction survives, becomes a ``Conflict`` (HTTP 409).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import Forbidden, NotFound

from .. import access, audit
from ..access.fields import field_specs
from ..api.pagination import InvalidCursor, decode_cursor, encode_cursor
from ..extensions import db
from ..i18n import register_labels
from ..referrals.models import Partner
from ..survivors.models import Survivor
from ..survivors.service import _CONTROL, Conflict, ValidationFailed
from ..survivors.timeline import TimelineEvent
from .models import BED_RESTRICTIONS, EXCLUSIVE_RESTRICTIONS, Bed, Placement, Shelter

__all__ = ["Conflict", "InvalidCursor", "ValidationFailed"]

# Who may see shelters and beds (reference data), and who may change them.

EARLIEST_DATE = date(1900, 1, 1)
# How far ahead an expected discharge may be planned.
PLANNING_HORIZON = timedelta(days=5 * 366)
MAX_REASON = 2000
MAX_BEDS_PER_REQUEST = 500

# HTCDS prs_Gender values that a gender restriction refuses. "NonConforming" and
# "NonSpecifiedUnknown" (and no recorded gender) conflict with neither: staff decide.
WOMEN = frozenset({"Feminine", "TransgenderFeminine"})
MEN = frozenset({"Masculine", "TransgenderMasculine"})
MINOR_BANDS = frozenset({"0-11", "12-17"})
ADULT_BANDS = frozenset({"18-24", "25-34", "35-49", "50+"})

FIELD_LABELS = {
    "shelter_id": _l("Shelter"),
    "bed_id": _l("Bed"),
    "admitted_on": _l("Admitted on"),
    "expected_discharge_on": _l("Expected discharge"),
    "discharged_on": _l("Left on"),
    "discharge_reason": _l("Reason for discharge"),
    "status": _l("Placement status"),
    "ended_by": _l("Ended by"),
    "previous_placement_id": _l("Transferred from"),
}
register_labels({f"placement.{name}": label for name, label in FIELD_LABELS.items()})


# --- reference data: who may do what ------------------------------------------------------------


def can_read_shelters(user) -> bool:
    return access.allowed(user, "reference.read")


def can_manage_shelters(user) -> bool:
    return access.allowed(user, "reference.write")


def require_reader(user) -> None:
    if not can_read_shelters(user):
        audit.record_denial(user, "shelter.read.denied")
        raise Forbidden()


def require_manager(user) -> None:
    if not can_manage_shelters(user):
        audit.record_denial(user, "shelter.manage.denied")
        raise Forbidden()


# --- input cleaning --------------------------------------------------------------------------------


def _text(value, limit: int, *, required: bool, missing: str) -> str | None:
    if value is None:
        if required:
            raise ValueError(missing)
        return None
    if not isinstance(value, str):
        raise ValueError(_l("Enter text."))
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError(_l("Remove the control characters from this text."))
    if len(value) > limit:
        raise ValueError(_l("Use at most %(n)d characters.", n=limit))
    if not value and required:
        raise ValueError(missing)
    return value or None


def _uuid(value, *, required: bool = True) -> uuid.UUID | None:
    if value is None or value == "":
        if required:
            raise ValueError(_l("Choose one."))
        return None
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(_l("Not a valid id."))
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValueError(_l("Not a valid id.")) from None


def _date(value, *, today: date, required: bool, future: bool = False) -> date | None:
    """A date (ISO text or ``date``): from 1900, and not after today unless ``future``
    (then at most five years ahead)."""
    if value is None or value == "":
        if required:
            raise ValueError(_l("Enter the date."))
        return None
    if isinstance(value, str):
        if len(value) > 10:
            raise ValueError(_l("Enter a date as YYYY-MM-DD."))
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValueError(_l("Enter a date as YYYY-MM-DD.")) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(_l("Enter a date as YYYY-MM-DD."))
    if value < EARLIEST_DATE:
        raise ValueError(_l("This date is before 1900."))
    if not future and value > today:
        raise ValueError(_l("This date is in the future."))
    if future and value > today + PLANNING_HORIZON:
        raise ValueError(_l("This date is more than five years ahead."))
    return value


def _restrictions(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(_l("Give a list of restrictions."))
    cleaned = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    unknown = [v for v in cleaned if v not in BED_RESTRICTIONS]
    if unknown:
        raise ValueError(
            _l("Not allowed here: %(values)s.", values=", ".join(v[:40] for v in unknown[:5]))
        )
    for first, second in EXCLUSIVE_RESTRICTIONS:
        if first in cleaned and second in cleaned:
            raise ValueError(_l("A bed cannot be both “%(a)s” and “%(b)s”.",
                                a=_(BED_RESTRICTIONS.label(first)),
                                b=_(BED_RESTRICTIONS.label(second))))
    return [v for v in BED_RESTRICTIONS.values if v in cleaned]  # vocabulary order


def _bool(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(_l("Give true or false."))
    return value


def _object(data) -> dict:
    if not isinstance(data, dict):
        raise ValidationFailed({"_schema": [_l("Send a JSON object.")]})
    return data


def _reject_unknown(data: dict, allowed: Iterable[str]) -> None:
    unknown = sorted(str(k)[:64] for k in set(data) - set(allowed))
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in unknown})


class _Errors:
    """Collects per-field messages; ``check`` runs one cleaner and keeps its result."""

    def __init__(self):
        self.errors: dict[str, list] = {}

    def check(self, name: str, cleaner, *args, **kwargs):
        try:
            return cleaner(*args, **kwargs)
        except ValueError as exc:
            self.add(name, exc.args[0])
            return None

    def add(self, name: str, message) -> None:
        self.errors.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


# --- shelters and beds (reference data) --------------------------------------------------------------


@dataclass
class ShelterRow:
    shelter: Shelter
    capacity: int
    occupied: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.occupied, 0)


def _counts(shelter_ids: list[uuid.UUID]) -> tuple[dict, dict]:
    """(active beds, open placements) per shelter, in two grouped queries."""
    if not shelter_ids:
        return {}, {}
    capacity = dict(db.session.execute(
        select(Bed.shelter_id, func.count()).where(Bed.shelter_id.in_(shelter_ids),
                                                   Bed.active.is_(True))
        .group_by(Bed.shelter_id)).all())
    occupied = dict(db.session.execute(
        select(Placement.shelter_id, func.count())
        .where(Placement.shelter_id.in_(shelter_ids), Placement.discharged_on.is_(None))
        .group_by(Placement.shelter_id)).all())
    return capacity, occupied


def _rows(shelters: list[Shelter]) -> list[ShelterRow]:
    capacity, occupied = _counts([s.id for s in shelters])
    return [ShelterRow(s, capacity.get(s.id, 0), occupied.get(s.id, 0)) for s in shelters]


def _shelter_query():
    return select(Shelter).options(joinedload(Shelter.partner), selectinload(Shelter.beds))


def list_shelters(user) -> list[ShelterRow]:
    """Every shelter by name, with capacity and occupancy (a fixed number of queries)."""
    require_reader(user)
    shelters = list(db.session.scalars(_shelter_query().order_by(Shelter.name, Shelter.id)))
    return _rows(shelters)


def _encode_cursor(name: str, row_id: uuid.UUID) -> str:
    raw = json.dumps([name, str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(name, str) or _CONTROL.search(name):
            raise ValueError
        return name, uuid.UUID(row_id)
    except (ValueError, TypeError, UnicodeError, AttributeError) as exc:
        raise InvalidCursor("The cursor is not one this API gave out.") from exc


def shelter_page(user, limit: int, cursor: str | None) -> tuple[list[ShelterRow], str | None]:
    """One page of shelters by name, keyset-paginated."""
    require_reader(user)
    query = _shelter_query().order_by(Shelter.name, Shelter.id)
    if cursor:
        name, last_id = _decode_cursor(cursor)
        query = query.where(or_(Shelter.name > name,
                                and_(Shelter.name == name, Shelter.id > last_id)))
    shelters = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(shelters) > limit:
        shelters = shelters[:limit]
        next_cursor = _encode_cursor(shelters[-1].name, shelters[-1].id)
    return _rows(shelters), next_cursor


def load_shelter(shelter_id) -> Shelter | None:
    try:
        key = _uuid(shelter_id)
    except ValueError:
        return None
    return db.session.scalar(_shelter_query().where(Shelter.id == key))


def get_shelter(user, shelter_id) -> Shelter:
    require_reader(user)
    shelter = load_shelter(shelter_id)
    if shelter is None:
        raise NotFound()
    return shelter


def shelter_row(shelter: Shelter) -> ShelterRow:
    return _rows([shelter])[0]


def get_bed(user, shelter: Shelter, bed_id) -> Bed:
    require_reader(user)
    for bed in shelter.beds:
        if str(bed.id) == str(bed_id):
            return bed
    raise NotFound()


def _clean_partner(value) -> uuid.UUID | None:
    partner_id = _uuid(value, required=False)
    if partner_id is not None and db.session.get(Partner, partner_id) is None:
        raise ValueError(_l("No partner with this id."))
    return partner_id


def _clean_name(value, *, shelter: Shelter | None = None) -> str:
    name = _text(value, 200, required=True, missing=_l("Give the shelter a name."))
    clash = db.session.scalar(select(Shelter.id).where(func.lower(Shelter.name) == name.lower()))
    if clash is not None and (shelter is None or clash != shelter.id):
        raise ValueError(_l("Another shelter has this name."))
    return name


def _clean_bed(item, index: int | None, errors: _Errors) -> dict:
    prefix = f"beds.{index}." if index is not None else ""
    if not isinstance(item, dict):
        errors.add(prefix.rstrip(".") or "beds", _l("Give each bed as an object."))
        return {}
    unknown = set(item) - {"label", "restrictions", "active"}
    for name in sorted(str(k)[:64] for k in unknown):
        errors.add(prefix + name, _l("Unknown field."))
    clean = {}
    if "label" in item or index is not None:
        clean["label"] = errors.check(prefix + "label", _text, item.get("label"), 40,
                                      required=True, missing=_l("Give the bed a label."))
    if "restrictions" in item:
        clean["restrictions"] = errors.check(prefix + "restrictions", _restrictions,
                                             item["restrictions"])
    if "active" in item:
        clean["active"] = errors.check(prefix + "active", _bool, item["active"])
    return clean


def _flush_unique(message, *new_objects, changes: tuple = ()) -> None:
    """Add ``new_objects`` and flush inside a savepoint (beginning one flushes what is pending
    already, so new rows must be added within it): a unique violation, e.g. a concurrent twin,
    is rolled back to the savepoint and becomes a Conflict; the request's transaction lives on."""
    try:
        with db.session.begin_nested():
            for record, name, value in changes:
                setattr(record, name, value)
            db.session.add_all(new_objects)
            db.session.flush()
    except IntegrityError:
        raise Conflict(message) from None


def create_shelter(user, data) -> Shelter:
    require_manager(user)
    data = _object(data)
    _reject_unknown(data, ("name", "partner_id", "beds"))
    errors = _Errors()
    name = errors.check("name", _clean_name, data.get("name"))
    partner_id = errors.check("partner_id", _clean_partner, data.get("partner_id"))
    beds_in = data.get("beds") or []
    beds = []
    if not isinstance(beds_in, list):
        errors.add("beds", _l("Give a list of beds."))
    elif len(beds_in) > MAX_BEDS_PER_REQUEST:
        errors.add("beds", _l("At most %(n)d beds at a time.", n=MAX_BEDS_PER_REQUEST))
    else:
        beds = [_clean_bed(item, i, errors) for i, item in enumerate(beds_in)]
        labels = [b.get("label") for b in beds if b.get("label")]
        if len({label.casefold() for label in labels}) != len(labels):
            errors.add("beds", _l("Give each bed a different label."))
    errors.raise_if_any()
    shelter = Shelter(name=name, partner_id=partner_id)
    shelter.beds = [Bed(label=b["label"], restrictions=b.get("restrictions") or [],
                        active=b.get("active", True)) for b in beds]
    _flush_unique(_l("Another shelter has this name."), shelter)
    audit.record(user, "shelter.created", shelter,
                 fields=["name", "partner_id", *(["beds"] if beds else [])])
    return shelter


def update_shelter(user, shelter: Shelter, data) -> list[str]:
    require_manager(user)
    data = _object(data)
    if "beds" in data:
        raise ValidationFailed({"beds": [_l("Add and change beds one by one "
                                            "(/shelters/{id}/beds).")]})
    _reject_unknown(data, ("name", "partner_id"))
    errors = _Errors()
    clean = {}
    if "name" in data:
        clean["name"] = errors.check("name", _clean_name, data["name"], shelter=shelter)
    if "partner_id" in data:
        clean["partner_id"] = errors.check("partner_id", _clean_partner, data["partner_id"])
    errors.raise_if_any()
    changed = [name for name, value in clean.items() if getattr(shelter, name) != value]
    if changed:
        _flush_unique(_l("Another shelter has this name."),
                      changes=[(shelter, name, clean[name]) for name in changed])
        db.session.refresh(shelter, ["partner"])
        audit.record(user, "shelter.updated", shelter, fields=changed)
    return changed


def _label_taken(shelter: Shelter, label: str, bed: Bed | None = None) -> bool:
    return any(b.label.casefold() == label.casefold() and b is not bed for b in shelter.beds)


def add_bed(user, shelter: Shelter, data) -> Bed:
    require_manager(user)
    data = _object(data)
    errors = _Errors()
    clean = _clean_bed(data, None, errors)
    if "label" not in clean:
        errors.add("label", _l("Give the bed a label."))
    elif clean["label"] and _label_taken(shelter, clean["label"]):
        errors.add("label", _l("This shelter has a bed with this label already."))
    errors.raise_if_any()
    bed = Bed(shelter_id=shelter.id, label=clean["label"],
              restrictions=clean.get("restrictions") or [], active=clean.get("active", True))
    _flush_unique(_l("This shelter has a bed with this label already."), bed)
    audit.record(user, "bed.created", bed, fields=sorted(clean))
    return bed


def bed_is_occupied(bed: Bed) -> bool:
    return db.session.scalar(select(Placement.id).where(
        Placement.bed_id == bed.id, Placement.discharged_on.is_(None))) is not None


def update_bed(user, bed: Bed, data) -> list[str]:
    """Change a bed's label, restrictions or whether it is in service. A changed restriction
    applies to the next admission; an occupied bed cannot be taken out of service."""
    require_manager(user)
    data = _object(data)
    errors = _Errors()
    clean = _clean_bed(data, None, errors)
    if clean.get("label") and _label_taken(bed.shelter, clean["label"], bed):
        errors.add("label", _l("This shelter has a bed with this label already."))
    errors.raise_if_any()
    changed = [name for name, value in clean.items() if getattr(bed, name) != value]
    if "active" in changed and not clean["active"]:
        _lock_shelter(bed.shelter_id)  # no admission to this bed while it is checked
    if "active" in changed and not clean["active"] and bed_is_occupied(bed):
        raise Conflict(_l("Bed %(bed)s is occupied; it can be taken out of service once it "
                          "is free.", bed=bed.label))
    if changed:
        _flush_unique(_l("This shelter has a bed with this label already."),
                      changes=[(bed, name, clean[name]) for name in changed])
        audit.record(user, "bed.updated", bed, fields=changed)
    return changed


# --- the occupancy board -----------------------------------------------------------------------------

# What the board may show of an occupant, when the viewer may read it.
BOARD_SURVIVOR_FIELDS = ("case_number", "known_as")
BOARD_PLACEMENT_FIELDS = ("id", "survivor_id", "admitted_on", "expected_discharge_on")


@dataclass
class BoardRow:
    bed: Bed
    placement: Placement | None = None
    survivor: dict = field(default_factory=dict)  # readable case number / known-as name
    stay: dict = field(default_factory=dict)  # readable placement id, dates

    @property
    def occupied(self) -> bool:
        return self.placement is not None


@dataclass
class Board:
    shelter: Shelter
    rows: list[BoardRow]

    @property
    def capacity(self) -> int:
        return sum(1 for row in self.rows if row.bed.active)

    @property
    def occupied(self) -> int:
        return sum(1 for row in self.rows if row.occupied)

    @property
    def free(self) -> int:
        return sum(1 for row in self.rows if row.bed.active and not row.occupied)

    @property
    def expected_discharges(self) -> list[BoardRow]:
        """Occupied beds whose expected discharge the viewer may read, soonest first."""
        rows = [row for row in self.rows if row.stay.get("expected_discharge_on")]
        return sorted(rows, key=lambda row: (row.stay["expected_discharge_on"], row.bed.label))


def occupancy(user, shelter: Shelter) -> Board:
    """Who is in which bed of ``shelter``, as far as ``user`` may see, in a fixed number of
    queries. Every survivor whose details are shown is audited."""
    require_reader(user)
    placements = db.session.scalars(
        select(Placement)
        .where(Placement.shelter_id == shelter.id, Placement.discharged_on.is_(None))
        .options(selectinload(Placement.survivor).options(
            joinedload(Survivor.lead_caseworker), selectinload(Survivor.collaborators)))
    ).all()
    access.preload_break_glass(user, [p.survivor_id for p in placements])
    by_bed = {p.bed_id: p for p in placements}
    rows = []
    for bed in shelter.beds:
        placement = by_bed.pop(bed.id, None)
        if not bed.active and placement is None:
            continue
        row = BoardRow(bed, placement)
        if placement is not None:
            shown = access.present(user, placement.survivor, only=BOARD_SURVIVOR_FIELDS)
            row.survivor = {k: shown[k] for k in BOARD_SURVIVOR_FIELDS if k in shown}
            stay = access.present(user, placement)
            row.stay = {k: stay[k] for k in BOARD_PLACEMENT_FIELDS if k in stay}
        rows.append(row)
    for row in rows:
        if row.survivor or row.stay:
            audit.record(user, "shelter.occupancy_viewed", row.placement.survivor,
                         fields=[*row.survivor, *(f"placement.{k}" for k in row.stay)])
    audit.record(user, "shelter.board_viewed", shelter)
    return Board(shelter, rows)


# --- placements ----------------------------------------------------------------------------------------


def placements_of(user, survivor: Survivor) -> list[Placement]:
    """The survivor's placements, latest first (the caller has read access to ``survivor``);
    audited as a read of the fields ``user`` may see."""
    rows = list(db.session.scalars(
        select(Placement).where(Placement.survivor_id == survivor.id)
        .options(joinedload(Placement.shelter).joinedload(Shelter.partner),
                 joinedload(Placement.bed))
        .order_by(Placement.admitted_on.desc(), Placement.created_at.desc())
    ))
    readable = access.readable_fields(user, Placement, survivor=survivor)
    if rows and readable:
        audit.record(user, "placement.viewed", survivor, fields=sorted(readable))
    return rows


def placements_page(user, survivor: Survivor, limit: int, cursor: str | None):
    """One page of the survivor's placements, latest admission first (keyset-paginated)."""
    query = (select(Placement).where(Placement.survivor_id == survivor.id)
             .options(joinedload(Placement.shelter), joinedload(Placement.bed))
             .order_by(Placement.admitted_on.desc(), Placement.id.desc()))
    if cursor:
        admitted_on, last_id = decode_cursor(cursor)
        query = query.where(or_(Placement.admitted_on < admitted_on,
                                and_(Placement.admitted_on == admitted_on,
                                     Placement.id < last_id)))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].admitted_on, rows[-1].id)
    readable = access.readable_fields(user, Placement, survivor=survivor)
    if rows and readable:
        audit.record(user, "placement.viewed", survivor, fields=sorted(readable))
    return rows, next_cursor


def load_placement(user, placement_id) -> Placement:
    """Load, then authorise: 404 unless ``user`` may read the placement's survivor."""
    try:
        key = _uuid(placement_id)
    except ValueError:
        raise NotFound() from None
    placement = db.session.get(Placement, key)
    if placement is None:
        raise NotFound()
    access.require(user, "survivor.read", placement.survivor)
    return placement


def open_placement(survivor_id) -> Placement | None:
    return db.session.scalar(select(Placement).where(
        Placement.survivor_id == survivor_id, Placement.discharged_on.is_(None)))


def restriction_conflicts(bed: Bed, survivor: Survivor) -> list:
    """Why ``survivor`` may not sleep in ``bed`` (empty: no conflict)."""
    rules = set(bed.restrictions or [])
    reasons = []
    if "women_only" in rules and survivor.gender in MEN:
        reasons.append(_l("Bed %(bed)s is for women only, which does not match the survivor's "
                          "recorded gender.", bed=bed.label))
    if "men_only" in rules and survivor.gender in WOMEN:
        reasons.append(_l("Bed %(bed)s is for men only, which does not match the survivor's "
                          "recorded gender.", bed=bed.label))
    if "adults_only" in rules and survivor.age_band in MINOR_BANDS:
        reasons.append(_l("Bed %(bed)s is for adults only; the survivor's recorded age band is "
                          "under 18.", bed=bed.label))
    if "minors_only" in rules and survivor.age_band in ADULT_BANDS:
        reasons.append(_l("Bed %(bed)s is for minors only; the survivor's recorded age band is "
                          "18 or over.", bed=bed.label))
    return reasons


def _lock_shelter(shelter_id: uuid.UUID) -> Shelter | None:
    """The shelter row, locked until the request ends (PostgreSQL; a no-op on SQLite, whose
    writers are serialised already): concurrent admissions to it queue here."""
    return db.session.scalar(
        select(Shelter).where(Shelter.id == shelter_id).with_for_update()
        .execution_options(populate_existing=True)
    )


def _free_beds(shelter: Shelter) -> list[Bed]:
    taken = select(Placement.bed_id).where(Placement.shelter_id == shelter.id,
                                           Placement.discharged_on.is_(None))
    return list(db.session.scalars(
        select(Bed).where(Bed.shelter_id == shelter.id, Bed.active.is_(True),
                          Bed.id.not_in(taken))
        .order_by(Bed.label, Bed.id)
    ))


def _choose_bed(shelter: Shelter, survivor: Survivor, bed_id: uuid.UUID | None,
                current: Placement | None = None) -> Bed:
    """The named bed if it is free and suits the survivor, else the first free bed that
    suits. Call with the shelter locked."""
    if bed_id is not None:
        bed = db.session.get(Bed, bed_id)
        if bed is None or bed.shelter_id != shelter.id:
            raise ValidationFailed({"bed_id": [_l("This bed is not in %(shelter)s.",
                                                  shelter=shelter.name)]})
        if not bed.active:
            raise ValidationFailed({"bed_id": [_l("Bed %(bed)s is out of service.",
                                                  bed=bed.label)]})
        if current is not None and current.bed_id == bed.id:
            raise Conflict(_l("The survivor is already in bed %(bed)s.", bed=bed.label))
        conflicts = restriction_conflicts(bed, survivor)
        if conflicts:
            raise ValidationFailed({"bed_id": conflicts})
        if bed_is_occupied(bed):
            raise Conflict(_l("Bed %(bed)s in %(shelter)s is taken.", bed=bed.label,
                              shelter=shelter.name))
        return bed
    free = _free_beds(shelter)
    if not free:
        raise Conflict(_l("%(shelter)s is full: all %(n)d beds are taken.",
                          shelter=shelter.name, n=shelter_row(shelter).capacity))
    for bed in free:
        if not restriction_conflicts(bed, survivor):
            return bed
    raise Conflict(_l("None of the %(n)d free beds in %(shelter)s suits this survivor "
                      "(gender or age restrictions).", n=len(free), shelter=shelter.name))


def _check_after_previous(survivor: Survivor, admitted_on: date,
                          exclude: Placement | None = None) -> None:
    """A new stay starts no earlier than the end of the survivor's latest one (no night is
    spent in two places)."""
    query = select(func.max(Placement.discharged_on)).where(
        Placement.survivor_id == survivor.id, Placement.discharged_on.is_not(None))
    if exclude is not None:
        query = query.where(Placement.id != exclude.id)
    latest = db.session.scalar(query)
    if latest is not None and admitted_on < latest:
        raise ValidationFailed({"admitted_on": [
            _l("The survivor's previous placement ended on %(day)s; admit on or after it.",
               day=format_date(latest))]})


def _clean_target(data: dict, errors: _Errors) -> tuple[Shelter | None, uuid.UUID | None]:
    shelter_id = errors.check("shelter_id", _uuid, data.get("shelter_id"), required=False)
    bed_id = errors.check("bed_id", _uuid, data.get("bed_id"), required=False)
    shelter = None
    if shelter_id is not None:
        shelter = db.session.get(Shelter, shelter_id)
        if shelter is None:
            errors.add("shelter_id", _l("No shelter with this id."))
    if bed_id is not None:
        bed = db.session.get(Bed, bed_id)
        if bed is None:
            errors.add("bed_id", _l("No bed with this id."))
        elif shelter is None and shelter_id is None:
            shelter = bed.shelter
        elif shelter is not None and bed.shelter_id != shelter.id:
            errors.add("bed_id", _l("This bed is not in %(shelter)s.", shelter=shelter.name))
    return shelter, bed_id


ADMIT_FIELDS = ("shelter_id", "bed_id", "admitted_on", "expected_discharge_on")
# What every admission writes, whatever the request names (the bed may be chosen for it).
ADMISSION_WRITES = frozenset({"shelter_id", "bed_id", "admitted_on"})


def admit(user, survivor: Survivor, data, *, today: date | None = None) -> Placement:
    """Place ``survivor`` in a bed: the named one, or the first free bed that suits them."""
    today = today or date.today()
    data = _object(data)
    _reject_unknown(data, field_specs(Placement))
    access.check_write(user, Placement, ADMISSION_WRITES | set(data), survivor=survivor)
    errors = _Errors()
    for name in sorted(set(data) - set(ADMIT_FIELDS)):
        errors.add(name, ACTION_FIELDS.get(name, _l("Not set at admission.")))
    if data.get("shelter_id") in (None, ""):
        errors.add("shelter_id", _l("Choose the shelter."))
    shelter, bed_id = _clean_target(data, errors)
    admitted_on = errors.check("admitted_on", _date, data.get("admitted_on"), today=today,
                               required=True)
    expected = errors.check("expected_discharge_on", _date, data.get("expected_discharge_on"),
                            today=today, required=False, future=True)
    if admitted_on and expected and expected < admitted_on:
        errors.add("expected_discharge_on", _l("The expected discharge is before the admission."))
    errors.raise_if_any()
    if survivor.is_closed:
        raise Conflict(_l("Case %(case)s is closed.", case=survivor.case_number))
    shelter = _lock_shelter(shelter.id)
    current = open_placement(survivor.id)
    if current is not None:
        raise Conflict(_l("The survivor is already placed in %(shelter)s since %(day)s; "
                          "transfer or discharge them first.", shelter=current.shelter.name,
                          day=format_date(current.admitted_on)))
    _check_after_previous(survivor, admitted_on)
    bed = _choose_bed(shelter, survivor, bed_id)
    placement = Placement(survivor_id=survivor.id, shelter_id=shelter.id, bed_id=bed.id,
                          admitted_on=admitted_on, expected_discharge_on=expected,
                          status="open")
    _flush_unique(_l("The bed or the survivor was placed by someone else just now; "
                     "reload and try again."), placement)
    audit.record(user, "placement.created", survivor,
                 fields=["shelter_id", "bed_id", "admitted_on", "status",
                         *(["expected_discharge_on"] if expected else [])])
    return placement


def _lock_placement(placement: Placement) -> Placement:
    return db.session.scalar(
        select(Placement).where(Placement.id == placement.id).with_for_update()
        .execution_options(populate_existing=True)
    )


TRANSFER_FIELDS = ("shelter_id", "bed_id", "on")


def transfer(user, placement: Placement, data, *, today: date | None = None) -> Placement:
    """Close ``placement`` on ``on`` and open the next one in another bed (the named bed, or
    the first free bed that suits in the named shelter), in one transaction."""
    today = today or date.today()
    survivor = placement.survivor
    data = _object(data)
    _reject_unknown(data, TRANSFER_FIELDS)
    # The current stay ends (discharged_on) and the next begins (shelter, bed, admission).
    access.check_write(user, placement, ADMISSION_WRITES | {"discharged_on"})
    errors = _Errors()
    on = errors.check("on", _date, data.get("on"), today=today, required=True)
    if data.get("shelter_id") in (None, "") and data.get("bed_id") in (None, ""):
        errors.add("bed_id", _l("Name the bed or the shelter to move to."))
    shelter, bed_id = _clean_target(data, errors)
    errors.raise_if_any()
    placement = _lock_placement(placement)
    if not placement.is_open:
        raise Conflict(_l("This placement ended on %(day)s.",
                          day=format_date(placement.discharged_on)))
    if on < placement.admitted_on:
        raise ValidationFailed({"on": [_l("The transfer date is before the admission "
                                          "(%(day)s).", day=format_date(placement.admitted_on))]})
    if survivor.is_closed:
        raise Conflict(_l("Case %(case)s is closed.", case=survivor.case_number))
    shelter = _lock_shelter(shelter.id)
    bed = _choose_bed(shelter, survivor, bed_id, current=placement)
    expected = placement.expected_discharge_on
    successor = Placement(survivor_id=survivor.id, shelter_id=shelter.id, bed_id=bed.id,
                          admitted_on=on, status="open", previous_placement_id=placement.id,
                          expected_discharge_on=expected if expected and expected >= on else None)
    message = _l("The bed was taken by someone else just now; reload and try again.")
    try:
        with db.session.begin_nested():
            placement.discharged_on = on
            placement.status = "closed"
            placement.ended_by = "transfer"
            db.session.flush()  # the survivor's open placement ends before the next begins
            db.session.add(successor)
            db.session.flush()
    except IntegrityError:
        raise Conflict(message) from None
    audit.record(user, "placement.transferred", survivor,
                 fields=["discharged_on", "status", "ended_by", "shelter_id", "bed_id",
                         "admitted_on"])
    return successor


DISCHARGE_FIELDS = ("on", "reason")


def discharge(user, placement: Placement, data, *, today: date | None = None) -> Placement:
    today = today or date.today()
    data = _object(data)
    _reject_unknown(data, DISCHARGE_FIELDS)
    access.check_write(user, placement, {"discharged_on", "discharge_reason"})
    errors = _Errors()
    on = errors.check("on", _date, data.get("on"), today=today, required=True)
    reason = errors.check("reason", _text, data.get("reason"), MAX_REASON, required=True,
                          missing=_l("Give the reason for the discharge."))
    errors.raise_if_any()
    placement = _lock_placement(placement)
    if not placement.is_open:
        raise Conflict(_l("This placement ended on %(day)s already.",
                          day=format_date(placement.discharged_on)))
    if on < placement.admitted_on:
        raise ValidationFailed({"on": [_l("The discharge date is before the admission "
                                          "(%(day)s).", day=format_date(placement.admitted_on))]})
    placement.discharged_on = on
    placement.discharge_reason = reason
    placement.status = "closed"
    placement.ended_by = "discharge"
    db.session.flush()
    audit.record(user, "placement.discharged", placement.survivor,
                 fields=["discharged_on", "discharge_reason", "status", "ended_by"])
    return placement


# Changed through the actions above, not by editing.
ACTION_FIELDS = {
    "shelter_id": _l("Move the survivor with a transfer."),
    "bed_id": _l("Move the survivor with a transfer."),
    "admitted_on": _l("The admission date is set when the survivor is admitted."),
    "discharged_on": _l("Discharge the survivor with the discharge action."),
    "discharge_reason": _l("Give the reason with the discharge action."),
}


def update_placement(user, placement: Placement, data, *, today: date | None = None) -> list[str]:
    """Change the expected discharge date of an open placement."""
    today = today or date.today()
    data = _object(data)
    _reject_unknown(data, field_specs(Placement))
    access.check_write(user, placement, set(data))
    errors = _Errors()
    for name in sorted(set(data) & set(ACTION_FIELDS)):
        errors.add(name, ACTION_FIELDS[name])
    expected = None
    if "expected_discharge_on" in data:
        expected = errors.check("expected_discharge_on", _date, data["expected_discharge_on"],
                                today=today, required=False, future=True)
        if expected and expected < placement.admitted_on:
            errors.add("expected_discharge_on",
                       _l("The expected discharge is before the admission."))
    errors.raise_if_any()
    if "expected_discharge_on" not in data or placement.expected_discharge_on == expected:
        return []
    if not placement.is_open:
        raise Conflict(_l("This placement ended on %(day)s.",
                          day=format_date(placement.discharged_on)))
    placement.expected_discharge_on = expected
    db.session.flush()
    audit.record(user, "placement.updated", placement.survivor, fields=["expected_discharge_on"])
    return ["expected_discharge_on"]


# --- choices for forms ---------------------------------------------------------------------------


def bed_choices(user) -> tuple[list[Shelter], list[tuple[Shelter, Bed]]]:
    """Shelters, and the free beds of every shelter, in two queries (for forms)."""
    require_reader(user)
    shelters = list(db.session.scalars(_shelter_query().order_by(Shelter.name)))
    taken = set(db.session.scalars(
        select(Placement.bed_id).where(Placement.discharged_on.is_(None))))
    free = [(s, b) for s in shelters for b in s.beds if b.active and b.id not in taken]
    return shelters, free


# --- reports -----------------------------------------------------------------------------------------


def shelter_nights(survivor_ids: Iterable | None = None, start: date | None = None,
                   end: date | None = None, *, today: date | None = None) -> int:
    """Nights spent in shelters within ``start``..``end`` (both days included: a night counts
    on the day it begins), by the given survivors or everyone.

    A stay counts the nights from admission to discharge; an open stay counts up to today, never
    a future night. A transfer ends one stay on the day the next begins, so no night counts
    twice.
    """
    if start is None or end is None:
        raise TypeError("shelter_nights() needs start and end dates")
    if end < start:
        return 0
    today = today or date.today()
    stop = end + timedelta(days=1)  # the first night after the period
    query = select(Placement.admitted_on, Placement.discharged_on).where(
        Placement.admitted_on < stop,
        or_(Placement.discharged_on.is_(None), Placement.discharged_on > start),
    )
    if survivor_ids is not None:
        ids = list(survivor_ids)
        if not ids:
            return 0
        query = query.where(Placement.survivor_id.in_(ids))
    nights = 0
    for admitted_on, discharged_on in db.session.execute(query):
        left = discharged_on if discharged_on is not None else max(today, admitted_on)
        first, last = max(admitted_on, start), min(left, stop)
        nights += max((last - first).days, 0)
    return nights


# --- timeline ----------------------------------------------------------------------------------------


def timeline_events(user, survivor) -> list[TimelineEvent]:
    """Admissions, transfers and discharges of ``survivor``, in one query whatever their
    number; each event carries the placement as ``user`` may see it."""
    placements = db.session.scalars(
        select(Placement).where(Placement.survivor_id == survivor.id)
        .options(joinedload(Placement.shelter), joinedload(Placement.bed))
    ).all()
    url = url_for("shelters.survivor_placements", survivor_id=survivor.id)
    events = []
    for placement in placements:
        shown = access.present(user, placement)
        if not shown:
            continue
        where = ""
        if "shelter_id" in shown:
            where = placement.shelter.name
            if "bed_id" in shown:
                where = _("%(shelter)s, bed %(bed)s", shelter=where, bed=placement.bed.label)
        if "admitted_on" in shown:
            if placement.previous_placement_id is not None:
                kind, title = "placement.transferred", _("Moved to %(where)s", where=where)
            else:
                kind, title = "placement.admitted", _("Admitted to %(where)s", where=where)
            events.append(TimelineEvent(placement.admitted_on, kind, title.rstrip(" "),
                                        "placement", placement.id, shown, url))
        if placement.ended_by == "discharge" and shown.get("discharged_on"):
            events.append(TimelineEvent(placement.discharged_on, "placement.discharged",
                                        _("Left %(where)s", where=where).rstrip(" "),
                                        "placement", placement.id, shown, url))
    return events
