"""/me/tokens: personal access tokens for the API, made and revoked on the profile page.

A token is named (what it is for), expires after one of the offered lifetimes, and is shown
once, on the page that answers its creation; only its SHA-256 is kept. Making one asks for
the password again, as other changes to the account do.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..auth import service as auth_service
from ..auth.views import THROTTLED
from .views import bp


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)],
                       description=_l("What the token is for, e.g. the hotline's intake app."))
    days = SelectField(_l("Expires after"), validators=[DataRequired()])
    password = PasswordField(_l("Your password"), validators=[DataRequired()],
                             description=_l("Asked again before a new key to your account "
                                            "is made."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.days.choices = [(str(days), ngettext("%(num)d day", "%(num)d days", days))
                             for days in auth_service.PERSONAL_TOKEN_DAYS]
        if not self.days.data:
            self.days.data = "90"


class RevokeForm(FlaskForm):
    pass


def render_tokens(form: TokenForm | None = None, new_token: str | None = None, status=200):
    user = current_user._get_current_object()
    return render_template("me/tokens.html", form=form or TokenForm(),
                           revoke_form=RevokeForm(), tokens=auth_service.active_tokens(user),
                           new_token=new_token), status


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    form = TokenForm()
    if not form.validate_on_submit():
        return render_tokens(form, status=422 if form.errors else 200)
    user = current_user._get_current_object()
    try:
        auth_service.confirm_identity(user, form.password.data)
    except auth_service.LoginThrottled:
        form.password.errors = [_(THROTTLED)]
        return render_tokens(form, status=429)
    except auth_service.InvalidCredentials:
        form.password.errors = [_("The current password is not correct.")]
        return render_tokens(form, status=422)
    issued = auth_service.issue_token(user, name=form.name.data.strip(),
                                      lifetime=timedelta(days=int(form.days.data)))
    # Shown on this answer only: the page is not cached (no-store) and the token not kept.
    return render_tokens(TokenForm(formdata=None), new_token=issued.token, status=201)


@bp.route("/tokens/<uuid:token_id>/revoke", methods=["POST"])
def revoke_token(token_id: uuid.UUID):
    if RevokeForm().validate_on_submit():
        auth_service.revoke_own_token(current_user._get_current_object(), token_id)
        flash(_("The token is revoked: software using it is refused from now on."), "success")
    return redirect(url_for("me.tokens"))
