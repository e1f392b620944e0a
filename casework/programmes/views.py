"""Admin pages of funded programmes: the list, add, edit (name, dates, funding donors)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import access
from ..survivors.service import ValidationFailed
from . import service
from .forms import ProgrammeForm

bp = Blueprint("programmes", __name__, url_prefix="/admin/programmes")


@bp.before_request
def _admins_only():
    access.require(current_user, "programmes.write")


@bp.route("/")
def index():
    return render_template("programmes/index.html",
                           programmes=service.list_all(current_user))


def _form(programme) -> ProgrammeForm:
    donors = service.donor_choices()
    if programme is not None:  # keep current donors listed, even if since deactivated
        known = {u.id for u in donors}
        donors += [u for u in programme.donors if u.id not in known]
    form = ProgrammeForm(obj=programme if request.method == "GET" else None, donors=donors)
    if programme is not None and request.method == "GET":
        form.donor_ids.data = [str(uid) for uid in programme.donor_ids]
    return form


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<uuid:programme_id>/edit", methods=["GET", "POST"])
def edit(programme_id=None):
    programme = service.get(current_user, programme_id) if programme_id else None
    form = _form(programme)
    if form.validate_on_submit():
        values = form.changes()
        if programme is not None and {str(u) for u in programme.donor_ids} == set(
                values["donor_ids"]):
            del values["donor_ids"]  # unchanged: a deactivated donor may stay listed
        try:
            if programme is None:
                programme = service.create(current_user, values)
                flash(_("Added the programme “%(name)s”.", name=programme.name), "success")
            elif service.update(current_user, programme, values):
                flash(_("Saved “%(name)s”.", name=programme.name), "success")
            else:
                flash(_("Nothing was changed."), "info")
        except ValidationFailed as exc:
            for name, messages in exc.errors.items():
                if name in form:
                    form[name].errors = list(form[name].errors) + messages
                else:
                    form.form_errors.extend(messages)
        else:
            return redirect(url_for(".index"))
    return render_template("programmes/form.html", form=form, programme=programme), (
        422 if form.errors else 200)
