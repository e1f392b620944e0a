from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from .passwords import MAX_PASSWORD_LENGTH

_CODE_ATTRS = {"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "none",
               "spellcheck": "false"}


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    # Checked with the password in one step (SecureDrop); empty for users without it.
    otp = StringField(_l("Code"), validators=[Optional(), Length(max=64)], render_kw=_CODE_ATTRS,
                      description=_l("The 6-digit code from your authenticator app, or a "
                                     "recovery code. Leave empty if you have not set up "
                                     "two-step verification."))


class CodeForm(FlaskForm):
    """A code from the authenticator app (enrolment, new recovery codes)."""

    code = StringField(_l("Code from the app"),
                       validators=[DataRequired(), Length(max=64)], render_kw=_CODE_ATTRS)


class DisableMfaForm(FlaskForm):
    password = PasswordField(_l("Your password"),
                             validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
                             render_kw={"autocomplete": "current-password"})
    code = StringField(_l("Code from the app, or a recovery code"),
                       validators=[DataRequired(), Length(max=64)], render_kw=_CODE_ATTRS)


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"})
    # Only the length bounds here; the service checks every rule, with its own messages.
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "new-password"},
        description=_l("At least 12 characters. A few unrelated words make a good one; no "
                       "need for symbols or digits. Common passwords are refused."))
    new_password_again = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new_password",
                                            message=_l("The two new passwords differ."))],
        render_kw={"autocomplete": "new-password"})
