"""Reassignment: a supervisor moves one or many team cases to another active caseworker of
the team, with a reason. All or nothing: a case outside the team answers 404 and a target
outside the team (or inactive, or not a caseworker) is refused whole, nothing changed.

Each case moved is audited (``survivor.reassigned``, field names only, the reason stored)
and leaves a ``Reassignment`` record: the new lead's alert until they open the case or
acknowledge it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from .. import access, audit
from ..auth.models import User
from ..extensions import db, execute_without_objects
from ..survivors import service as survivors
from ..survivors.models import Survivor
from ..survivors.service import ValidationFailed, _clean_text
from .models import Reassignment

MAX_REASON = 2000
MAX_CASES = 200


def _uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _team_case(user, survivor_id) -> Survivor:
    """A case led by a caseworker of ``user``'s team; 404 for anything else."""
    survivor = survivors.get_for(user, survivor_id, "supervision.reassign")
    lead = survivor.lead_caseworker
    if lead is None or user.team_id is None or lead.team_id != user.team_id:
        raise NotFound()
    return survivor


def team_caseworkers(user) -> list[User]:
    """Active caseworkers of the supervisor's team (who cases may be moved to)."""
    if user.team_id is None:
        return []
    return list(db.session.scalars(
        select(User).where(User.team_id == user.team_id, User.role == "caseworker",
                           User.active.is_(True)).order_by(User.display_name)))


def open_team_cases(user, lead_id: uuid.UUID | None = None) -> list[Survivor]:
    """The team's open cases (led by a team caseworker), optionally of one lead; each
    listed survivor is audited as seen in a list (case number, status, lead)."""
    access.require(user, "supervision.reassign")
    team_member = select(User.id).where(User.team_id == user.team_id)
    query = (select(Survivor)
             .where(Survivor.lead_caseworker_id.in_(team_member),
                    Survivor.open_case())
             .options(selectinload(Survivor.lead_caseworker))
             .order_by(Survivor.case_number))
    if lead_id is not None:
        query = query.where(Survivor.lead_caseworker_id == lead_id)
    rows = list(db.session.scalars(query.limit(1000))) if user.team_id else []
    for survivor in rows:
        audit.record(user, "survivor.listed", survivor,
                     fields=["case_number", "lead_caseworker_id", "status"])
    return rows


def reassign(user, survivor_ids, to_user_id, reason) -> list[Reassignment]:
    """Move every case of ``survivor_ids`` to ``to_user_id``, or none of them.

    404 (NotFound) if any case is outside the caller's team; ValidationFailed (422) for a
    missing or bad list, a target that is not an active caseworker of the team, a case the
    target already leads, a closed case, or a missing reason. Nothing changes on refusal.
    """
    access.require(user, "supervision.reassign")
    errors: dict[str, list] = {}
    if not isinstance(survivor_ids, list | tuple) or not survivor_ids:
        errors["survivor_ids"] = [_l("Choose at least one case.")]
        ids = []
    elif len(survivor_ids) > MAX_CASES:
        errors["survivor_ids"] = [_l("Choose at most %(n)d cases at a time.", n=MAX_CASES)]
        ids = []
    else:
        ids = [_uuid(v) for v in survivor_ids]
        if any(v is None for v in ids):
            errors["survivor_ids"] = [_l("Give a list of case ids.")]
            ids = []
        ids = list(dict.fromkeys(ids))
    target = None
    to_key = _uuid(to_user_id)
    if to_key is None:
        errors["to_user_id"] = [_l("Choose the caseworker to move the cases to.")]
    else:
        target = db.session.get(User, to_key)
        if (target is None or not target.active or target.role != "caseworker"
                or user.team_id is None or target.team_id != user.team_id):
            errors["to_user_id"] = [_l("Choose an active caseworker of your team.")]
            target = None
    try:
        reason_clean = _clean_text("closure_reason", reason) if reason is not None else None
    except ValueError as exc:
        errors["reason"] = [exc.args[0]]
    else:
        if not reason_clean:
            errors["reason"] = [_l("Say why the cases are moved.")]
    # Every case must be a team case (404 otherwise), checked before anything changes.
    cases = [_team_case(user, sid) for sid in ids]
    if target is not None:
        already = [s.case_number for s in cases if s.lead_caseworker_id == target.id]
        closed = [s.case_number for s in cases if s.is_closed]
        if already:
            errors.setdefault("survivor_ids", []).append(str(_l(
                "%(name)s already leads: %(cases)s.", name=target.display_name,
                cases=", ".join(already))))
        if closed:
            errors.setdefault("survivor_ids", []).append(str(_l(
                "Closed cases cannot be moved: %(cases)s.", cases=", ".join(closed))))
    if errors:
        raise ValidationFailed(errors)
    # The access policy decides whether the caller may write the lead (supervisors of the
    # team may); refused whole, with a denial recorded, otherwise.
    for survivor in cases:
        access.check_write(user, survivor, ["lead_caseworker_id"])
    now = datetime.now(UTC)
    moved = []
    for survivor in cases:
        record = Reassignment(survivor_id=survivor.id, survivor=survivor,
                              from_user_id=survivor.lead_caseworker_id, to_user_id=target.id,
                              reason=reason_clean, by_user_id=user.id, at=now)
        db.session.add(record)
        survivor.lead_caseworker_id = target.id
        survivor.lead_caseworker = target
        survivor.updated_at = now
        access.forget(survivor)
        audit.record(user, "survivor.reassigned", survivor, fields=["lead_caseworker_id"],
                     reason=reason_clean)
        moved.append(record)
    db.session.flush()
    return moved


# --- the new lead's alert ------------------------------------------------------------------------


def pending_condition(user_id):
    """SQL condition: unacknowledged reassignments to the user ``user_id`` (an id or a bound
    parameter)."""
    return (Reassignment.to_user_id == user_id, Reassignment.acknowledged_at.is_(None))


# Built once: it runs on every survivor page a caseworker opens.
_ACKNOWLEDGE_CASE = (
    update(Reassignment)
    .where(Reassignment.survivor_id == bindparam("of_survivor"),
           *pending_condition(bindparam("to_user")))
    .values(acknowledged_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def acknowledge_case(user, survivor) -> int:
    """The new lead opened the case: their reassignment alerts for it are done (one UPDATE,
    only for staff who can be reassigned cases)."""
    if getattr(user, "role", None) != "caseworker":
        return 0
    result = execute_without_objects(_ACKNOWLEDGE_CASE, {
        "of_survivor": survivor.id, "to_user": user.id, "now": datetime.now(UTC)})
    return result.rowcount or 0


def acknowledge(user, reassignment_id) -> Reassignment:
    """The new lead dismisses the alert (404 for anyone else's)."""
    key = _uuid(reassignment_id) if not isinstance(reassignment_id, uuid.UUID) \
        else reassignment_id
    record = db.session.get(Reassignment, key) if key is not None else None
    if record is None or record.to_user_id != getattr(user, "id", None):
        raise NotFound()
    if record.acknowledged_at is None:
        record.acknowledged_at = datetime.now(UTC)
        audit.record(user, "survivor.reassignment_acknowledged", record.survivor,
                     fields=["acknowledged_at"])
    return record
