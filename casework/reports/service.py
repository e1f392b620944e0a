"""Donor impact reports: draft (computed and protected once), publish (frozen), read.

A supervisor drafts a report for a programme (or the whole organisation) and a period of
whole months; the draft holds the protected tables exactly as donors would see them, and the
private disclosure record with the true figures. Publishing checks the draft against every
report already published (differencing of overlapping periods) and refuses, with the
explanations, when together they would reveal a suppressed figure.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from werkzeug.exceptions import NotFound

from .. import access, audit
from ..extensions import db
from ..programmes.models import Programme, programme_donors
from . import disclosure
from .builder import N_, Scope, build, next_month
from .explain import WHOLE_ORGANISATION, explain
from .models import Report

# The longest period one report may cover (its tables grow with the months).
MAX_MONTHS = 36


class ValidationFailed(Exception):
    def __init__(self, errors: dict[str, list]):
        super().__init__(errors)
        self.errors = errors


class NotPublishable(Exception):
    """Publishing would reveal a suppressed figure; ``explanations`` says where and how."""

    def __init__(self, explanations: list[str]):
        super().__init__("; ".join(explanations))
        self.explanations = explanations


def threshold() -> int:
    """k from the setting ``REPORT_THRESHOLD`` (default 11, never below 5)."""
    return disclosure.threshold(current_app.config.get("REPORT_THRESHOLD"))


# --- reading -----------------------------------------------------------------------------------


def list_for(user) -> list[Report]:
    """Supervisors: every report, drafts included. Donors: the published reports of the
    programmes they fund. Newest period first."""
    access.require(user, "reports.read")
    query = select(Report).order_by(Report.period_end.desc(), Report.created_at.desc())
    if user.role == "donor":
        query = query.where(
            Report.status == "published",
            exists().where(programme_donors.c.programme_id == Report.programme_id,
                           programme_donors.c.user_id == user.id))
    return list(db.session.scalars(query))


def get_for(user, report_id) -> Report:
    """The report, if ``user`` may read it; 404 otherwise (its existence is not revealed)."""
    if isinstance(report_id, str):
        try:
            report_id = uuid.UUID(report_id)
        except ValueError:
            raise NotFound() from None
    report = db.session.get(Report, report_id)
    if report is None or not access.allowed(user, "reports.read", report):
        raise NotFound()
    return report


def public_view(report: Report) -> dict:
    """The report as the API and donors receive it (API.md: Reports)."""
    return {
        "id": report.id,
        "programme_id": report.programme_id,
        "programme": report.programme.name if report.programme else None,
        "period_start": report.period_start,
        "period_end": report.period_end,
        "threshold": report.threshold,
        "status": report.status,
        "published_at": report.published_at,
        "tables": report.tables,
    }


# --- drafting ------------------------------------------------------------------------------------


def _period(period_start, period_end) -> disclosure.Period:
    errors: dict[str, list] = {}
    if not isinstance(period_start, date):
        errors["period_start"] = [_l("Give the first day of the first month (YYYY-MM-01).")]
    elif period_start.day != 1:
        errors["period_start"] = [_l("A report covers whole months: start on the first day "
                                     "of a month.")]
    if not isinstance(period_end, date):
        errors["period_end"] = [_l("Give the last day of the last month.")]
    elif (period_end + timedelta(days=1)).day != 1:
        errors["period_end"] = [_l("A report covers whole months: end on the last day of a "
                                   "month.")]
    if errors:
        raise ValidationFailed(errors)
    if period_end < period_start:
        raise ValidationFailed({"period_end": [_l("The period ends before it starts.")]})
    today = date.today()
    if period_end > next_month(today) - timedelta(days=1):
        raise ValidationFailed({"period_end": [_l("The period may not end after this month.")]})
    period = disclosure.Period(period_start, period_end)
    first, last = period.span
    if last - first + 1 > MAX_MONTHS:
        raise ValidationFailed({"period_end": [
            _l("A report covers at most %(n)d months.", n=MAX_MONTHS)]})
    return period


def _programme(programme_id) -> Programme | None:
    if programme_id is None:
        return None
    if isinstance(programme_id, str):
        try:
            programme_id = uuid.UUID(programme_id)
        except ValueError:
            raise ValidationFailed({"programme_id": [_l("Choose a programme.")]}) from None
    programme = db.session.get(Programme, programme_id)
    if programme is None:
        raise ValidationFailed({"programme_id": [_l("There is no such programme.")]})
    return programme


def _published(exclude: uuid.UUID | None = None) -> list[disclosure.ProtectedReport]:
    query = select(Report).where(Report.status == "published")
    if exclude is not None:
        query = query.where(Report.id != exclude)
    return [disclosure.ProtectedReport.from_record(r.record) for r in db.session.scalars(query)]


def _scope_name(programme: Programme | None) -> str:
    return f"programme:{programme.id}" if programme is not None else "organisation"


def create_draft(user, programme_id, period_start, period_end) -> Report:
    """Count, protect and store a draft; the supervisor previews it, then publishes."""
    access.require(user, "reports.write")
    programme = _programme(programme_id)
    period = _period(period_start, period_end)
    k = threshold()
    scope = Scope(programme.id if programme else None, period)
    built = build(scope)
    report_id = uuid.uuid4()
    published = _published()
    try:
        protected = disclosure.protect(
            built.tables, built.links, k, period=period, report_id=str(report_id),
            title=programme.name if programme else WHOLE_ORGANISATION,
            scope=_scope_name(programme), published=published)
    except disclosure.ProtectionError as exc:
        raise NotPublishable([explain(e) for e in exc.exposures]) from None
    report = Report(
        id=report_id, programme_id=programme.id if programme else None,
        period_start=period_start, period_end=period_end, threshold=k, status="draft",
        tables=_with_rates(protected.to_json()["tables"], protected.marker),
        record=protected.to_record(), excluded_survivors=built.excluded_survivors,
        created_by=user.id)
    db.session.add(report)
    db.session.flush()
    audit.record(user, "report.drafted", subject_type="report", subject_id=report.id)
    return report


def _with_rates(tables: list[dict], marker: str) -> list[dict]:
    """Add the counselling attendance rate where both of its published counts are known
    (a rate of suppressed counts would reveal them)."""
    from .builder import COUNSELLING

    for table in tables:
        if table["name"] != COUNSELLING:
            continue
        rows = {row["label"]: row["values"].get("Sessions") for row in table["rows"]}
        held, attended = rows.get("Sessions held"), rows.get("Sessions attended")
        if isinstance(held, int) and isinstance(attended, int) and held > 0:
            rate = round(100 * attended / held)
        else:
            rate = marker if held != 0 else 0
        table["rows"].append({"label": N_("Attendance rate (%)"), "values": {"Sessions": rate}})

    return tables


def publish(user, report: Report) -> Report:
    """Freeze the draft as published, unless it combines with a published report to reveal
    a suppressed figure."""
    access.require(user, "reports.write")
    if report.is_published:
        from ..survivors.service import Conflict

        raise Conflict(_l("This report is already published."))
    draft = disclosure.ProtectedReport.from_record(report.record)
    explanations = disclosure.check_publishable(draft, _published(exclude=report.id),
                                                explain=explain)
    if explanations:
        audit.record_denial(user, "report.publish_refused", reason=f"report {report.id}")
        raise NotPublishable(explanations)
    report.status = "published"
    report.published_by = user.id
    report.published_at = datetime.now(UTC)
    audit.record(user, "report.published", subject_type="report", subject_id=report.id)
    return report


def delete_draft(user, report: Report) -> None:
    access.require(user, "reports.write")
    if report.is_published:
        from ..survivors.service import Conflict

        raise Conflict(_l("A published report is frozen; it cannot be deleted."))
    audit.record(user, "report.draft_deleted", subject_type="report", subject_id=report.id)
    db.session.delete(report)
