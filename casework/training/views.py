"""Training pages: the programme list (admins add and edit programmes), a survivor's
enrolments, and one enrolment with its edit, complete and withdraw forms."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from .. import access
from ..access.policy import WRITE, permissions
from ..api.pagination import InvalidCursor
from ..survivors import service as survivors
from . import service
from .forms import CompleteForm, EnrolmentForm, ProgrammeForm, WithdrawForm
from .labels import LABELS
from .models import ENROLMENT_STATUSES, Enrolment

bp = Blueprint("training", __name__)
PAGE_SIZE = 50
# In the page's URL rather than listed.
NOT_LISTED = ("id", "survivor_id")
NEW_ENROLMENT_FIELDS = {"programme_id", "enrolled_on", "attendance_rate"}


def _apply_errors(form, exc: survivors.ValidationFailed, aliases: dict | None = None) -> None:
    aliases = aliases or {}
    for name, messages in exc.errors.items():
        name = aliases.get(name, name)
        if name in form:
            form[name].errors = list(form[name].errors) + messages
        else:
            form.form_errors.extend(messages)


def _service_links(survivor):
    from ..survivors.views import service_links

    return service_links(survivor)


# --- programmes ----------------------------------------------------------------------------------


@bp.route("/training/")
def programmes():
    try:
        rows, next_cursor = service.programmes_page(current_user, PAGE_SIZE,
                                                    request.args.get("cursor") or None)
    except InvalidCursor:
        abort(400, _("That page link is not valid; start from the first page."))
    taken = service.places_taken(p.id for p in rows)
    return render_template("training/programmes.html", rows=rows, taken=taken,
                           next_cursor=next_cursor,
                           can_write=service.may_write_programmes(current_user),
                           today=date.today())


def _programme_form(programme=None) -> ProgrammeForm:
    form = ProgrammeForm(obj=programme if request.method == "GET" else None)
    form.provider_partner_id.choices = [(str(p.id), p.name) for p in service.provider_choices()]
    if programme is not None and request.method == "GET":
        form.provider_partner_id.data = str(programme.provider_partner_id)
    return form


@bp.route("/training/new", methods=["GET", "POST"])
def new_programme():
    service.require_role(current_user, service.PROGRAMME_WRITERS, "training_programme.create")
    form = _programme_form()
    status = 200
    if form.validate_on_submit():
        try:
            programme = service.create_programme(current_user, form.changes())
        except survivors.ValidationFailed as exc:
            _apply_errors(form, exc)
        else:
            flash(_("Added the programme “%(name)s”.", name=programme.name), "success")
            return redirect(url_for(".programmes"))
    if form.errors:
        status = 422
    return render_template("training/programme_form.html", form=form, programme=None), status


@bp.route("/training/<uuid:programme_id>/edit", methods=["GET", "POST"])
def edit_programme(programme_id):
    programme = service.get_programme(current_user, programme_id)
    service.require_role(current_user, service.PROGRAMME_WRITERS, "training_programme.update")
    form = _programme_form(programme)
    status = 200
    if form.validate_on_submit():
        try:
            changed = service.update_programme(current_user, programme, form.changes())
        except survivors.ValidationFailed as exc:
            _apply_errors(form, exc)
        except survivors.Conflict as exc:
            form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Saved “%(name)s”.", name=programme.name) if changed
                  else _("Nothing was changed."), "success" if changed else "info")
            return redirect(url_for(".programmes"))
    if form.errors and status == 200:
        status = 422
    return render_template("training/programme_form.html", form=form,
                           programme=programme), status


# --- a survivor's enrolments ---------------------------------------------------------------------


def display_value(name: str, value, enrolment: Enrolment | None = None) -> str:
    """How an enrolment field's (already presented) value reads on a page."""
    if value is None:
        return "—"
    if name == "programme_id" and enrolment is not None:
        return enrolment.programme.name
    if name == "status":
        return _(ENROLMENT_STATUSES.label(value))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if name == "attendance_rate":
        return f"{value} %"
    if isinstance(value, date):
        return format_date(value, "medium")
    if hasattr(value, "tzinfo"):
        from flask_babel import format_datetime

        return format_datetime(value, "medium")
    return str(value)


def _display(shown: dict, enrolment: Enrolment) -> list[tuple[str, str, str]]:
    """(name, label, value) of each presented field worth listing."""
    return [(name, str(LABELS.get(name, name)), display_value(name, value, enrolment))
            for name, value in shown.items() if name not in NOT_LISTED]


def _enrol_form(survivor, writable: set[str], open_programmes) -> EnrolmentForm:
    form = EnrolmentForm(keep=writable & NEW_ENROLMENT_FIELDS)
    if "programme_id" in form:
        form.programme_id.choices = [("", "—")] + [
            (str(p.id), _("%(name)s (%(start)s to %(end)s; %(left)d of %(capacity)d places "
                          "left)", name=p.name, start=format_date(p.starts_on),
                          end=format_date(p.ends_on), left=max(left, 0),
                          capacity=p.capacity))
            for p, left in open_programmes]
    if request.method == "GET" and "enrolled_on" in form:
        form.enrolled_on.data = date.today()
    return form


@bp.route("/survivors/<uuid:survivor_id>/training", methods=["GET", "POST"])
def survivor_enrolments(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    writable = access.writable_fields(current_user, Enrolment, survivor=survivor)
    can_enrol = "programme_id" in writable
    if request.method == "POST" and not can_enrol:
        access.check_write(current_user, Enrolment, ["programme_id"], survivor=survivor)
    open_programmes = service.programmes_open_to(survivor) if can_enrol else []
    form = _enrol_form(survivor, writable, open_programmes) if can_enrol else None
    status = 200
    if form is not None and form.validate_on_submit():
        try:
            enrolment = service.enrol(current_user, survivor, form.changes())
        except survivors.ValidationFailed as exc:
            _apply_errors(form, exc)
        except survivors.Conflict as exc:
            form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Enrolled %(case)s in “%(name)s”.", case=survivor.case_number,
                    name=enrolment.programme.name), "success")
            return redirect(url_for(".survivor_enrolments", survivor_id=survivor.id))
    if form is not None and form.errors and status == 200:
        status = 422
    enrolments = [
        {"enrolment": e, "shown": shown, "fields": _display(shown, e),
         "status": shown.get("status"), "next_check": service.next_check(e)
         if "completed_on" in shown else None}
        for e, shown in service.enrolments_for(current_user, survivor)
    ]
    return render_template(
        "training/survivor.html", survivor=survivor, enrolments=enrolments, form=form,
        service_links=_service_links(survivor), today=date.today(),
    ), status


# --- one enrolment -------------------------------------------------------------------------------


def _edit_fields(enrolment: Enrolment) -> set[str]:
    """The fields that make sense to edit in the enrolment's state."""
    names = {"enrolled_on", "attendance_rate"}
    if enrolment.status == "completed":
        names |= {"certified", "employed_at_3_months", "employed_at_6_months"}
    return names


def _may_write_tier(user, enrolment: Enrolment, tier: str) -> bool:
    relationship = access.relationship(user, enrolment.survivor)
    return WRITE in permissions(user.role, relationship, tier)


class _Values:
    """The enrolment's values in the shapes the form fields take."""

    def __init__(self, enrolment: Enrolment):
        self._enrolment = enrolment

    def __getattr__(self, name):
        value = getattr(self._enrolment, name)
        if name.startswith("employed_at_"):
            return {True: "yes", False: "no"}.get(value, "")
        return value


def _enrolment_page(enrolment: Enrolment, *, edit=None, complete=None, withdraw=None,
                    status: int = 200):
    survivor = enrolment.survivor
    writable = access.writable_fields(current_user, enrolment)
    keep = writable & _edit_fields(enrolment)
    if edit is None and keep:
        edit = EnrolmentForm(obj=_Values(enrolment), keep=keep, id_prefix="edit")
    may_status = _may_write_tier(current_user, enrolment, "operational")
    ongoing = enrolment.status == "enrolled"
    if complete is None and may_status and ongoing:
        complete = CompleteForm(keep={"on"} | ({"certified"} & writable), id_prefix="complete")
        complete.on.data = min(date.today(), enrolment.programme.ends_on)
    if withdraw is None and may_status and ongoing:
        withdraw = WithdrawForm(keep={"on"} | ({"reason"} if _may_write_tier(
            current_user, enrolment, "sensitive") else set()), id_prefix="withdraw")
        withdraw.on.data = date.today()
    shown = service.view_enrolment(current_user, enrolment)
    return render_template(
        "training/enrolment.html", enrolment=enrolment, survivor=survivor, shown=shown,
        fields=_display(shown, enrolment), edit=edit, complete=complete, withdraw=withdraw,
        next_check=service.next_check(enrolment) if "completed_on" in shown else None,
        service_links=_service_links(survivor), today=date.today(),
    ), status


@bp.route("/enrolments/<uuid:enrolment_id>", methods=["GET", "POST"])
def enrolment(enrolment_id):
    enrolment = service.get_enrolment_for(current_user, enrolment_id)
    if request.method == "GET":
        return _enrolment_page(enrolment)
    writable = access.writable_fields(current_user, enrolment)
    keep = writable & _edit_fields(enrolment)
    if not keep:
        access.check_write(current_user, enrolment, ["attendance_rate"])
    form = EnrolmentForm(keep=keep, id_prefix="edit")
    status = 422
    if form.validate_on_submit():
        try:
            changed = service.update_enrolment(current_user, enrolment, form.changes())
        except survivors.ValidationFailed as exc:
            _apply_errors(form, exc)
        except survivors.Conflict as exc:
            form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Saved.") if changed else _("Nothing was changed."),
                  "success" if changed else "info")
            return redirect(url_for(".enrolment", enrolment_id=enrolment.id))
    return _enrolment_page(enrolment, edit=form, status=status)


@bp.route("/enrolments/<uuid:enrolment_id>/complete", methods=["POST"])
def complete_enrolment(enrolment_id):
    enrolment = service.get_enrolment_for(current_user, enrolment_id)
    service.require_tier_write(current_user, enrolment, ["status"])
    form = CompleteForm(keep={"on"} | ({"certified"} & access.writable_fields(current_user,
                                                                             enrolment)),
                        id_prefix="complete")
    status = 422
    if form.validate_on_submit():
        try:
            service.complete(current_user, enrolment, form.on.data,
                             form.certified.data if "certified" in form else False)
        except survivors.ValidationFailed as exc:
            _apply_errors(form, exc)
        except survivors.Conflict as exc:
            form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Marked completed."), "success")
            return redirect(url_for(".enrolment", enrolment_id=enrolment.id))
    return _enrolment_page(enrolment, complete=form, status=status)


@bp.route("/enrolments/<uuid:enrolment_id>/withdraw", methods=["POST"])
def withdraw_enrolment(enrolment_id):
    enrolment = service.get_enrolment_for(current_user, enrolment_id)
    service.require_tier_write(current_user, enrolment, ["status"])
    sensitive = _may_write_tier(current_user, enrolment, "sensitive")
    form = WithdrawForm(keep={"on"} | ({"reason"} if sensitive else set()),
                        id_prefix="withdraw")
    status = 422
    if form.validate_on_submit():
        try:
            service.withdraw(current_user, enrolment, form.on.data,
                             form.reason.data if "reason" in form else None)
        except survivors.ValidationFailed as exc:
            _apply_errors(form, exc)
        except survivors.Conflict as exc:
            form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Marked withdrawn."), "success")
            return redirect(url_for(".enrolment", enrolment_id=enrolment.id))
    return _enrolment_page(enrolment, withdraw=form, status=status)
