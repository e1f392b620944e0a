"""Legal-aid pages: a survivor's legal matters with their hearings."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import access
from ..api.pagination import InvalidCursor
from ..survivors import service as survivors
from ..survivors.views import service_links
from . import service
from .forms import HearingForm, MatterForm
from .labels import HEARING_LABELS, MATTER_LABELS
from .models import LegalHearing, LegalMatter

bp = Blueprint("legal", __name__)
PAGE_SIZE = 50


def _apply_errors(form, exc: service.ValidationFailed) -> None:
    for name, messages in exc.errors.items():
        if name in form:
            form[name].errors = list(form[name].errors) + messages
        else:
            form.form_errors.extend(messages)


def _partner_choices(keep=None) -> list[tuple[str, str]]:
    partners = service.legal_aid_partners()
    if keep is not None and keep not in partners:
        partners.append(keep)
    return [(str(p.id), p.name) for p in partners]


def _to_matters(survivor_id, anchor: str | None = None):
    return redirect(url_for(".survivor_matters", survivor_id=survivor_id, _anchor=anchor))


@bp.route("/survivors/<uuid:survivor_id>/legal")
def survivor_matters(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    try:
        matters, next_cursor = service.matters_page(
            current_user, survivor, PAGE_SIZE, request.args.get("cursor") or None)
    except InvalidCursor:
        abort(400, _("That page link is not valid; start from the first page."))
    shown_matters = service.present_matters(current_user, survivor, matters)
    hearings = [h for m in matters for h in m.hearings]
    shown_hearings = dict(zip([h.id for h in hearings],
                              service.present_hearings(current_user, survivor, hearings),
                              strict=True))
    partner_names = {m.partner_id: m.partner.name for m in matters if m.partner is not None}
    rows = [
        (matter, shown, [(h, shown_hearings[h.id]) for h in matter.hearings],
         bool(access.writable_fields(current_user, matter)) and not matter.is_closed,
         service.may_add_hearing(current_user, matter))
        for matter, shown in zip(matters, shown_matters, strict=True)
    ]
    return render_template(
        "legal/survivor.html",
        survivor=survivor,
        service_links=service_links(survivor),
        rows=rows,
        partner_names=partner_names,
        next_cursor=next_cursor,
        can_open=service.may_open(current_user, survivor),
        labels=MATTER_LABELS,
        hearing_labels=HEARING_LABELS,
        today=date.today(),
    )


@bp.route("/survivors/<uuid:survivor_id>/legal/new", methods=["GET", "POST"])
def new_matter(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    if not service.may_open(current_user, survivor):
        if survivor.is_closed:
            flash(_("This case is closed: no new legal matter can be opened."), "warning")
            return _to_matters(survivor.id)
        abort(403)
    writable = access.writable_fields(current_user, LegalMatter, survivor=survivor)
    form = MatterForm(writable=writable, partners=_partner_choices())
    if request.method == "GET":
        if "opened_on" in form:
            form.opened_on.data = date.today()
        if "status" in form:
            form.status.data = "open"
        if "outcome" in form:
            form.outcome.data = "pending"
    if form.validate_on_submit():
        try:
            matter = service.open_matter(current_user, survivor, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Opened the legal matter."), "success")
            return _to_matters(survivor.id, f"matter-{matter.id}")
    status = 422 if form.errors or form.form_errors else 200
    return render_template("legal/matter_form.html", form=form, survivor=survivor, matter=None,
                           shown=None, service_links=service_links(survivor)), status


@bp.route("/legal/matters/<uuid:matter_id>/edit", methods=["GET", "POST"])
def edit_matter(matter_id):
    matter = service.get_matter(current_user, matter_id)
    survivor = matter.survivor
    writable = access.writable_fields(current_user, matter)
    if not writable:
        abort(403)
    if matter.is_closed:
        flash(_("This legal matter is closed and can no longer change."), "warning")
        return _to_matters(survivor.id, f"matter-{matter.id}")
    form = MatterForm(obj=None if request.method == "POST" else _FormData(matter),
                      writable=writable, partners=_partner_choices(matter.partner))
    if form.validate_on_submit():
        try:
            changed = service.update_matter(current_user, matter, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Saved the legal matter.") if changed else _("Nothing was changed."),
                  "success" if changed else "info")
            return _to_matters(survivor.id, f"matter-{matter.id}")
    shown = service.view_matter(current_user, matter)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("legal/matter_form.html", form=form, survivor=survivor, matter=matter,
                           shown=shown, labels=MATTER_LABELS,
                           service_links=service_links(survivor)), status


@bp.route("/legal/matters/<uuid:matter_id>/hearings/new", methods=["GET", "POST"])
def new_hearing(matter_id):
    matter = service.get_matter(current_user, matter_id)
    survivor = matter.survivor
    if not service.may_add_hearing(current_user, matter):
        if matter.is_closed:
            flash(_("This legal matter is closed: no hearing can be added."), "warning")
            return _to_matters(survivor.id, f"matter-{matter.id}")
        abort(403)
    writable = access.writable_fields(current_user, LegalHearing, survivor=survivor)
    form = HearingForm(writable=writable)
    if form.validate_on_submit():
        try:
            hearing = service.add_hearing(current_user, matter, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Added the hearing."), "success")
            return _to_matters(survivor.id, f"hearing-{hearing.id}")
    status = 422 if form.errors or form.form_errors else 200
    return render_template("legal/hearing_form.html", form=form, survivor=survivor,
                           matter=matter, service_links=service_links(survivor)), status


class _FormData:
    """The matter's values in the shapes the form fields take."""

    def __init__(self, matter: LegalMatter):
        self._matter = matter

    def __getattr__(self, name):
        value = getattr(self._matter, name)
        if name == "partner_id":
            return str(value) if value else ""
        return value
