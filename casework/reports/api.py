"""/api/v1/reports: supervisors draft and publish donor impact reports; donors read the
published reports of the programmes they fund (API.md: Reports)."""

from __future__ import annotations

from datetime import date

from flask import Response
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from .. import audit
from ..api.errors import problem
from ..api.io import invalid, json_object, request_body
from ..api.pagination import PageArgs
from ..survivors.service import Conflict
from . import service

blp = Blueprint("reports_api", __name__, url_prefix="/api/v1",
                description="Donor impact reports: anonymised, suppressed counts only.")


class ReportRowSchema(Schema):
    label = fields.String()
    values = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": 'Column → a count, or the string "<k" when suppressed.'})


class ReportTableSchema(Schema):
    name = fields.String()
    rows = fields.List(fields.Nested(ReportRowSchema))


class ReportSchema(Schema):
    id = fields.UUID()
    programme_id = fields.UUID(allow_none=True)
    programme = fields.String(allow_none=True)
    period_start = fields.Date()
    period_end = fields.Date()
    threshold = fields.Integer(metadata={"description": "k: counts 1..k-1 are suppressed."})
    status = fields.String(metadata={"description": "draft or published"})
    published_at = fields.DateTime(allow_none=True)
    tables = fields.List(fields.Nested(ReportTableSchema))


class ReportListSchema(Schema):
    items = fields.List(fields.Nested(ReportSchema))
    next_cursor = fields.String(allow_none=True)


_DRAFT_BODY = request_body({"type": "object", "required": ["period_start", "period_end"],
                            "properties": {
                                "programme_id": {"type": ["string", "null"], "format": "uuid"},
                                "period_start": {"type": "string", "format": "date",
                                                 "description": "The first day of a month."},
                                "period_end": {"type": "string", "format": "date",
                                               "description": "The last day of a month."}},
                            "example": {"period_start": "2026-01-01",
                                        "period_end": "2026-06-30"}})


def _date(value, name: str, errors: dict):
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors[name] = ["Give a date as YYYY-MM-DD."]
    return None


def _not_publishable(exc: service.NotPublishable):
    return problem(409, "Publishing this report would let a reader work out a suppressed "
                   "figure.", extra={"explanations": exc.explanations})


@blp.route("/reports")
class Reports(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ReportListSchema)
    def get(self, args):
        """Supervisors: every report. Donors: the published reports of their programmes."""
        reports = service.list_for(current_user)[: args["limit"]]
        return {"items": [service.public_view(r) for r in reports], "next_cursor": None}

    @blp.doc(**_DRAFT_BODY)
    @blp.response(201, ReportSchema)
    @blp.alt_response(409, schema="Problem", description="The figures cannot be protected")
    @blp.alt_response(422, schema="Problem", description="Invalid period or programme")
    def post(self):
        """Supervisors: count and protect a draft for a programme (or, without
        `programme_id`, the whole organisation) over whole months."""
        from .. import access

        access.require(current_user, "reports.write")
        data = json_object()
        errors: dict = {}
        start = _date(data.get("period_start"), "period_start", errors)
        end = _date(data.get("period_end"), "period_end", errors)
        programme_id = data.get("programme_id")
        if programme_id is not None and not isinstance(programme_id, str):
            errors["programme_id"] = ["Give the programme's id."]
        if errors:
            return invalid(service.ValidationFailed(errors))
        try:
            report = service.create_draft(current_user, programme_id, start, end)
        except service.ValidationFailed as exc:
            return invalid(exc)
        except service.NotPublishable as exc:
            return _not_publishable(exc)
        return service.public_view(report)


@blp.route("/reports/<uuid:report_id>")
class ReportItem(MethodView):
    @blp.response(200, ReportSchema)
    @blp.alt_response(404, schema="Problem", description="No such report for the caller")
    def get(self, report_id):
        report = service.get_for(current_user, report_id)
        audit.record(current_user, "report.viewed", subject_type="report", subject_id=report.id)
        return service.public_view(report)

    @blp.response(204)
    @blp.alt_response(409, schema="Problem", description="A published report is frozen")
    def delete(self, report_id):
        """Supervisors: delete a draft."""
        report = service.get_for(current_user, report_id)
        try:
            service.delete_draft(current_user, report)
        except Conflict as exc:
            return problem(409, str(exc))
        return None


@blp.route("/reports/<uuid:report_id>/publish", methods=["POST"])
@blp.response(200, ReportSchema)
@blp.alt_response(409, schema="Problem",
                  description="Already published, or it would reveal a suppressed figure "
                              "together with a published report (see `explanations`)")
def publish(report_id):
    """Supervisors: freeze the draft and show it to the programme's donors."""
    report = service.get_for(current_user, report_id)
    try:
        service.publish(current_user, report)
    except service.NotPublishable as exc:
        return _not_publishable(exc)
    except Conflict as exc:
        return problem(409, str(exc))
    return service.public_view(report)


@blp.route("/reports/<uuid:report_id>.pdf", methods=["GET"])
@blp.response(200, content_type="application/pdf")
@blp.alt_response(404, schema="Problem", description="No such report for the caller")
def report_pdf(report_id):
    """The report as a PDF, with its charts, in the caller's language."""
    from flask_babel import get_locale

    from .render import report_pdf as render_pdf

    report = service.get_for(current_user, report_id)
    audit.record(current_user, "report.downloaded", subject_type="report",
                 subject_id=report.id)
    return Response(render_pdf(report, str(get_locale() or "en")),
                    mimetype="application/pdf")


@blp.route("/reports/<uuid:report_id>.csv", methods=["GET"])
@blp.response(200, content_type="text/csv")
@blp.alt_response(404, schema="Problem", description="No such report for the caller")
def report_csv(report_id):
    """The report's tables as CSV (suppressed cells as "<k")."""
    from .render import report_csv as render_csv

    report = service.get_for(current_user, report_id)
    audit.record(current_user, "report.downloaded", subject_type="report",
                 subject_id=report.id)
    return Response(render_csv(report), mimetype="text/csv")


@blp.route("/exports/htcds.csv", methods=["GET"])
@blp.response(200, content_type="text/csv")
@blp.alt_response(403, schema="Problem", description="Supervisors only")
def htcds_export():
    """Supervisors: the team's survivors as de-identified HTCDS rows for data
    collaboratives — ages as bands, dates as years, every row shared by at least k survivors
    (rows that cannot be are left out and counted in `X-Casework-Suppressed-Rows`). Audited."""
    from .export import htcds_export as export

    result = export(current_user)
    response = Response(result.csv, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="htcds-export.csv"'
    response.headers["X-Casework-Suppressed-Rows"] = str(result.suppressed)
    response.headers["X-Casework-K"] = str(result.k)
    return response
