"""The support plan: items (HTCDS spl_Type) with an objective, due and done dates and an
assignee, shared by the pages and the API. Overdue items become alerts for their assignee
(casework/me/service.py)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from .. import access, audit, vocab
from ..access.fields import field_specs
from ..api.pagination import decode_cursor, encode_cursor
from ..auth.models import User
from ..extensions import db
from ..survivors.models import Survivor
from ..survivors.service import ValidationFailed
from ..survivors.timeline import TimelineEvent
from ..training.service import clean_date, clean_text, clean_uuid, reject_unknown
from .models import PlanItem

ASSIGNEE_ROLES = ("caseworker", "counsellor")
MAX_OBJECTIVE = 5000
EARLIEST = date(2000, 1, 1)


def _latest_due(today: date) -> date:
    return today + timedelta(days=5 * 366)


# --- reads ---------------------------------------------------------------------------------------


def get_item_for(user, item_id) -> PlanItem:
    """Load, then authorise: 404 unless the caller may read the item's survivor."""
    from ..survivors.service import get_record_for

    return get_record_for(user, PlanItem, item_id)


def _items_query(survivor: Survivor):
    return (select(PlanItem).where(PlanItem.survivor_id == survivor.id)
            .options(selectinload(PlanItem.assignee)))


def items_for(user, survivor: Survivor) -> list[tuple[PlanItem, dict]]:
    """Every item of the plan, open ones first by due date, with the caller's view of each."""
    rows = list(db.session.scalars(_items_query(survivor).order_by(
        PlanItem.done_on.is_not(None), PlanItem.due_on, PlanItem.id)))
    presented = [(item, access.present(user, item)) for item in rows]
    _audit_read(user, survivor, "plan_item.listed", [shown for _i, shown in presented])
    return presented


def items_page(user, survivor: Survivor, limit: int, cursor: str | None):
    """The plan by due date (earliest first), keyset-paginated."""
    query = _items_query(survivor).order_by(PlanItem.due_on, PlanItem.id)
    if cursor:
        due_on, last_id = decode_cursor(cursor)
        query = query.where(or_(PlanItem.due_on > due_on,
                                and_(PlanItem.due_on == due_on, PlanItem.id > last_id)))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].due_on, rows[-1].id)
    items = [access.present(user, item) for item in rows]
    _audit_read(user, survivor, "plan_item.listed", items)
    return items, next_cursor


def view_item(user, item: PlanItem) -> dict:
    shown = access.present(user, item)
    _audit_read(user, item.survivor, "plan_item.viewed", [shown])
    return shown


def _audit_read(user, survivor, action: str, shown: list[dict]) -> None:
    if shown:
        audit.record(user, action, survivor, fields=sorted({n for item in shown for n in item}))


def is_overdue(item: PlanItem, today: date | None = None) -> bool:
    return item.done_on is None and item.due_on < (today or date.today())


# --- assignees -----------------------------------------------------------------------------------


def assignee_choices(survivor: Survivor) -> list[User]:
    """Who may be given an item: active caseworkers and counsellors assigned to the survivor
    or in the lead caseworker's team (one query)."""
    assigned = survivor.assigned_user_ids()
    team_id = survivor.lead_caseworker.team_id if survivor.lead_caseworker else None
    condition = User.id.in_(assigned)
    if team_id is not None:
        condition = or_(condition, User.team_id == team_id)
    return list(db.session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(ASSIGNEE_ROLES), condition)
        .order_by(User.display_name)))


def _check_assignee(survivor: Survivor, user_id: uuid.UUID) -> None:
    person = db.session.get(User, user_id)
    lead = survivor.lead_caseworker
    eligible = (
        person is not None and person.active and person.role in ASSIGNEE_ROLES
        and (person.id in survivor.assigned_user_ids()
             or (person.team_id is not None and lead is not None
                 and person.team_id == lead.team_id))
    )
    if not eligible:
        raise ValueError(_l("Choose an active caseworker or counsellor working on this case or "
                            "in its lead caseworker's team."))


# --- writes --------------------------------------------------------------------------------------


def _validate(data: dict, survivor: Survivor, item: PlanItem | None, today: date) -> dict:
    errors: dict[str, list] = {}
    clean: dict = {}
    for name, value in data.items():
        try:
            if name == "type":
                text = clean_text("type", value, 40)
                if text is None:
                    raise ValueError(_l("Choose the type of support."))
                if text not in vocab.htcds(vocab.SUPPORT_PLAN_TYPE):
                    raise ValueError(_l("“%(value)s” is not one of the allowed values.",
                                        value=text[:40]))
                clean[name] = text
            elif name == "objective":
                clean[name] = clean_text("objective", value, MAX_OBJECTIVE)
            elif name == "due_on":
                clean[name] = clean_date(value, earliest=EARLIEST, latest=_latest_due(today))
                if clean[name] is None:
                    raise ValueError(_l("Enter the due date."))
            elif name == "done_on":
                clean[name] = clean_date(value, earliest=EARLIEST, latest=today,
                                         not_after_today=True)
            elif name == "assignee_id":
                assignee = clean_uuid(value)
                if assignee is None:
                    raise ValueError(_l("Choose who will see this through."))
                if item is None or assignee != item.assignee_id:
                    _check_assignee(survivor, assignee)
                clean[name] = assignee
        except ValueError as exc:
            errors.setdefault(name, []).append(exc.args[0])
    if errors:
        raise ValidationFailed(errors)
    return clean


def create_item(user, survivor: Survivor, data: dict, today: date | None = None) -> PlanItem:
    """Add an item; its assignee defaults to the survivor's lead caseworker."""
    today = today or date.today()
    reject_unknown(data, field_specs(PlanItem))
    access.check_write(user, PlanItem, {"type", "due_on", *data}, survivor=survivor)
    if "assignee_id" not in data or data["assignee_id"] in (None, ""):
        data = {**data, "assignee_id": survivor.lead_caseworker_id}
    clean = _validate(data, survivor, None, today)
    missing = {name: [message] for name, message in (
        ("type", _l("Choose the type of support.")), ("due_on", _l("Enter the due date.")))
        if name not in clean}
    if missing:
        raise ValidationFailed(missing)
    item = PlanItem(survivor=survivor, **clean)
    db.session.add(item)
    db.session.flush()
    audit.record(user, "plan_item.created", survivor,
                 fields=sorted(name for name, value in clean.items() if value is not None))
    return item


def update_item(user, item: PlanItem, data: dict, today: date | None = None) -> list[str]:
    today = today or date.today()
    reject_unknown(data, field_specs(PlanItem))
    access.check_write(user, item, data.keys())
    clean = _validate(data, item.survivor, item, today)
    changed = sorted(name for name, value in clean.items() if getattr(item, name) != value)
    for name in changed:
        setattr(item, name, clean[name])
    if changed:
        audit.record(user, "plan_item.updated", item.survivor, fields=changed)
    return changed


def mark_done(user, item: PlanItem, today: date | None = None) -> list[str]:
    today = today or date.today()
    if item.done_on is not None:
        access.check_write(user, item, ["done_on"])
        return []
    return update_item(user, item, {"done_on": today}, today)


# --- timeline ------------------------------------------------------------------------------------


def timeline_events(user, survivor) -> list[TimelineEvent]:
    """Item added and item done: two queries however many items."""
    rows = db.session.scalars(_items_query(survivor))
    events = []
    for item in rows:
        shown = access.present(user, item)
        if not shown:
            continue
        kind_label = (vocab.htcds(vocab.SUPPORT_PLAN_TYPE).display(shown["type"])
                      if shown.get("type") else "")
        url = url_for("plans.survivor_plan", survivor_id=survivor.id)
        if shown.get("created_at"):
            events.append(TimelineEvent(
                shown["created_at"], "plan.added",
                str(_l("Support plan item added: %(type)s", type=_l(kind_label))),
                "plan_item", item.id, dict(shown), url))
        if shown.get("done_on"):
            events.append(TimelineEvent(
                shown["done_on"], "plan.done",
                str(_l("Support plan item done: %(type)s", type=_l(kind_label))),
                "plan_item", item.id, dict(shown), url))
    return events
