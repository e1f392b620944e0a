"""Donor impact reports as pages: donors read the published reports of the programmes they
fund (page, PDF, CSV); supervisors draft, preview and publish them.

Which reports a user may see is decided by the service (``list_for``, ``get_for``); these
views only parse, call it and render. Pages show ``Report.tables`` (the protected figures)
and never ``Report.record``.
"""

from __future__ import annotations

import calendar
from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields import MonthField
from wtforms.validators import InputRequired

from .. import access, audit
from . import render, service

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.app_template_filter("report_number")
def _report_number(value) -> str:
    return format_decimal(value)


@bp.app_template_filter("report_label")
def _report_label(key: str) -> str:
    """A table name or label of the builder (an English key) in the user's language."""
    return render.label(key)



def _user():
    return current_user._get_current_object()


@bp.route("")
def index():
    user = _user()
    reports = service.list_for(user)
    return render_template("reports/index.html", reports=reports,
                           programme_label=render.programme_label, period=_period,
                           may_write=access.allowed(user, "reports.write"),
                           threshold=service.threshold())


def _period(report) -> str:
    return render.period_label(report, str(get_locale() or "en"))


class PublishForm(FlaskForm):
    pass


def _show(report, *, explanations=None, status=200):
    user = _user()
    return render_template(
        "reports/view.html", report=report, tables=render.grids(report),
        charts=dict(render.charts(report)), period=_period(report),
        programme=render.programme_label(report), is_suppressed=render.is_suppressed,
        may_write=access.allowed(user, "reports.write"), form=PublishForm(),
        explanations=explanations or []), status


@bp.route("/<uuid:report_id>")
def view(report_id):
    user = _user()
    report = service.get_for(user, report_id)
    audit.record(user, "report.viewed", subject_type="report", subject_id=report.id)
    return _show(report)


def _download_name(report, extension: str) -> str:
    return (f"impact-report-{report.period_start:%Y-%m}-to-{report.period_end:%Y-%m}"
            f".{extension}")


def _download(report, body, mimetype: str, extension: str) -> Response:
    audit.record(_user(), "report.downloaded", subject=None, subject_type="report",
                 subject_id=report.id)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{_download_name(report, extension)}"')
    return response


@bp.route("/<uuid:report_id>.pdf")
def pdf(report_id):
    report = service.get_for(_user(), report_id)
    return _download(report, render.report_pdf(report, str(get_locale() or "en")),
                     "application/pdf", "pdf")


@bp.route("/<uuid:report_id>.csv")
def csv(report_id):
    report = service.get_for(_user(), report_id)
    return _download(report, render.report_csv(report), "text/csv", "csv")


# --- supervisors: draft, preview, publish --------------------------------------------------------


WHOLE_ORGANISATION = ""


class NewReportForm(FlaskForm):
    programme = SelectField(_l("Programme"), choices=[], validate_choice=True)
    first_month = MonthField(_l("First month"), validators=[InputRequired()],
                             description=_l("The report starts on the first day of this "
                                            "month."))
    last_month = MonthField(_l("Last month"), validators=[InputRequired()],
                            description=_l("The report ends on the last day of this month "
                                           "(this month at the latest)."))

    def __init__(self, programmes, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.programme.choices = [(WHOLE_ORGANISATION, _("Whole organisation"))] + [
            (str(p.id), p.name) for p in programmes]

    def period(self) -> tuple[date, date]:
        first, last = self.first_month.data, self.last_month.data
        end = date(last.year, last.month, calendar.monthrange(last.year, last.month)[1])
        return date(first.year, first.month, 1), end


# Service error keys → the form's fields.
_FIELDS = {"programme_id": "programme", "period_start": "first_month",
           "period_end": "last_month"}


@bp.route("/new", methods=["GET", "POST"])
def new():
    from ..programmes import service as programmes

    user = _user()
    access.require(user, "reports.write")
    form = NewReportForm(programmes.list_all(user))
    explanations: list[str] = []
    if form.validate_on_submit():
        start, end = form.period()
        try:
            report = service.create_draft(user, form.programme.data or None, start, end)
        except service.ValidationFailed as exc:
            for name, messages in exc.errors.items():
                field = form[_FIELDS[name]] if _FIELDS.get(name) in form else None
                (field.errors.extend if field is not None else form.form_errors.extend)(
                    [str(m) for m in messages])
        except service.NotPublishable as exc:
            explanations = exc.explanations
        else:
            flash(_("Draft ready. Check it, then publish it to the programme's donors."),
                  "success")
            return redirect(url_for(".view", report_id=report.id))
    failed = form.errors or explanations
    return render_template("reports/new.html", form=form, explanations=explanations), (
        (409 if explanations else 422) if failed else 200)


@bp.route("/<uuid:report_id>/publish", methods=["POST"])
def publish(report_id):
    from ..survivors.service import Conflict

    user = _user()
    report = service.get_for(user, report_id)
    access.require(user, "reports.write")
    form = PublishForm()
    if not form.validate_on_submit():
        return redirect(url_for(".view", report_id=report.id))
    try:
        service.publish(user, report)
    except service.NotPublishable as exc:
        return _show(report, explanations=exc.explanations, status=409)
    except Conflict as exc:
        flash(str(exc), "warning")
    else:
        flash(_("Published. The programme's donors can now read this report."), "success")
    return redirect(url_for(".view", report_id=report.id))


@bp.route("/<uuid:report_id>/delete", methods=["POST"])
def delete(report_id):
    from ..survivors.service import Conflict

    user = _user()
    report = service.get_for(user, report_id)
    access.require(user, "reports.write")
    if not PublishForm().validate_on_submit():
        return redirect(url_for(".view", report_id=report.id))
    try:
        service.delete_draft(user, report)
    except Conflict as exc:
        flash(str(exc), "warning")
        return redirect(url_for(".view", report_id=report.id))
    flash(_("Draft deleted."), "success")
    return redirect(url_for(".index"))


@bp.route("/htcds-export.csv")
def htcds_export():
    """Supervisors: the team's de-identified HTCDS export (k-anonymous rows; audited)."""
    from .export import htcds_export as export

    result = export(_user())
    response = Response(result.csv, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="htcds-export.csv"'
    return response
