"""Survivor pages: caseload, register, view, edit, close, break-glass."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from .. import access, vocab
from ..access.fields import field_specs
from ..api.pagination import InvalidCursor
from ..auth.models import User
from ..extensions import db
from ..i18n import current_locale_name
from ..programmes.models import Programme
from . import service
from .forms import BreakGlassForm, CloseForm, SurvivorForm
from .labels import FIELD_LABELS, TIER_LABELS
from .models import CLOSED_STATUSES, Survivor

bp = Blueprint("survivors", __name__, url_prefix="/survivors")
PAGE_SIZE = 50


def _staff_choices(user, survivor: Survivor | None) -> dict:
    """Who may be lead or collaborator (active staff of the user's team), the statuses, and
    the funded programmes to choose from."""
    query = select(User).where(User.active.is_(True)).order_by(User.display_name)
    if user.team_id is not None:
        query = query.where(User.team_id == user.team_id)
    else:
        query = query.where(User.id == user.id)
    staff = list(db.session.scalars(query))
    if survivor is not None:  # keep current assignees selectable even if from elsewhere
        known = {u.id for u in staff}
        staff += [u for u in [survivor.lead_caseworker, *survivor.collaborators]
                  if u is not None and u.id not in known]
    programmes = list(db.session.scalars(select(Programme).order_by(Programme.name)))
    statuses = [(v, label) for v, label in vocab.htcds(vocab.CASE_STATUS).choices()
                if v not in CLOSED_STATUSES or (survivor is not None and survivor.status == v)]
    return {
        "status": statuses,
        "leads": [(str(u.id), u.display_name) for u in staff if u.role == "caseworker"],
        "collaborators": [(str(u.id), f"{u.display_name} ({u.role})") for u in staff
                          if u.role in ("caseworker", "counsellor")],
        "programmes": [(str(p.id), p.name) for p in programmes],
    }


def _apply_errors(form, exc: service.ValidationFailed) -> None:
    for name, messages in exc.errors.items():
        if name in form:
            form[name].errors = list(form[name].errors) + messages
        else:
            form.form_errors.extend(messages)


def _caseload_filters() -> service.CaseloadFilters:
    """The caseload's filters from the query string (the page and its CSV export)."""
    return service.CaseloadFilters(
        status=request.args.get("status") or None,
        risk_level=request.args.get("risk_level") or None,
        case_number=(request.args.get("q") or "").strip()[:16] or None,
    )


@bp.route("/")
def caseload():
    filters = _caseload_filters()
    readable = service.fields_readable_in_caseload(current_user)
    try:
        rows, next_cursor = service.caseload_page(
            current_user, filters, PAGE_SIZE, request.args.get("cursor") or None,
            columns=service.PAGE_COLUMNS,
        )
    except InvalidCursor:
        abort(400, _("That page link is not valid; start from the first page."))
    return render_template(
        "survivors/caseload.html",
        rows=rows,
        filters=filters,
        readable=readable,
        next_cursor=next_cursor,
        statuses=vocab.htcds(vocab.CASE_STATUS).choices(),
        risk_levels=vocab.RISK_LEVELS.choices(),
        labels=FIELD_LABELS,
    )


@bp.route("/export.csv")
def export_csv():
    """The caseload with the page's filters as a CSV file: every survivor the user sees,
    exactly the fields they may read of each."""
    from flask import Response

    filters = _caseload_filters()
    body = service.export_caseload(current_user, filters)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=caseload.csv"})


@bp.route("/new", methods=["GET", "POST"])
def new():
    access.require(current_user, "survivor.create")
    if request.method == "GET" and request.args.get("step") != "form":
        return _duplicate_check_page({}, None)
    # From the duplicate check: the full form, filled with what was typed there, not saved.
    prefill = request.method == "POST" and request.form.get("step") == "prefill"
    writable = access.writable_fields(current_user, Survivor)
    form = SurvivorForm(writable=writable, staff_choices=_staff_choices(current_user, None))
    if request.method == "GET":
        if "lead_caseworker_id" in form:
            form.lead_caseworker_id.data = str(current_user.id)
        if "status" in form:
            form.status.data = "Active"
    if prefill:
        return render_template("survivors/form.html", form=form, survivor=None,
                               groups=_form_groups(form))
    if form.validate_on_submit():
        try:
            survivor = service.create(current_user, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        else:
            flash(_("Registered %(case)s.", case=survivor.case_number), "success")
            return redirect(url_for(".view", survivor_id=survivor.id))
    status = 422 if form.errors else 200
    return render_template("survivors/form.html", form=form, survivor=None,
                           groups=_form_groups(form)), status


def _duplicate_check_page(typed: dict, result, status: int = 200, errors=None):
    """Step one of registering: names, birth date, phone; then the possible duplicates."""
    readable = access.writable_fields(current_user, Survivor)
    fields = [name for name in service.DUPLICATE_FIELDS if name in readable]
    matches = None
    if result is not None:
        in_scope, others = result
        matches = {"shown": [access.present(current_user, s) for s in in_scope],
                   "others": others}
    return render_template("survivors/duplicates.html", fields=fields, typed=typed,
                           labels=FIELD_LABELS, matches=matches, errors=errors or {}), status


@bp.route("/new/check", methods=["POST"])
def check_duplicates():
    access.require(current_user, "survivor.create")
    from flask_wtf.csrf import validate_csrf
    from wtforms import ValidationError

    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        abort(400)
    typed = {name: request.form.get(name, "").strip() for name in service.DUPLICATE_FIELDS}
    try:
        result = service.possible_duplicates(
            current_user, {k: v for k, v in typed.items() if v})
    except service.ValidationFailed as exc:
        return _duplicate_check_page(typed, None, 422, exc.errors)
    return _duplicate_check_page(typed, result)


@bp.route("/<uuid:survivor_id>")
def view(survivor_id):
    from ..supervision import approvals

    survivor = service.get_for(current_user, survivor_id)
    # (before record_view marks a returned request seen)
    pending, returned = approvals.closure_state(current_user, survivor)
    shown = service.record_view(current_user, survivor, unseen_returns=returned is not None)
    log = None
    if access.allowed(current_user, "survivor.access_log", survivor):
        log = service.access_log(current_user, survivor, limit=50)
    glass_open = access.break_glass_active(current_user, survivor)
    can_break_glass = (not glass_open
                       and access.allowed(current_user, "survivor.break_glass", survivor))
    return render_template(
        "survivors/view.html",
        survivor=survivor,
        groups=_display_groups(shown),
        can_edit=access.allowed(current_user, "survivor.update", survivor),
        can_close=access.allowed(current_user, "survivor.close", survivor)
        and not survivor.is_closed and pending is None,
        closure_pending=pending,
        closure_returned=returned,
        returned_comment=(returned.comment if returned is not None and "comment"
                          in access.readable_fields(current_user, returned) else None),
        can_break_glass=can_break_glass,
        glass_open=glass_open,
        break_glass_form=BreakGlassForm() if can_break_glass else None,
        access_log=log,
        service_links=service_links(survivor),
    )


@bp.route("/<uuid:survivor_id>/edit", methods=["GET", "POST"])
def edit(survivor_id):
    survivor = service.get_for(current_user, survivor_id, "survivor.update")
    writable = access.writable_fields(current_user, survivor)
    form = SurvivorForm(
        obj=None if request.method == "POST" else _FormData(survivor),
        writable=writable,
        staff_choices=_staff_choices(current_user, survivor),
    )
    if form.validate_on_submit():
        try:
            changed = service.update_record(current_user, survivor, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        else:
            if changed:
                flash(_("Saved your changes to %(case)s.", case=survivor.case_number), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for(".view", survivor_id=survivor.id))
    status = 422 if form.errors else 200
    return render_template("survivors/form.html", form=form, survivor=survivor,
                           groups=_form_groups(form)), status


@bp.route("/<uuid:survivor_id>/close", methods=["GET", "POST"])
def close(survivor_id):
    survivor = service.get_for(current_user, survivor_id, "survivor.close")
    if survivor.is_closed:
        flash(_("This case is already closed."), "info")
        return redirect(url_for(".view", survivor_id=survivor.id))
    form = CloseForm()
    if form.validate_on_submit():
        try:
            request_made = service.close(current_user, survivor, form.reason.data,
                                         form.status.data)
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        except service.Conflict as exc:
            flash(str(exc), "danger")
            return redirect(url_for(".view", survivor_id=survivor.id))
        else:
            if request_made is not None:
                flash(_("Your request to close %(case)s was sent to your supervisor for "
                        "approval. The case stays open until they approve it.",
                        case=survivor.case_number), "info")
            else:
                flash(_("Closed %(case)s.", case=survivor.case_number), "success")
            return redirect(url_for(".view", survivor_id=survivor.id))
    status = 422 if form.errors else 200
    return render_template("survivors/close.html", form=form, survivor=survivor), status


@bp.route("/<uuid:survivor_id>/break-glass", methods=["POST"])
def break_glass(survivor_id):
    survivor = service.get_for(current_user, survivor_id, "survivor.break_glass")
    form = BreakGlassForm()
    opened = False
    if form.validate_on_submit():
        try:
            service.break_glass(current_user, survivor, form.reason.data)
            opened = True
        except service.ValidationFailed:  # e.g. blank after trimming, control characters
            pass
    if opened:
        flash(_("Identifying details are open to you for 30 minutes. This is recorded."),
              "warning")
    else:
        flash(_("Say why you need the identifying details (at least 10 characters)."), "danger")
    return redirect(url_for(".view", survivor_id=survivor.id))


class _FormData:
    """The survivor's values in the shapes the form fields take."""

    def __init__(self, survivor: Survivor):
        self._survivor = survivor

    def __getattr__(self, name):
        value = getattr(self._survivor, name)
        if name == "lead_caseworker_id":
            return str(value)
        if name in ("collaborator_ids", "programme_ids"):
            return [str(v) for v in value]
        return value


def _form_groups(form) -> list[tuple[str, list]]:
    specs = field_specs(Survivor)
    groups = []
    for tier, label in TIER_LABELS.items():
        fields = [form[name] for name, spec in specs.items() if spec.tier == tier and name in form]
        if fields:
            groups.append((label, fields))
    return groups


def _display_groups(shown: dict) -> list[tuple[str, list[tuple[str, object, str]]]]:
    specs = field_specs(Survivor)
    texts = _texts_in(current_locale_name())
    groups = []
    for tier, label in texts.tiers.items():
        items = [(texts.fields.get(name, name), _display_value(name, value), name)
                 for name, value in shown.items() if specs[name].tier == tier and name != "id"]
        if items:
            groups.append((label, items))
    return groups


class _Texts(NamedTuple):
    fields: dict[str, str]
    tiers: dict[str, str]
    service_pages: tuple[tuple[str, str], ...]  # (endpoint, label) of SERVICE_PAGES


@lru_cache(maxsize=64)
def _texts_in(locale_name: str) -> _Texts:
    """The survivor pages' labels as text in the current locale, ``locale_name`` (a page
    shows fifty: each lazy label would look the catalog up again)."""
    return _Texts({name: str(label) for name, label in FIELD_LABELS.items()},
                  {tier: str(label) for tier, label in TIER_LABELS.items()},
                  tuple((endpoint, str(label)) for endpoint, label in SERVICE_PAGES))


def _display_value(name: str, value):
    from ..i18n import format_value

    return format_value(name, value)


@bp.route("/<uuid:survivor_id>/timeline")
def timeline(survivor_id):
    from .timeline import timeline as build_timeline

    survivor = service.get_for(current_user, survivor_id)
    events = build_timeline(current_user, survivor)
    return render_template("survivors/timeline.html", survivor=survivor, events=events,
                           service_links=service_links(survivor))


# The pages of each service for one survivor, shown as tabs where the package provides them.
SERVICE_PAGES = (
    ("survivors.view", _l("Record")),
    ("survivors.timeline", _l("Timeline")),
    ("shelters.survivor_placements", _l("Shelter")),
    ("counselling.survivor_sessions", _l("Counselling")),
    ("training.survivor_enrolments", _l("Training")),
    ("legal.survivor_matters", _l("Legal aid")),
    ("plans.survivor_plan", _l("Support plan")),
    ("consent.survivor_consents", _l("Consent")),
    ("referrals.survivor_referrals", _l("Referrals")),
)


def service_links(survivor: Survivor) -> list[tuple[str, str, bool]]:
    """(url, label, is_current) for each service page of ``survivor`` this app has."""
    pages, current = current_app.view_functions, request.endpoint
    return [
        (url_for(endpoint, survivor_id=survivor.id), label, current == endpoint)
        for endpoint, label in _texts_in(current_locale_name()).service_pages
        if endpoint in pages
    ]
