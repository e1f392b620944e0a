"""Reassignment pages: /supervision/reassign (supervisors of the team) and the new lead's
acknowledgement of the alert."""

from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length

from .. import access
from ..survivors.service import ValidationFailed
from . import reassign as service
from .views import bp


class ReassignForm(FlaskForm):
    # Checked against the team's cases by the service (404 outside it), not by the form.
    survivor_ids = SelectMultipleField(_l("Cases"), choices=[], validate_choice=False)
    to_user_id = SelectField(_l("Move to"), choices=[], validate_choice=False,
                             validators=[DataRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)],
                           description=_l("Say why, without names of people or places."))


class AcknowledgeForm(FlaskForm):
    pass


def _lead_filter():
    raw = request.args.get("lead") or None
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


@bp.route("/reassign", methods=["GET", "POST"])
def reassign():
    access.require(current_user, "supervision.reassign")
    workers = service.team_caseworkers(current_user)
    lead_id = _lead_filter()
    form = ReassignForm()
    form.to_user_id.choices = [("", "—")] + [(str(u.id), u.display_name) for u in workers]
    status = 200
    if form.validate_on_submit():
        try:
            moved = service.reassign(current_user, form.survivor_ids.data or [],
                                     form.to_user_id.data, form.reason.data)
        except ValidationFailed as exc:
            for name, messages in exc.errors.items():
                if name in form:
                    form[name].errors = list(form[name].errors) + messages
                else:
                    form.form_errors.extend(messages)
        else:
            flash(_("Moved %(n)d case(s) to %(name)s. They have been alerted.",
                    n=len(moved), name=moved[0].to_user.display_name), "success")
            return redirect(url_for(".reassign", lead=request.args.get("lead") or None))
    if form.errors:
        status = 422
    cases = service.open_team_cases(current_user, lead_id)
    selected = set(form.survivor_ids.data or [])
    return render_template("supervision/reassign.html", form=form, cases=cases,
                           workers=workers, lead_id=lead_id, selected=selected), status


@bp.route("/reassignments/<uuid:reassignment_id>/acknowledge", methods=["POST"])
def acknowledge_reassignment(reassignment_id):
    """The new lead dismisses the alert (any role may post; only the new lead's counts)."""
    form = AcknowledgeForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; try again."), "danger")
        return redirect(url_for("me.alerts"))
    record = service.acknowledge(current_user, reassignment_id)
    flash(_("Noted: %(case)s is now yours.", case=record.survivor.case_number), "success")
    return redirect(request.form.get("next") == "case"
                    and url_for("survivors.view", survivor_id=record.survivor_id)
                    or url_for("me.alerts"))
