"""Administration: the access policy as it is enforced, and user accounts."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from .. import access, vocab
from ..access.fields import fields_in_tier
from ..access.policy import BREAK_GLASS, POLICY, READ, RELATIONSHIPS, TIERS, WRITE, permissions
from ..auth import service as auth_service
from ..auth.models import ROLE_LABELS, ROLES, Team, User
from ..extensions import db
from ..referrals import service as partner_service
from ..referrals.models import PARTNER_SERVICES
from ..survivors.labels import FIELD_LABELS, TIER_LABELS
from ..survivors.models import Survivor
from ..survivors.service import ValidationFailed

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The relationships of the policy, named as the page's note explains them.
RELATIONSHIP_LABELS = {
    "assigned": _l("assigned"),
    "team": _l("team"),
    "none": _l("none"),
}


@bp.before_request
def _admins_only():
    access.require(current_user, "users.manage")


@bp.route("/policy")
def policy():
    rows = []
    for role in ROLES:
        for relationship in RELATIONSHIPS:
            cells = []
            for tier in TIERS:
                granted = permissions(role, relationship, tier)
                glass = permissions(role, relationship, tier, break_glass=True) - granted
                cells.append({"read": READ in granted, "write": WRITE in granted,
                              "glass_read": READ in glass})
            rows.append({"role": ROLE_LABELS[role],
                         "relationship": RELATIONSHIP_LABELS[relationship], "cells": cells})
    tiers = [(tier, TIER_LABELS[tier], [FIELD_LABELS.get(n, n)
                                        for n in fields_in_tier(Survivor, tier)])
             for tier in TIERS]
    return render_template("admin/policy.html", rows=rows, tiers=tiers,
                           declared=len(POLICY), glass=BREAK_GLASS)


class NewUserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=[(r, ROLE_LABELS[r]) for r in ROLES])
    team = StringField(_l("Team"), validators=[Optional(), Length(max=100)],
                       description=_l("Caseworkers, counsellors and supervisors belong to one."))
    password = PasswordField(_l("Initial password"), validators=[DataRequired(),
                                                                 Length(min=12, max=1024)])


class DeactivateForm(FlaskForm):
    pass


@bp.route("/users", methods=["GET", "POST"])
def users():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = auth_service.create_user(
                form.username.data, form.role.data, form.password.data,
                team=form.team.data or None, display_name=form.display_name.data,
                actor=current_user,
            )
        except auth_service.UserError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Created %(name)s.", name=user.username), "success")
            return redirect(url_for(".users"))
    people = db.session.scalars(select(User).order_by(User.role, User.username)).all()
    teams = {t.id: t.name for t in db.session.scalars(select(Team))}
    return render_template("admin/users.html", form=form, people=people, teams=teams,
                           role_labels=ROLE_LABELS,
                           deactivate_form=DeactivateForm()), (422 if form.errors else 200)



@bp.route("/users/<uuid:user_id>/deactivate", methods=["POST"])
def deactivate(user_id):
    form = DeactivateForm()
    user = db.session.get(User, user_id)
    if user is None:
        from werkzeug.exceptions import NotFound

        raise NotFound()
    if form.validate_on_submit():
        if user.id == current_user.id:
            flash(_("You cannot deactivate yourself."), "danger")
        else:
            auth_service.deactivate_user(user, actor=current_user)
            flash(_("Deactivated %(name)s; their sessions and tokens have ended.",
                    name=user.username), "success")
    return redirect(url_for(".users"))


# --- partner directory ---------------------------------------------------------------------------


class PartnerForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    services = SelectMultipleField(_l("Services offered"), choices=PARTNER_SERVICES.choices())
    languages = SelectMultipleField(_l("Languages"), choices=[])
    accepting_referrals = BooleanField(_l("Accepting referrals now"), default=True,
                                       description=_l("Untick while the partner is full."))
    contact_email = StringField(_l("Contact email"), validators=[Optional(), Length(max=254)])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=500)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.languages.choices = vocab.languages().choices()

    def values(self) -> dict:
        return {name: (self[name].data or None) if name in ("contact_email", "address")
                else self[name].data for name in partner_service.PARTNER_FIELDS}


@bp.route("/partners")
def partners():
    items = partner_service.list_partners(current_user)
    return render_template("admin/partners.html", partners=items)


@bp.route("/partners/new", methods=["GET", "POST"])
@bp.route("/partners/<uuid:partner_id>/edit", methods=["GET", "POST"])
def partner_form(partner_id=None):
    partner = partner_service.get(current_user, partner_id) if partner_id else None
    form = PartnerForm(obj=partner)
    if form.validate_on_submit():
        try:
            if partner is None:
                partner = partner_service.create(current_user, form.values())
            else:
                partner_service.update(current_user, partner, form.values())
        except ValidationFailed as exc:
            for name, messages in exc.errors.items():
                (form[name].errors.extend(messages) if name in form
                 else form.form_errors.extend(messages))
        else:
            flash(_("Saved %(name)s.", name=partner.name), "success")
            return redirect(url_for(".partners"))
    return render_template("admin/partner_form.html", form=form, partner=partner), (
        422 if form.errors else 200)
