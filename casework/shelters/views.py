"""Shelter pages: the list, each shelter's occupancy board, admin pages for shelters and
beds, and each survivor's placements with the admit / transfer / discharge forms."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import access
from ..extensions import db
from ..referrals.models import Partner
from ..survivors import service as survivors
from ..survivors.views import service_links
from . import service
from .forms import (
    AdmitForm,
    BedForm,
    DischargeForm,
    ExpectedDischargeForm,
    NewShelterForm,
    ShelterForm,
    TransferForm,
)
from .models import BED_RESTRICTIONS, Placement

bp = Blueprint("shelters", __name__)

# Placement fields shown on the survivor's placements page, in this order, where readable.
PAGE_FIELDS = ("shelter_id", "bed_id", "admitted_on", "expected_discharge_on", "discharged_on",
               "status", "ended_by", "discharge_reason")


def _restriction_choices() -> list[tuple[str, str]]:
    return [(value, _(label)) for value, label in BED_RESTRICTIONS.choices()]


def _apply_errors(form, errors: dict, names: dict | None = None) -> None:
    names = names or {}
    for name, messages in errors.items():
        target = names.get(name, name)
        if target in form:
            form[target].errors = list(form[target].errors) + messages
        else:
            form.form_errors.extend(messages)


# --- shelters ------------------------------------------------------------------------------------


@bp.route("/shelters/")
def index():
    rows = service.list_shelters(current_user)
    return render_template("shelters/list.html", rows=rows,
                           can_manage=service.can_manage_shelters(current_user))


@bp.route("/shelters/<uuid:shelter_id>")
def board(shelter_id):
    shelter = service.get_shelter(current_user, shelter_id)
    board = service.occupancy(current_user, shelter)
    return render_template("shelters/board.html", board=board, shelter=shelter,
                           can_manage=service.can_manage_shelters(current_user))


def _partner_choices() -> list[tuple[str, str]]:
    partners = db.session.scalars(select(Partner).order_by(Partner.name))
    return [("", _("Our organisation"))] + [(str(p.id), p.name) for p in partners]


@bp.route("/shelters/new", methods=["GET", "POST"])
def new_shelter():
    service.require_manager(current_user)
    form = NewShelterForm()
    form.partner_id.choices = _partner_choices()
    form.bed_restrictions.choices = _restriction_choices()
    status = 200
    if form.validate_on_submit():
        beds = [{"label": str(n), "restrictions": form.bed_restrictions.data or []}
                for n in range(1, (form.bed_count.data or 0) + 1)]
        try:
            shelter = service.create_shelter(current_user, {
                "name": form.name.data, "partner_id": form.partner_id.data or None,
                "beds": beds})
        except service.ValidationFailed as exc:
            _apply_errors(form, {k if not k.startswith("beds") else "bed_restrictions": v
                                 for k, v in exc.errors.items()})
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Created %(name)s.", name=shelter.name), "success")
            return redirect(url_for(".edit_shelter", shelter_id=shelter.id))
    if form.errors and status == 200:
        status = 422
    return render_template("shelters/form.html", form=form, shelter=None), status


@bp.route("/shelters/<uuid:shelter_id>/edit", methods=["GET", "POST"])
def edit_shelter(shelter_id):
    service.require_manager(current_user)
    shelter = service.get_shelter(current_user, shelter_id)
    form = ShelterForm(obj=None if request.method == "POST" else shelter)
    form.partner_id.choices = _partner_choices()
    if request.method == "GET":
        form.partner_id.data = str(shelter.partner_id) if shelter.partner_id else ""
    status = 200
    if form.validate_on_submit():
        try:
            changed = service.update_shelter(current_user, shelter, {
                "name": form.name.data, "partner_id": form.partner_id.data or None})
        except service.ValidationFailed as exc:
            _apply_errors(form, exc.errors)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Saved %(name)s.", name=shelter.name) if changed
                  else _("Nothing was changed."), "success" if changed else "info")
            return redirect(url_for(".edit_shelter", shelter_id=shelter.id))
    if form.errors and status == 200:
        status = 422
    return _edit_page(shelter, form, _bed_form(), status)


def _bed_form(**kwargs) -> BedForm:
    form = BedForm(**kwargs)
    form.restrictions.choices = _restriction_choices()
    return form


def _edit_page(shelter, form, bed_form, status=200):
    row = service.shelter_row(shelter)
    return render_template("shelters/form.html", form=form, shelter=shelter, row=row,
                           bed_form=bed_form), status


@bp.route("/shelters/<uuid:shelter_id>/beds", methods=["POST"])
def add_bed(shelter_id):
    service.require_manager(current_user)
    shelter = service.get_shelter(current_user, shelter_id)
    bed_form = _bed_form()
    status = 200
    if bed_form.validate_on_submit():
        try:
            bed = service.add_bed(current_user, shelter, {
                "label": bed_form.label.data, "restrictions": bed_form.restrictions.data or [],
                "active": bed_form.active.data})
        except service.ValidationFailed as exc:
            _apply_errors(bed_form, exc.errors)
        except service.Conflict as exc:
            bed_form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Added bed %(bed)s.", bed=bed.label), "success")
            return redirect(url_for(".edit_shelter", shelter_id=shelter.id))
    if status == 200:
        status = 422
    form = ShelterForm(formdata=None, obj=shelter)
    form.partner_id.choices = _partner_choices()
    form.partner_id.data = str(shelter.partner_id) if shelter.partner_id else ""
    return _edit_page(shelter, form, bed_form, status)


@bp.route("/shelters/<uuid:shelter_id>/beds/<uuid:bed_id>/edit", methods=["GET", "POST"])
def edit_bed(shelter_id, bed_id):
    service.require_manager(current_user)
    shelter = service.get_shelter(current_user, shelter_id)
    bed = service.get_bed(current_user, shelter, bed_id)
    form = _bed_form(obj=None if request.method == "POST" else bed)
    status = 200
    if form.validate_on_submit():
        try:
            changed = service.update_bed(current_user, bed, {
                "label": form.label.data, "restrictions": form.restrictions.data or [],
                "active": form.active.data})
        except service.ValidationFailed as exc:
            _apply_errors(form, exc.errors)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
            status = 409
        else:
            flash(_("Saved bed %(bed)s.", bed=bed.label) if changed
                  else _("Nothing was changed."), "success" if changed else "info")
            return redirect(url_for(".edit_shelter", shelter_id=shelter.id))
    if form.errors and status == 200:
        status = 422
    return render_template("shelters/bed_form.html", form=form, shelter=shelter,
                           bed=bed), status


# --- a survivor's placements ---------------------------------------------------------------------


class _Forms:
    """Which placement forms ``user`` gets for ``survivor``, built and filled."""

    def __init__(self, survivor, current: Placement | None):
        self.survivor = survivor
        self.current = current
        self.writable = access.writable_fields(current_user, Placement, survivor=survivor)
        open_case = not survivor.is_closed
        self.can_admit = (current is None and open_case
                          and AdmitForm.writes() <= self.writable)
        self.can_transfer = (current is not None and open_case
                             and TransferForm.writes() <= self.writable)
        self.can_discharge = current is not None and DischargeForm.writes() <= self.writable
        self.can_expected = current is not None and ExpectedDischargeForm.writes() <= self.writable
        self.admit = self.transfer = self.discharge = self.expected = None
        self._choices = None

    def choices(self):
        if self._choices is None:
            shelters, free = service.bed_choices(current_user)
            # Only beds whose restrictions suit this survivor (the service checks again).
            free = [(s, b) for s, b in free
                    if not service.restriction_conflicts(b, self.survivor)]
            shelter_options = [(str(s.id), s.name) for s in shelters]
            bed_options = [(str(b.id), _("%(shelter)s — bed %(bed)s", shelter=s.name, bed=b.label)
                            + (" (" + ", ".join(_(BED_RESTRICTIONS.label(r))
                                                for r in b.restrictions) + ")"
                               if b.restrictions else ""))
                           for s, b in free]
            self._choices = (shelter_options, bed_options)
        return self._choices

    def build(self, bound: str | None = None) -> _Forms:
        """Make each form the user gets; only the ``bound`` one reads the request."""
        today = date.today()

        def make(cls, name, **defaults):
            if bound == name:
                return cls(writable=self.writable)
            return cls(formdata=None, writable=self.writable, data=defaults)

        shelters, beds = (self.choices() if (self.can_admit or self.can_transfer)
                          else ([], []))
        if self.can_admit:
            self.admit = make(AdmitForm, "admit", admitted_on=today)
            self.admit.shelter_id.choices = [("", "—")] + shelters
            self.admit.bed_id.choices = [("", _("First free bed that suits"))] + beds
        if self.can_transfer:
            self.transfer = make(TransferForm, "transfer", transfer_on=today)
            self.transfer.transfer_shelter_id.choices = [("", "—")] + shelters
            self.transfer.transfer_bed_id.choices = [("", _("First free bed that suits"))] + beds
        if self.can_discharge:
            self.discharge = make(DischargeForm, "discharge", discharged_on=today)
        if self.can_expected:
            self.expected = make(ExpectedDischargeForm, "expected",
                                 expected_discharge_on=self.current.expected_discharge_on)
        return self


def _placements_page(survivor, forms: _Forms | None = None, status: int = 200):
    placements = service.placements_of(current_user, survivor)
    current = next((p for p in placements if p.is_open), None)
    if forms is None:
        forms = _Forms(survivor, current).build()
    readable = access.readable_fields(current_user, Placement, survivor=survivor)
    columns = [name for name in PAGE_FIELDS if name in readable]
    rows = [(p, access.present(current_user, p)) for p in placements]
    return render_template(
        "shelters/placements.html", survivor=survivor, rows=rows, columns=columns,
        labels=service.FIELD_LABELS, current=current, forms=forms,
        service_links=service_links(survivor),
    ), status


@bp.route("/survivors/<uuid:survivor_id>/placements", methods=["GET", "POST"])
def survivor_placements(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    if request.method == "GET":
        return _placements_page(survivor)

    def to_data(value):
        return {name: value(name) for name in AdmitForm.WRITES}

    def perform(data):
        placement = service.admit(current_user, survivor, data)
        return _("Admitted to %(shelter)s, bed %(bed)s.", shelter=placement.shelter.name,
                 bed=placement.bed.label)

    return _act(survivor, service.open_placement(survivor.id), "admit", to_data, perform, {})


def _act(survivor, current, name: str, to_data, perform, names: dict):
    """Handle the POST of one placement form: errors next to its fields (422), a refused
    transition as a clear error (409), a write the user may not make as 403 (from the
    service's guard). Nothing is changed unless the service succeeds."""
    forms = _Forms(survivor, current).build(bound=name)
    form = getattr(forms, name)
    status = 422
    if form is None:
        # No such form for this user or this state: let the service give the reason.
        form_values = request.form

        def value(field):
            return form_values.get(field) or None
    elif form.validate_on_submit():
        def value(field):
            return (form[field].data or None) if field in form else None
    else:
        return _placements_page(survivor, forms, status)
    try:
        message = perform(to_data(value))
    except service.ValidationFailed as exc:
        if form is None:
            flash(" ".join(m for msgs in exc.errors.values() for m in msgs), "danger")
        else:
            _apply_errors(form, exc.errors, names)
    except service.Conflict as exc:
        status = 409
        if form is None:
            flash(str(exc), "danger")
        else:
            form.form_errors.append(str(exc))
    else:
        flash(message, "success")
        return redirect(url_for(".survivor_placements", survivor_id=survivor.id))
    return _placements_page(survivor, forms, status)


def _placement_action(placement_id, name: str, to_data, perform, names: dict):
    placement = service.load_placement(current_user, placement_id)
    survivor = placement.survivor
    return _act(survivor, service.open_placement(survivor.id), name, to_data,
                lambda data: perform(placement, data), names)


@bp.route("/placements/<uuid:placement_id>/transfer", methods=["POST"])
def transfer(placement_id):
    names = {"on": "transfer_on", "shelter_id": "transfer_shelter_id",
             "bed_id": "transfer_bed_id"}

    def to_data(value):
        data = {key: value(field) for key, field in names.items()}
        return {k: v for k, v in data.items() if v is not None or k == "on"}

    def perform(placement, data):
        successor = service.transfer(current_user, placement, data)
        return _("Moved to %(shelter)s, bed %(bed)s.", shelter=successor.shelter.name,
                 bed=successor.bed.label)

    return _placement_action(placement_id, "transfer", to_data, perform, names)


@bp.route("/placements/<uuid:placement_id>/discharge", methods=["POST"])
def discharge(placement_id):
    names = {"on": "discharged_on", "reason": "discharge_reason"}

    def to_data(value):
        return {key: value(field) for key, field in names.items()}

    def perform(placement, data):
        service.discharge(current_user, placement, data)
        return _("Discharged on %(day)s.", day=format_date(placement.discharged_on))

    return _placement_action(placement_id, "discharge", to_data, perform, names)


@bp.route("/placements/<uuid:placement_id>/expected", methods=["POST"])
def expected_discharge(placement_id):
    def to_data(value):
        return {"expected_discharge_on": value("expected_discharge_on")}

    def perform(placement, data):
        changed = service.update_placement(current_user, placement, data)
        return _("Saved the expected discharge date.") if changed else _("Nothing was changed.")

    return _placement_action(placement_id, "expected", to_data, perform, {})
