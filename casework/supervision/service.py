"""Supervision services: the caseload review and the team dashboard.

The caseload review is the team's caseload (``access.scope_clause``) with filters on indexed
columns and EXISTS subqueries (no per-row query), sorted and keyset-paginated, each listed
survivor audited as the survivors caseload does. Rows are read through ``access.present``:
supervisors see operational, demographic and sensitive fields, identifying ones only for a
case they broke glass on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, case, exists, func, literal_column, or_, select, text
from werkzeug.exceptions import Forbidden

from .. import access, audit, vocab
from ..api.pagination import decode_keyset, encode_keyset
from ..extensions import db
from ..survivors.models import RISK_RANK_SQL, Survivor
from ..survivors.service import (
    _CONTROL,
    ValidationFailed,
    fields_readable_in_caseload,
    list_load_options,
    present_listed,
)

SUPERVISOR = "supervisor"
PAGE_SIZE = 50
INACTIVE_DAYS = 30
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)

SERVICE_KINDS = vocab.local("supervision_service_kind", [
    ("shelter", "Shelter placement"),
    ("counselling", "Counselling engagement"),
    ("training", "Training enrolment"),
    ("legal", "Legal matter"),
])
SORT_KEYS = ("intake_date", "case_number", "risk_level")
DIRECTIONS = ("asc", "desc")
# Risk sorts by severity, not alphabetically; no risk recorded ranks lowest.
RISK_RANK = {"low": 1, "medium": 2, "high": 3}


def require_supervisor(user) -> None:
    if getattr(user, "role", None) != SUPERVISOR or user.team_id is None:
        raise Forbidden()


@dataclass
class ReviewFilters:
    # worker: the survivors a member of the team works with — as lead caseworker, as
    # collaborator, or as counsellor of an open counselling engagement (the dashboard's rows).
    worker: uuid.UUID | None = None
    lead_caseworker_id: uuid.UUID | None = None  # strictly the lead caseworker
    open: bool = False  # status not closed
    status: str | None = None
    risk_level: str | None = None
    overdue: bool = False
    followup: bool = False  # an employment check (3 or 6 months after training) is due
    awaiting_partner: bool = False  # a referral issued to a partner is still unanswered
    inactive: bool = False  # no activity for INACTIVE_DAYS (see inactive_clause)
    service: str | None = None
    intake_from: date | None = None
    intake_to: date | None = None
    sort: str = "intake_date"
    direction: str = "desc"

    # The survivor field each filter reads (a filter on a field the caller may not read: 403).
    FIELDS = {"worker": "lead_caseworker_id", "lead_caseworker_id": "lead_caseworker_id",
              "open": "status", "status": "status", "risk_level": "risk_level",
              "overdue": "survivor_id", "followup": "survivor_id",
              "awaiting_partner": "survivor_id", "inactive": "updated_at",
              "service": "survivor_id", "intake_from": "intake_date", "intake_to": "intake_date"}

    def as_args(self) -> dict[str, str]:
        """The query-string form of these filters (links, next page)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, False, ""):
                continue
            out[f.name] = "1" if value is True else str(value)
        return out

    @property
    def key(self) -> str:
        return f"{self.sort}:{self.direction}"


def _one_line(name: str, value, limit: int = 64) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or _CONTROL.search(value):
        raise ValidationFailed({name: [_l("Not a valid value.")]})
    return value.strip() or None


def parse_filters(args) -> ReviewFilters:
    """ReviewFilters from query-string values (strings); ValidationFailed naming each bad one."""
    errors: dict[str, list] = {}
    out = ReviewFilters()

    def take(name, convert):
        try:
            raw = _one_line(name, args.get(name))
        except ValidationFailed as exc:
            errors.update(exc.errors)
            return
        if raw is None:
            return
        try:
            setattr(out, name, convert(raw))
        except (ValueError, TypeError):
            errors[name] = [_l("Not a valid value.")]

    def one_of(choices):
        def convert(raw):
            if raw not in choices:
                raise ValueError(raw)
            return raw
        return convert

    def day(raw):
        value = date.fromisoformat(raw)
        if not EARLIEST <= value <= LATEST:
            raise ValueError(raw)
        return value

    def flag(raw):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)

    take("worker", uuid.UUID)
    take("lead_caseworker_id", uuid.UUID)
    take("open", flag)
    take("status", one_of(vocab.htcds(vocab.CASE_STATUS).values))
    take("risk_level", one_of(vocab.RISK_LEVELS.values))
    take("overdue", flag)
    take("followup", flag)
    take("awaiting_partner", flag)
    take("inactive", flag)
    take("service", one_of(SERVICE_KINDS.values))
    take("intake_from", day)
    take("intake_to", day)
    take("sort", one_of(SORT_KEYS))
    take("direction", one_of(DIRECTIONS))
    if not errors and out.intake_from and out.intake_to and out.intake_from > out.intake_to:
        errors["intake_to"] = [_l("The end of the period is before its start.")]
    if errors:
        raise ValidationFailed(errors)
    return out


def _sort_column(sort: str):
    if sort == "risk_level":
        # The exact text of the index ix_survivors_risk_rank_id (bound parameters would not
        # match it). Only the survivors table is in the page query's FROM.
        return literal_column(RISK_RANK_SQL)
    return getattr(Survivor, sort)


def _sort_value(survivor: Survivor, sort: str):
    if sort == "risk_level":
        return RISK_RANK.get(survivor.risk_level, 0)
    value = getattr(survivor, sort)
    return value.isoformat() if isinstance(value, date) else value


def _service_clause(kind: str):
    # IN (SELECT survivor_id ...), not a correlated EXISTS: few survivors hold a given
    # service at once, so the database drives from the service's open records (SQLite would
    # otherwise probe every survivor of the team: 230 ms against 15 ms at 100,000).
    if kind == "shelter":
        from ..shelters.models import Placement

        return Survivor.id.in_(select(Placement.survivor_id)
                               .where(Placement.discharged_on.is_(None)))
    if kind == "counselling":
        from ..counselling.models import CounsellingEngagement as Engagement

        return Survivor.id.in_(select(Engagement.survivor_id)
                               .where(Engagement.ended_on.is_(None)))
    if kind == "training":
        from ..training.models import Enrolment

        return Survivor.id.in_(select(Enrolment.survivor_id)
                               .where(Enrolment.status == "enrolled"))
    from ..legal.models import LegalMatter

    return Survivor.id.in_(select(LegalMatter.survivor_id)
                           .where(LegalMatter.status.in_(("open", "awaiting_hearing"))))


def _has(survivor_id_column, *conditions, bulk: bool = False):
    """The survivor has a row matching ``conditions``: a correlated EXISTS for a page (stops
    at the first match, per listed survivor), or ``id IN (SELECT ...)`` when counting over the
    whole team (``bulk``: the subquery runs once — a hashed subplan — instead of once per
    survivor). Both select the same survivors."""
    if bulk:
        return Survivor.id.in_(select(survivor_id_column).where(*conditions))
    return exists().where(survivor_id_column == Survivor.id, *conditions)


def overdue_clause(today: date, bulk: bool = False):
    """The survivor has a support-plan item not done and past its due date."""
    from ..plans.models import PlanItem

    return _has(PlanItem.survivor_id, PlanItem.done_on.is_(None), PlanItem.due_on < today,
                bulk=bulk)


def followup_clause(today: date, bulk: bool = False):
    """An employment check (3 or 6 months after a completed training) is due."""
    from ..training.models import Enrolment
    from ..training.service import due_check_conditions

    return _has(Enrolment.survivor_id, or_(*due_check_conditions(today).values()), bulk=bulk)


def awaiting_partner_clause(bulk: bool = False):
    """A referral was issued to a partner who has not answered yet."""
    from ..referrals.models import AWAITING_PARTNER, Referral

    return _has(Referral.survivor_id, Referral.status.in_(AWAITING_PARTNER), bulk=bulk)


def _activity_models():
    from ..counselling.models import CounsellingEngagement, CounsellingSession
    from ..legal.models import LegalMatter
    from ..plans.models import PlanItem
    from ..referrals.models import Referral
    from ..shelters.models import Placement
    from ..training.models import Enrolment

    return (PlanItem, CounsellingEngagement, CounsellingSession, Placement, Enrolment,
            LegalMatter, Referral)


def inactive_clause(today: date, bulk: bool = False):
    """No activity for INACTIVE_DAYS: neither the survivor's record nor any of its service
    records (support-plan items, counselling engagements and sessions, shelter placements,
    training enrolments, legal matters, referrals) was created or changed (``updated_at``)
    since then. Reads do not count as activity."""
    since = datetime.combine(today - timedelta(days=INACTIVE_DAYS), datetime.min.time(),
                             tzinfo=UTC)
    return and_(Survivor.updated_at < since, *(
        ~_has(model.survivor_id, model.updated_at >= since, bulk=bulk)
        for model in _activity_models()))


def worker_clause(user_id):
    """``user_id`` leads the case, collaborates on it, or counsels the survivor in an open
    engagement."""
    from ..counselling.models import CounsellingEngagement as Engagement
    from ..survivors.models import survivor_collaborators as sc

    return or_(Survivor.lead_caseworker_id == user_id,
               exists().where(sc.c.survivor_id == Survivor.id, sc.c.user_id == user_id),
               exists().where(Engagement.survivor_id == Survivor.id,
                              Engagement.counsellor_id == user_id, Engagement.ended_on.is_(None)))


def _check_readable(user, filters: ReviewFilters) -> None:
    readable = fields_readable_in_caseload(user) | {"survivor_id"}
    used = [ReviewFilters.FIELDS[f.name] for f in fields(filters)
            if f.name in ReviewFilters.FIELDS and getattr(filters, f.name) not in (None, False)]
    used.append(filters.sort)
    forbidden = sorted({name for name in used if name not in readable})
    if forbidden:
        raise access.ForbiddenFields(forbidden)


def filter_conditions(filters: ReviewFilters, today: date, bulk: bool = False) -> list:
    """The SQL conditions of ``filters`` on Survivor (the review and the dashboard's counts
    share them, so each dashboard number equals the length of the list it links to)."""
    conditions = []
    if filters.worker:
        conditions.append(worker_clause(filters.worker))
    if filters.lead_caseworker_id:
        conditions.append(Survivor.lead_caseworker_id == filters.lead_caseworker_id)
    if filters.open:
        conditions.append(Survivor.open_case())
    if filters.status:
        conditions.append(Survivor.status == filters.status)
    if filters.risk_level:
        conditions.append(Survivor.risk_level == filters.risk_level)
    if filters.overdue:
        conditions.append(overdue_clause(today, bulk))
    if filters.followup:
        conditions.append(followup_clause(today, bulk))
    if filters.awaiting_partner:
        conditions.append(awaiting_partner_clause(bulk))
    if filters.inactive:
        conditions.append(inactive_clause(today, bulk))
    if filters.service:
        conditions.append(_service_clause(filters.service))
    if filters.intake_from:
        conditions.append(Survivor.intake_date >= filters.intake_from)
    if filters.intake_to:
        conditions.append(Survivor.intake_date <= filters.intake_to)
    return conditions


def review_query(user, filters: ReviewFilters, today: date | None = None) -> Select:
    """The team's survivors matching ``filters`` (unsorted, unpaginated)."""
    require_supervisor(user)
    access.require(user, "survivor.list")
    _check_readable(user, filters)
    today = today or date.today()
    return select(Survivor).where(access.scope_clause(user), *filter_conditions(filters, today))


def _keyset(query: Select, filters: ReviewFilters, cursor: str | None) -> Select:
    column = _sort_column(filters.sort)
    descending = filters.direction == "desc"
    query = query.order_by(column.desc() if descending else column.asc(),
                           Survivor.id.desc() if descending else Survivor.id.asc())
    if not cursor:
        return query
    value, last_id = decode_keyset(cursor, filters.key)
    if filters.sort == "intake_date":
        try:
            value = date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            value = None
    elif filters.sort == "case_number" and not isinstance(value, str):
        value = None
    elif filters.sort == "risk_level" and not isinstance(value, int):
        value = None
    if value is None or (isinstance(value, str) and _CONTROL.search(value)):
        from ..api.pagination import InvalidCursor

        raise InvalidCursor("The cursor is not one this API gave out.")
    if descending:
        return query.where(or_(column < value, and_(column == value, Survivor.id < last_id)))
    return query.where(or_(column > value, and_(column == value, Survivor.id > last_id)))


# The columns of the review page (its table, and the name once the glass is broken).
PAGE_COLUMNS = ("case_number", "first_name", "last_name", "known_as", "status", "risk_level",
                "intake_date", "lead_caseworker_id", "gender", "age_band",
                "trafficking_status", "referral_source")


def review_page(user, filters: ReviewFilters, cursor: str | None = None,
                limit: int = PAGE_SIZE, today: date | None = None,
                columns: tuple[str, ...] | None = None):
    """One page of the caseload review — (survivor, ``access.present`` of it) pairs — and
    the cursor of the next page (None at the end).

    ``columns``: only these fields are loaded, shown and audited as listed (the page's
    table); by default every field the supervisor may read (the API).

    A fixed number of statements whatever the page size: the page, its leads (selectin),
    the open break-glass grants, the audit head and one INSERT of
    the page's audit events.
    """
    query = _keyset(review_query(user, filters, today), filters, cursor)
    _no_jit()
    query = query.options(*list_load_options(columns, filters.sort))
    rows = list(db.session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_keyset(filters.key, _sort_value(rows[-1], filters.sort), rows[-1].id)
    page = present_listed(user, rows, columns)
    return page, next_cursor


def review_count(user, filters: ReviewFilters, today: date | None = None) -> int:
    query = review_query(user, filters, today).with_only_columns(func.count(Survivor.id))
    return db.session.scalar(query.order_by(None)) or 0


# --- team dashboard ------------------------------------------------------------------------------

STAFF_ROLES = ("caseworker", "counsellor")


@dataclass(frozen=True)
class Metric:
    name: str
    label: object
    filters: dict  # the caseload review's query string for this number (plus the worker)


def dashboard_metrics(today: date) -> list[Metric]:
    month_start = today.replace(day=1)
    return [
        Metric("open", _l("Open cases"), {"open": "1"}),
        Metric("high_risk", _l("High risk"), {"open": "1", "risk_level": "high"}),
        Metric("overdue", _l("Overdue plan items"), {"open": "1", "overdue": "1"}),
        Metric("followup", _l("Follow-ups due"), {"open": "1", "followup": "1"}),
        Metric("awaiting_partner", _l("Referrals waiting on partners"),
               {"open": "1", "awaiting_partner": "1"}),
        Metric("inactive", _l("No activity for 30 days"), {"open": "1", "inactive": "1"}),
        Metric("new_intakes", _l("New intakes this month"),
               {"intake_from": month_start.isoformat(), "intake_to": today.isoformat()}),
    ]


@dataclass
class DashboardRow:
    worker: object  # a User, or None for the whole team
    counts: dict[str, int]


def _count_columns(metrics: list[Metric], today: date) -> list:
    columns = []
    for metric in metrics:
        conditions = filter_conditions(parse_filters(metric.filters), today, bulk=True)
        columns.append(func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)
                       .label(metric.name))
    return columns


def _no_jit() -> None:
    """PostgreSQL: no JIT compilation for this transaction. The team-wide counts cost enough
    to cross jit_above_cost, and compiling them took 2.3 s of a 2.4 s query at 100,000
    survivors (execution: 60 ms)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))


def team_staff(user) -> list:
    from ..auth.models import User

    return list(db.session.scalars(
        select(User).where(User.team_id == user.team_id, User.role.in_(STAFF_ROLES))
        .order_by(User.display_name, User.username)))


def dashboard(user, today: date | None = None) -> tuple[list[Metric], list[DashboardRow],
                                                       DashboardRow]:
    """Per caseworker and counsellor of the team, and for the whole team, the number of
    survivors behind each metric. Three queries whatever the team size: the staff, the
    counts grouped by worker, the team's counts. Survivors are counted, not listed: nothing
    about any one survivor is read, so nothing is audited per survivor."""
    from sqlalchemy import union

    from ..auth.models import User
    from ..counselling.models import CounsellingEngagement as Engagement
    from ..survivors.models import survivor_collaborators as sc

    require_supervisor(user)
    access.require(user, "survivor.list")
    today = today or date.today()
    metrics = dashboard_metrics(today)
    for metric in metrics:
        _check_readable(user, parse_filters(metric.filters))
    staff = team_staff(user)
    _no_jit()
    columns = _count_columns(metrics, today)
    # Who works with which survivor: the worker filter's three relations (worker_clause).
    assignments = union(
        select(Survivor.id.label("sid"), Survivor.lead_caseworker_id.label("uid")),
        select(sc.c.survivor_id, sc.c.user_id),
        select(Engagement.survivor_id, Engagement.counsellor_id)
        .where(Engagement.ended_on.is_(None)),
    ).subquery()
    staff_ids = select(User.id).where(User.team_id == user.team_id, User.role.in_(STAFF_ROLES))
    grouped = db.session.execute(
        select(assignments.c.uid, *columns)
        .select_from(assignments).join(Survivor, Survivor.id == assignments.c.sid)
        .where(assignments.c.uid.in_(staff_ids), access.scope_clause(user))
        .group_by(assignments.c.uid)
    ).all()
    by_worker = {row[0]: row for row in grouped}
    names = [m.name for m in metrics]
    rows = []
    for member in staff:
        row = by_worker.get(member.id)
        rows.append(DashboardRow(member, {n: int(row._mapping[n]) if row else 0
                                          for n in names}))
    total = db.session.execute(select(*columns).select_from(Survivor)
                               .where(access.scope_clause(user))).one()
    audit.record(user, "supervision.dashboard_viewed")
    return metrics, rows, DashboardRow(None, {n: int(total._mapping[n]) for n in names})


def _months(today: date, n: int = 12) -> list[tuple[date, date]]:
    """The last ``n`` months (oldest first) as (first day, last day); the current month
    ends today."""
    out = []
    year, month = today.year, today.month
    for _ in range(n):
        start = date(year, month, 1)
        following = date(year + (month == 12), month % 12 + 1, 1)
        out.append((start, min(following - timedelta(days=1), today)))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def monthly_series(user, today: date | None = None) -> list[tuple[date, int, int]]:
    """For each of the last 12 months: (first day, caseload at the month's end — intake on
    or before it and not closed by then —, intakes during the month). One query."""
    require_supervisor(user)
    access.require(user, "survivor.list")
    today = today or date.today()
    months = _months(today)
    _no_jit()
    columns = []
    for start, end in months:
        closed_after = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        open_then = and_(Survivor.intake_date <= end,
                         or_(Survivor.closed_at.is_(None), Survivor.closed_at >= closed_after))
        intake = and_(Survivor.intake_date >= start, Survivor.intake_date <= end)
        columns.append(func.coalesce(func.sum(case((open_then, 1), else_=0)), 0))
        columns.append(func.coalesce(func.sum(case((intake, 1), else_=0)), 0))
    row = db.session.execute(select(*columns).select_from(Survivor)
                             .where(access.scope_clause(user))).one()
    return [(start, int(row[2 * i]), int(row[2 * i + 1]))
            for i, (start, _end) in enumerate(months)]


def chart_svg(kind: str, series: list[tuple[date, int, int]]) -> str:
    """A server-rendered SVG chart (pygal, no JavaScript): kind "caseload" or "intakes"."""
    import pygal
    from flask_babel import format_date
    from pygal.style import Style

    style = Style(background="white", plot_background="white", foreground="#212529",
                  foreground_strong="#212529", foreground_subtle="#6c757d",
                  colors=("#0d6efd",), font_family="system-ui, sans-serif")
    config = pygal.Config(disable_xml_declaration=True, js=[], style=style, show_legend=False,
                          width=720, height=320, x_label_rotation=30, print_values=False,
                          include_x_axis=True, explicit_size=False)
    chart = (pygal.Line if kind == "caseload" else pygal.Bar)(config)
    chart.title = str(_l("Open cases at the end of each month") if kind == "caseload"
                      else _l("New intakes per month"))
    chart.x_labels = [format_date(start, "MMM yyyy") for start, _c, _i in series]
    chart.add(chart.title, [c if kind == "caseload" else i for _s, c, i in series])
    tree = chart.render_tree()
    # pygal writes its configuration into a <script> even with js=[]: drop it, the chart
    # needs none (it is shown as an image, where scripts never run anyway).
    for parent in list(tree.iter()):
        for child in list(parent):
            if str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    from xml.etree import ElementTree

    return ElementTree.tostring(tree, encoding="unicode")


def timeline_events(user, survivor):
    """The case's supervision history for its timeline: closure requests and decisions,
    referrals returned to draft, reassignments (casework/supervision/approvals.py)."""
    from .approvals import timeline_events as events

    return events(user, survivor)
