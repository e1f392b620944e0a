"""The figures of a donor impact report, counted in SQL.

One programme (or the whole organisation) over whole months. Every table is a handful of
GROUP BY queries over the service records — nothing about any one survivor leaves the
database, and the time taken follows the number of groups, not of records. Survivors whose
latest decision on ``anonymised_statistics`` consent is a refusal or a withdrawal are left
out of every figure.

Tables (names and labels are English keys; pages translate them):

* Survivors served by age band and gender — survivors whose case was open at some time in
  the period (unique; rows and columns partition them, so totals are published).
* Survivors served by region of origin — the UN M49 region of the first citizenship.
* Survivors served by type of exploitation — a survivor may count under several types.
* New intakes — per month of the period (additive over months).
* Services by kind — records active in the period and the survivors holding them.
* Shelter nights — nights spent in a shelter in the period (additive, per month).
* Counselling sessions — held and attended (additive, per month).
* Training — enrolments, completions, certifications and employment found at the 3- and
  6-month checks that fell due in the period (additive, per month).
* Legal matters by kind and outcome — matters open at some time in the period.
* Referrals by service and outcome — referrals made in the period (additive, per month).

A cell carries its value and the number of distinct survivors behind it, so that disclosure
control (``disclosure.protect``) suppresses figures contributed by fewer than k survivors even
when the value itself is large (e.g. shelter nights).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased

from .. import vocab
from ..consent.models import Consent
from ..counselling.models import CounsellingEngagement, CounsellingSession
from ..extensions import db
from ..legal.models import MATTER_KINDS, OUTCOMES, LegalMatter
from ..programmes.models import survivor_programmes
from ..referrals.models import PARTNER_SERVICES, Referral
from ..regions import region_of
from ..shelters.models import Placement
from ..survivors.models import Survivor
from ..training.models import Enrolment
from .disclosure import Cell, Link, Period, Table


def N_(text: str) -> str:
    """Marks an English key for the catalogue: reports store the keys, pages and PDFs
    translate them (``render.label``)."""
    return text


NOT_RECORDED = N_("Not recorded")

SERVED_BY_AGE_GENDER = N_("Survivors served by age band and gender")
SERVED_BY_REGION = N_("Survivors served by region of origin")
SERVED_BY_EXPLOITATION = N_("Survivors served by type of exploitation")
NEW_INTAKES = N_("New intakes")
SERVICES_BY_KIND = N_("Services by kind")
SHELTER_NIGHTS = N_("Shelter nights")
COUNSELLING = N_("Counselling sessions")
TRAINING = N_("Training")
LEGAL = N_("Legal matters by kind and outcome")
REFERRALS = N_("Referrals by service and outcome")

# M49 regions (casework/regions.py), in a fixed order so that every report has the same rows.
REGIONS = (N_("Africa"), N_("Americas"), N_("Asia"), N_("Europe"), N_("Oceania"), N_("Unknown"))

# Referral statuses as donors read them (drafts are not referrals yet).
REFERRAL_OUTCOMES = {
    N_("Waiting"): ("awaiting_approval", "approved", "issued"),
    N_("Accepted"): ("accepted",),
    N_("Declined"): ("declined",),
    N_("Completed"): ("completed",),
    N_("Withdrawn"): ("withdrawn",),
}
# The other row and column labels the tables below store, listed for the catalogue.
OTHER_LABELS = (N_("Survivors"), N_("Records"), N_("Nights"), N_("Sessions"),
                N_("Shelter placements"), N_("Counselling"), N_("Vocational training"),
                N_("Legal aid"), N_("Referrals"), N_("Sessions held"), N_("Sessions attended"))



@dataclass(frozen=True)
class Scope:
    """Whose figures: one programme's survivors, or (None) the organisation's."""

    programme_id: uuid.UUID | None
    period: Period

    @property
    def start(self) -> date:
        return self.period.first

    @property
    def end(self) -> date:
        """The last day of the period."""
        last = self.period.last
        return next_month(last) - timedelta(days=1)


@dataclass
class Built:
    tables: list[Table]
    links: list[Link]
    excluded_survivors: int


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _month_key(expression):
    """'YYYY-MM' of a date or timestamp column, on either engine."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(expression, "YYYY-MM")
    return func.strftime("%Y-%m", expression)


def _days(later, earlier):
    """Whole days from ``earlier`` to ``later`` (dates), on either engine."""
    if db.session.get_bind().dialect.name == "postgresql":
        return later - earlier
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _day(expression):
    """The calendar day (UTC) of a timestamp column, on either engine."""
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(expression, Date)
    return func.date(expression)


def _least(a, b):
    if db.session.get_bind().dialect.name == "postgresql":
        return func.least(a, b)
    return func.min(a, b)


def _greatest(a, b):
    if db.session.get_bind().dialect.name == "postgresql":
        return func.greatest(a, b)
    return func.max(a, b)


# --- who counts -------------------------------------------------------------------------------


def opted_out():
    """SQL condition on Survivor: their latest anonymised-statistics decision says no."""
    later = aliased(Consent)
    return exists().where(
        Consent.survivor_id == Survivor.id,
        Consent.purpose == "anonymised_statistics",
        Consent.status.in_(("refused", "withdrawn")),
        not_(exists().where(later.survivor_id == Survivor.id,
                            later.purpose == "anonymised_statistics",
                            later.status == "granted",
                            later.recorded_at > Consent.recorded_at)),
    )


def _in_programme(programme_id):
    if programme_id is None:
        return literal(True)
    return exists().where(survivor_programmes.c.survivor_id == Survivor.id,
                          survivor_programmes.c.programme_id == programme_id)


def counted_survivors(scope: Scope):
    """The ids of the survivors whose services count (programme, consent)."""
    return select(Survivor.id).where(_in_programme(scope.programme_id), not_(opted_out()))


def _served(scope: Scope):
    """Counted survivors whose case was open at some time in the period."""
    closed_day = _day(Survivor.closed_at)
    return (counted_survivors(scope)
            .where(Survivor.intake_date <= scope.end,
                   or_(Survivor.closed_at.is_(None), closed_day >= scope.start)))


# --- tables -------------------------------------------------------------------------------------


def build(scope: Scope) -> Built:
    counted = counted_survivors(scope).scalar_subquery()
    served = _served(scope).subquery()
    tables = [
        *_served_tables(scope, served),
        _new_intakes(scope),
        _services_by_kind(scope, counted),
        _shelter_nights(scope, counted),
        _counselling(scope, counted),
        _training(scope, counted),
        _legal(scope, counted),
        _referrals(scope, counted),
    ]
    links = [Link.totals(SERVED_BY_AGE_GENDER, SERVED_BY_REGION)]
    excluded = db.session.scalar(
        select(func.count()).select_from(Survivor)
        .where(_in_programme(scope.programme_id), opted_out())) or 0
    return Built(tables, links, excluded)


def _labels_with_unknown(values: Sequence[str]) -> tuple[str, ...]:
    return (*values, NOT_RECORDED)


def _served_tables(scope: Scope, served) -> list[Table]:
    rows = db.session.execute(
        select(Survivor.age_band, Survivor.gender,
               cast(Survivor.citizenship, String), cast(Survivor.exploitation_types, String),
               func.count())
        .where(Survivor.id.in_(select(served.c.id)))
        .group_by(Survivor.age_band, Survivor.gender, cast(Survivor.citizenship, String),
                  cast(Survivor.exploitation_types, String))
    ).all()
    bands = _labels_with_unknown(vocab.AGE_BANDS.values)
    genders = _labels_with_unknown(vocab.htcds(vocab.GENDER).values)
    types = _labels_with_unknown(vocab.htcds(vocab.EXPLOITATION_TYPES).values)
    by_age_gender: dict[tuple[str, str], int] = defaultdict(int)
    by_region: dict[str, int] = defaultdict(int)
    by_type: dict[str, int] = defaultdict(int)
    for age_band, gender, citizenship, exploitation, n in rows:
        age = age_band if age_band in bands else NOT_RECORDED
        sex = gender if gender in genders else NOT_RECORDED
        by_age_gender[(age, sex)] += n
        countries = json.loads(citizenship) if citizenship else []
        region = region_of(countries[0]) if countries else "Unknown"
        by_region[region if region in REGIONS else "Unknown"] += n
        kinds = set(json.loads(exploitation)) if exploitation else set()
        for kind in (kinds & set(types)) or {NOT_RECORDED}:
            by_type[kind] += n
    return [
        Table.counts(SERVED_BY_AGE_GENDER, bands, genders,
                     [[by_age_gender[(a, g)] for g in genders] for a in bands]),
        Table.counts(SERVED_BY_REGION, REGIONS, ("Survivors",),
                     [[by_region[r]] for r in REGIONS], row_totals=False),
        # A survivor may count under several types: the rows overlap, no totals.
        Table.counts(SERVED_BY_EXPLOITATION, types, ("Survivors",),
                     [[by_type[t]] for t in types], row_totals=False, column_totals=False,
                     grand_total=False),
    ]


def _monthly_table(name: str, scope: Scope, row_labels: Sequence[str],
                   column_labels: Sequence[str],
                   figures: dict[tuple[str, str, str], tuple[int, int]],
                   contributors: Callable[[str, str], int], **options) -> Table:
    """A table additive over months. ``figures[(month, row, column)] = (value, survivors)``
    per month; ``contributors(row, column)`` the distinct survivors over the whole period."""
    months = scope.period.months()
    monthly = {
        month: [[Cell(*figures.get((f"{month:%Y-%m}", r, c), (0, 0))) for c in column_labels]
                for r in row_labels]
        for month in months
    }
    cells = []
    for r in row_labels:
        line = []
        for c in column_labels:
            value = sum(figures.get((f"{m:%Y-%m}", r, c), (0, 0))[0] for m in months)
            line.append(Cell(value, contributors(r, c) if value else 0))
        cells.append(line)
    return Table(name, tuple(row_labels), tuple(column_labels), cells, additive=True,
                 monthly=monthly, **options)


def _new_intakes(scope: Scope) -> Table:
    month = _month_key(Survivor.intake_date)
    rows = db.session.execute(
        select(month, func.count())
        .where(Survivor.id.in_(counted_survivors(scope)),
               Survivor.intake_date.between(scope.start, scope.end))
        .group_by(month)).all()
    labels = tuple(f"{m:%Y-%m}" for m in scope.period.months())
    figures = {(key, key, "New intakes"): (n, n) for key, n in rows}
    counts = {key: n for key, n in rows}
    # Rows are months: a month's figure is its row, so each month's matrix has one non-zero row.
    return _monthly_table(NEW_INTAKES, scope, labels, ("New intakes",), figures,
                          lambda r, c: counts.get(r, 0), row_totals=False)


def _services_by_kind(scope: Scope, counted) -> Table:
    start, end = scope.start, scope.end
    kinds = {
        "Shelter placements": (Placement, and_(
            Placement.admitted_on <= end,
            or_(Placement.discharged_on.is_(None), Placement.discharged_on >= start))),
        "Counselling": (CounsellingEngagement, and_(
            CounsellingEngagement.started_on <= end,
            or_(CounsellingEngagement.ended_on.is_(None),
                CounsellingEngagement.ended_on >= start))),
        "Vocational training": (Enrolment, and_(
            Enrolment.enrolled_on <= end,
            or_(Enrolment.completed_on.is_(None), Enrolment.completed_on >= start),
            or_(Enrolment.withdrawn_on.is_(None), Enrolment.withdrawn_on >= start))),
        "Legal aid": (LegalMatter, _legal_active(scope)),
        "Referrals": (Referral, _referral_made(scope)),
    }
    selects = [
        select(literal(label).label("kind"), func.count().label("records"),
               func.count(func.distinct(model.survivor_id)).label("survivors"))
        .where(model.survivor_id.in_(counted), condition)
        for label, (model, condition) in kinds.items()
    ]
    found = {kind: (records, survivors)
             for kind, records, survivors in db.session.execute(union_all(*selects)).all()}
    labels = tuple(kinds)
    cells = [[Cell(found[k][0], found[k][1]), Cell.count(found[k][1])] for k in labels]
    return Table(SERVICES_BY_KIND, labels, ("Records", "Survivors"), cells,
                 row_totals=False, column_totals=False, grand_total=False)


def _shelter_nights(scope: Scope, counted) -> Table:
    """Nights per month: each placement's stay clipped to each month of the period."""
    months = scope.period.months()
    # The months as a derived table (a UNION of literal rows: SQLite cannot name the
    # columns of a VALUES list).
    month_table = union_all(*(
        select(literal(m, Date).label("month_start"),
               literal(next_month(m), Date).label("month_next"))
        for m in months)).subquery("months")
    stay_end = func.coalesce(Placement.discharged_on, scope.end + timedelta(days=1))
    first = _greatest(Placement.admitted_on, month_table.c.month_start)
    last = _least(stay_end, month_table.c.month_next)
    nights = _days(last, first)
    rows = db.session.execute(
        select(month_table.c.month_start, func.sum(nights),
               func.count(func.distinct(Placement.survivor_id)))
        .select_from(Placement)
        .join(month_table, and_(Placement.admitted_on < month_table.c.month_next,
                                stay_end > month_table.c.month_start))
        # Only stays that overlap the period meet the months (fewer rows to clip).
        .where(Placement.survivor_id.in_(counted), Placement.admitted_on <= scope.end,
               or_(Placement.discharged_on.is_(None), Placement.discharged_on > scope.start))
        .group_by(month_table.c.month_start)).all()
    figures = {}
    for month_start, total, survivors in rows:
        key = month_start if isinstance(month_start, str) else f"{month_start:%Y-%m}"
        figures[(key[:7], "Shelter nights", "Nights")] = (int(total or 0), survivors)
    survivors = db.session.scalar(
        select(func.count(func.distinct(Placement.survivor_id)))
        .where(Placement.survivor_id.in_(counted), Placement.admitted_on <= scope.end,
               or_(Placement.discharged_on.is_(None),
                   Placement.discharged_on > scope.start))) or 0
    return _monthly_table(SHELTER_NIGHTS, scope, ("Shelter nights",), ("Nights",), figures,
                          lambda r, c: survivors, row_totals=False, column_totals=False,
                          grand_total=False)


def _counselling(scope: Scope, counted) -> Table:
    month = _month_key(CounsellingSession.held_on)
    base = (CounsellingSession.survivor_id.in_(counted),
            CounsellingSession.held_on.between(scope.start, scope.end))
    rows = db.session.execute(
        select(month, func.count(),
               func.count(func.distinct(CounsellingSession.survivor_id)),
               func.sum(case((CounsellingSession.attended, 1), else_=0)),
               func.count(func.distinct(case((CounsellingSession.attended,
                                               CounsellingSession.survivor_id)))))
        .where(*base).group_by(month)).all()
    figures = {}
    for key, held, held_by, attended, attended_by in rows:
        figures[(key, "Sessions held", "Sessions")] = (held, held_by)
        figures[(key, "Sessions attended", "Sessions")] = (int(attended or 0), attended_by)
    held_by, attended_by = db.session.execute(
        select(func.count(func.distinct(CounsellingSession.survivor_id)),
               func.count(func.distinct(case((CounsellingSession.attended,
                                               CounsellingSession.survivor_id)))))
        .where(*base)).one()
    totals = {"Sessions held": held_by, "Sessions attended": attended_by}
    return _monthly_table(COUNSELLING, scope, ("Sessions held", "Sessions attended"),
                          ("Sessions",), figures, lambda r, c: totals[r], row_totals=False,
                          column_totals=False, grand_total=False)


TRAINING_ROWS = (N_("Enrolments"), N_("Completions"), N_("Certifications"),
                 N_("Employed at the 3-month check"), N_("Employed at the 6-month check"))



def _shift(key: str, months: int) -> str:
    year, month = int(key[:4]), int(key[5:7]) + months
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return f"{year:04d}-{month:02d}"


def _training(scope: Scope, counted) -> Table:
    """Enrolment events by the month they happened in; the employment checks by the month
    they fell due (3 or 6 months after completion)."""
    start, end = scope.start, scope.end
    early = date(start.year - 1, start.month, 1)  # completions up to 6 months before count
    enrolled = _month_key(Enrolment.enrolled_on)
    completed = _month_key(Enrolment.completed_on)
    survivor = Enrolment.survivor_id
    queries = {
        "Enrolments": (enrolled, Enrolment.enrolled_on.between(start, end), 0),
        "Completions": (completed, Enrolment.completed_on.between(start, end), 0),
        "Certifications": (completed, and_(Enrolment.completed_on.between(start, end),
                                           Enrolment.certified), 0),
        "Employed at the 3-month check": (completed, and_(
            Enrolment.completed_on.between(early, end), Enrolment.employed_at_3_months), 3),
        "Employed at the 6-month check": (completed, and_(
            Enrolment.completed_on.between(early, end), Enrolment.employed_at_6_months), 6),
    }
    months = {f"{m:%Y-%m}" for m in scope.period.months()}
    figures: dict[tuple[str, str, str], tuple[int, int]] = {}
    totals: dict[str, int] = {}
    for label, (month, condition, shift) in queries.items():
        rows = db.session.execute(
            select(month, func.count(), func.count(func.distinct(survivor)))
            .where(survivor.in_(counted), condition).group_by(month)).all()
        due_months = set()
        for key, n, people in rows:
            due = _shift(key, shift)
            if due in months:
                figures[(due, label, "Survivors")] = (n, people)
                due_months.add(key)
        if due_months:
            totals[label] = db.session.scalar(
                select(func.count(func.distinct(survivor)))
                .where(survivor.in_(counted), condition, month.in_(sorted(due_months)))) or 0
        else:
            totals[label] = 0
    return _monthly_table(TRAINING, scope, TRAINING_ROWS, ("Survivors",), figures,
                          lambda r, c: totals[r], row_totals=False, column_totals=False,
                          grand_total=False)


def _legal_active(scope: Scope):
    return and_(LegalMatter.opened_on <= scope.end,
                or_(LegalMatter.status.in_(("open", "awaiting_hearing")),
                    _day(LegalMatter.updated_at) >= scope.start))


def _legal(scope: Scope, counted) -> Table:
    kinds, outcomes = MATTER_KINDS.values, OUTCOMES.values
    active = (LegalMatter.survivor_id.in_(counted), _legal_active(scope))
    survivor = func.count(func.distinct(LegalMatter.survivor_id))
    cells_found = {(k, o): (n, p) for k, o, n, p in db.session.execute(
        select(LegalMatter.kind, LegalMatter.outcome, func.count(), survivor)
        .where(*active).group_by(LegalMatter.kind, LegalMatter.outcome)).all()}
    by_kind = dict(db.session.execute(
        select(LegalMatter.kind, survivor).where(*active).group_by(LegalMatter.kind)).all())
    by_outcome = dict(db.session.execute(
        select(LegalMatter.outcome, survivor).where(*active)
        .group_by(LegalMatter.outcome)).all())
    everyone = db.session.scalar(select(survivor).where(*active)) or 0
    cells = [[Cell(*cells_found.get((k, o), (0, 0))) for o in outcomes] for k in kinds]
    return Table(LEGAL, tuple(MATTER_KINDS.label(k) for k in kinds),
                 tuple(OUTCOMES.label(o) for o in outcomes), cells,
                 row_total_contributors=tuple(by_kind.get(k, 0) for k in kinds),
                 column_total_contributors=tuple(by_outcome.get(o, 0) for o in outcomes),
                 grand_total_contributors=everyone)


def _referral_made(scope: Scope):
    made = _day(Referral.created_at)
    return and_(made >= scope.start, made <= scope.end, Referral.status != "draft")


def _referrals(scope: Scope, counted) -> Table:
    outcome = case(*((Referral.status.in_(statuses), literal(label))
                     for label, statuses in REFERRAL_OUTCOMES.items()), else_=literal("Waiting"))
    month = _month_key(Referral.created_at)
    where = (Referral.survivor_id.in_(counted), _referral_made(scope))
    survivor = func.count(func.distinct(Referral.survivor_id))
    service_label = {s: PARTNER_SERVICES.label(s) for s in PARTNER_SERVICES.values}
    figures = {}
    for key, service, result, n, people in db.session.execute(
            select(month, Referral.service, outcome, func.count(), survivor)
            .where(*where).group_by(month, Referral.service, outcome)).all():
        figures[(key, service_label.get(service, service), result)] = (n, people)
    distinct_cells = {(service_label.get(s, s), o): p for s, o, p in db.session.execute(
        select(Referral.service, outcome, survivor).where(*where)
        .group_by(Referral.service, outcome)).all()}
    by_service = {service_label.get(s, s): p for s, p in db.session.execute(
        select(Referral.service, survivor).where(*where).group_by(Referral.service)).all()}
    by_outcome = dict(db.session.execute(
        select(outcome, survivor).where(*where).group_by(outcome)).all())
    everyone = db.session.scalar(select(survivor).where(*where)) or 0
    rows = tuple(service_label.values())
    columns = tuple(REFERRAL_OUTCOMES)
    return _monthly_table(
        REFERRALS, scope, rows, columns, figures,
        lambda r, c: distinct_cells.get((r, c), 0),
        row_total_contributors=tuple(by_service.get(r, 0) for r in rows),
        column_total_contributors=tuple(by_outcome.get(c, 0) for c in columns),
        grand_total_contributors=everyone)
