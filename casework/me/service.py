"""The signed-in user's profile, alerts and caseload.

Alerts combine overdue support-plan items assigned to the user and employment checks (3 and
6 months after a completed training) that are due for survivors the user leads. They name
survivors by case number only, never by name, and only survivors in the user's scope whose
case is open. ``alert_count`` is the navigation badge: one SELECT, whatever the number.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache

from flask_babel import format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from .. import access, audit, vocab
from ..extensions import db, execute_without_objects
from ..plans.models import PlanItem
from ..survivors.models import Survivor
from ..training import service as training
from ..training.models import Enrolment, TrainingProgramme

ALERT_ROLES = ("caseworker", "counsellor", "supervisor")
PLAN_OVERDUE = "plan_item.overdue"
EMPLOYMENT_CHECK = {3: "employment_check.3_months", 6: "employment_check.6_months"}
CASE_REASSIGNED = "case.reassigned"  # a supervisor made the user lead (casework/supervision)
CLOSURE_AWAITING = "closure.awaiting_approval"  # supervisors: a closure request of the team
CLOSURE_RETURNED = "closure.returned"  # requesters: a supervisor returned their closure request


@dataclass(frozen=True)
class Alert:
    kind: str
    due_on: date
    case_number: str
    survivor_id: uuid.UUID
    record_id: uuid.UUID
    message: str

    @property
    def url(self) -> str:
        from flask import url_for

        if self.kind in (CASE_REASSIGNED, CLOSURE_RETURNED):
            return url_for("survivors.view", survivor_id=self.survivor_id)
        if self.kind == CLOSURE_AWAITING:
            return url_for("supervision.approvals")
        if self.kind == PLAN_OVERDUE:
            return url_for("plans.survivor_plan", survivor_id=self.survivor_id)
        if self.kind.startswith("referral."):
            return url_for("referrals.view", referral_id=self.record_id)
        return url_for("training.enrolment", enrolment_id=self.record_id)

    def as_dict(self) -> dict:
        return asdict(self)


def _has_alerts(user) -> bool:
    return (getattr(user, "is_authenticated", False) and user.active
            and user.role in ALERT_ROLES)


def _overdue_items(user, today: date):
    return (PlanItem.assignee_id == user.id, PlanItem.done_on.is_(None),
            PlanItem.due_on < today)


def _led_by(user):
    return Survivor.lead_caseworker_id == user.id


def alert_count(user, today: date | None = None) -> int:
    """How many alerts ``user`` has: one SELECT of counts, no rows loaded."""
    if not _has_alerts(user):
        return 0
    from ..referrals.service import response_days

    statement = _alert_count_statement(_AlertSubject(user.id, user.role, user.team_id),
                                       today or date.today(), response_days())
    return sum(execute_without_objects(statement).one())


@dataclass(frozen=True)
class _AlertSubject:
    """What of a user their alert count depends on (``access.scope_clause`` reads these)."""

    id: uuid.UUID
    role: str
    team_id: uuid.UUID | None
    active: bool = True
    is_authenticated: bool = True


@lru_cache(maxsize=4096)
def _alert_count_statement(user: _AlertSubject, today: date, response_days: int):
    """The badge's SELECT for ``user`` on ``today``, built once per user and day (it is
    asked on every page: building it and deriving its cache key cost more than running it).
    ``response_days`` (a setting the referral alerts read) is part of the key."""
    scope = access.scope_clause(user)
    plan = (select(func.count()).select_from(PlanItem).join(Survivor)
            .where(*_overdue_items(user, today), Survivor.open_case(), scope))
    counts = [plan.scalar_subquery()]
    for condition in training.due_check_conditions(today).values():
        counts.append(select(func.count()).select_from(Enrolment).join(Survivor)
                      .where(condition, _led_by(user), Survivor.open_case(), scope).scalar_subquery())
    from ..supervision.models import Reassignment
    from ..supervision.reassign import pending_condition

    counts.append(select(func.count()).select_from(Reassignment).join(Survivor)
                  .where(*pending_condition(user.id), Survivor.open_case(), scope).scalar_subquery())
    from ..supervision.approvals import returned_condition
    from ..supervision.models import ClosureRequest

    counts.append(select(func.count()).select_from(ClosureRequest).join(Survivor)
                  .where(*returned_condition(user.id), Survivor.open_case(), scope).scalar_subquery())
    if user.role == "supervisor":
        counts.append(select(func.count()).select_from(ClosureRequest).join(Survivor)
                      .where(ClosureRequest.status == "pending", scope).scalar_subquery())
    from ..referrals import service as referrals

    referral_count = referrals.alert_count_query(user, today)
    if referral_count is not None:
        counts.append(referral_count.scalar_subquery())
    return select(*counts)


def alerts_for(user, today: date | None = None, *, audit_read: bool = True) -> list[Alert]:
    """Every alert of ``user``, the most overdue first (two queries, whatever the number).

    Showing an alert shows the survivor's case number: each survivor listed is audited as
    seen in a list, as the caseload does.
    """
    if not _has_alerts(user):
        return []
    today = today or date.today()
    scope = access.scope_clause(user)
    alerts: list[Alert] = []
    survivors: dict[uuid.UUID, Survivor] = {}
    spl = vocab.htcds(vocab.SUPPORT_PLAN_TYPE)

    items = db.session.execute(
        select(PlanItem, Survivor).join(Survivor, PlanItem.survivor_id == Survivor.id)
        .where(*_overdue_items(user, today), Survivor.open_case(), scope)
        .options(joinedload(Survivor.lead_caseworker))
    )
    for item, survivor in items:
        survivors[survivor.id] = survivor
        alerts.append(Alert(
            PLAN_OVERDUE, item.due_on, survivor.case_number, survivor.id, item.id,
            str(_l("Support plan item (%(type)s) was due on %(day)s.",
                   type=_l(spl.label(item.type)), day=format_date(item.due_on))),
        ))

    conditions = training.due_check_conditions(today)
    enrolments = db.session.execute(
        select(Enrolment, Survivor, TrainingProgramme.name)
        .join(Survivor, Enrolment.survivor_id == Survivor.id)
        .join(TrainingProgramme, Enrolment.programme_id == TrainingProgramme.id)
        .where(or_(*conditions.values()), _led_by(user), Survivor.open_case(), scope)
        .options(joinedload(Survivor.lead_caseworker))
    )
    for enrolment, survivor, programme_name in enrolments:
        survivors[survivor.id] = survivor
        for check in training.due_checks(enrolment, today):
            alerts.append(Alert(
                EMPLOYMENT_CHECK[check.months], check.due_on, survivor.case_number,
                survivor.id, enrolment.id,
                str(_l("Employment check %(n)d months after completing “%(programme)s” is "
                       "due since %(day)s.", n=check.months, programme=programme_name,
                       day=format_date(check.due_on))),
            ))

    from ..supervision.models import Reassignment
    from ..supervision.reassign import pending_condition

    moves = db.session.execute(
        select(Reassignment, Survivor).join(Survivor, Reassignment.survivor_id == Survivor.id)
        .where(*pending_condition(user.id), Survivor.open_case(), scope)
        .options(joinedload(Reassignment.by_user), joinedload(Survivor.lead_caseworker))
    )
    for move, survivor in moves:
        survivors[survivor.id] = survivor
        alerts.append(Alert(
            CASE_REASSIGNED, move.at.date(), survivor.case_number, survivor.id, move.id,
            str(_l("%(name)s made you lead caseworker of this case on %(day)s.",
                   name=move.by_user.display_name, day=format_date(move.at.date()))),
        ))
    from ..supervision.approvals import returned_condition
    from ..supervision.models import ClosureRequest

    returns = db.session.execute(
        select(ClosureRequest, Survivor)
        .join(Survivor, ClosureRequest.survivor_id == Survivor.id)
        .where(*returned_condition(user.id), Survivor.open_case(), scope)
        .options(joinedload(ClosureRequest.decider), joinedload(Survivor.lead_caseworker)))
    for request, survivor in returns:
        survivors[survivor.id] = survivor
        alerts.append(Alert(
            CLOSURE_RETURNED, request.decided_at.date(), survivor.case_number, survivor.id,
            request.id,
            str(_l("%(name)s returned your request to close this case; open it to read why.",
                   name=request.decider.display_name)),
        ))
    if user.role == "supervisor":
        requests = db.session.execute(
            select(ClosureRequest, Survivor)
            .join(Survivor, ClosureRequest.survivor_id == Survivor.id)
            .where(ClosureRequest.status == "pending", scope)
            .options(joinedload(ClosureRequest.requester),
                     joinedload(Survivor.lead_caseworker)))
        for request, survivor in requests:
            survivors[survivor.id] = survivor
            alerts.append(Alert(
                CLOSURE_AWAITING, request.created_at.date(), survivor.case_number,
                survivor.id, request.id,
                str(_l("%(name)s asks to close this case; it waits for your approval.",
                       name=request.requester.display_name)),
            ))

    from ..referrals import service as referrals

    alerts.extend(referrals.alerts_for(user, today, audit_read=audit_read))
    alerts.sort(key=lambda a: (a.due_on, a.case_number, a.kind))
    if audit_read:
        for survivor in survivors.values():
            audit.record(user, "survivor.listed", survivor, fields=["case_number"])
    return alerts


def profile(user) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "team": user.team.name if user.team is not None else None,
    }


def caseload(user, limit: int, cursor: str | None, lead_caseworker_id: uuid.UUID | None = None):
    """The caller's survivors (supervisors: their team's), optionally of one lead
    caseworker, as the caseload gives them (keyset-paginated, each listing audited)."""
    from ..survivors.service import CaseloadFilters, caseload_page

    filters = CaseloadFilters(lead_caseworker_id=lead_caseworker_id)
    return caseload_page(user, filters, limit, cursor)


class ProfileError(ValueError):
    """A profile change refused (an unknown language or time zone)."""


def update_profile(user, *, locale: str, timezone: str) -> list[str]:
    """The user's own language and time zone; audited as ``user.profile_changed`` with the
    names of the fields that changed (nothing recorded when nothing changed)."""
    from ..web import SUPPORTED_LOCALES, available_timezones

    if locale not in SUPPORTED_LOCALES:
        raise ProfileError(f"unknown language {locale!r}")
    if timezone not in available_timezones():
        raise ProfileError(f"unknown time zone {timezone!r}")
    changed = [name for name, value in (("locale", locale), ("timezone", timezone))
               if getattr(user, name) != value]
    if changed:
        user.locale = locale
        user.timezone = timezone
        audit.record(user, "user.profile_changed", subject=user, fields=changed)
    return changed
