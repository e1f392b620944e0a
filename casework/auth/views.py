"""Login and logout; the signed-in user's own password and two-step verification pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from .. import access, audit, sessions
from . import mfa, service
from .forms import ChangePasswordForm, CodeForm, DisableMfaForm, LoginForm
from .service import InvalidCredentials, LoginThrottled, UserError, authenticate

bp = Blueprint("auth", __name__)

def N_(text: str) -> str:
    """Marks ``text`` for the catalogue; it is translated where it is used (``_(THROTTLED)``)."""
    return text


THROTTLED = N_("Too many failed attempts for this username. Wait a minute and try again.")



def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never redirect a login to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = authenticate(form.username.data, form.password.data, form.otp.data)
        except LoginThrottled:
            form.form_errors.append(_(THROTTLED))
            status = 429
        except InvalidCredentials:
            # One answer for a wrong username, password or code (nothing tells which).
            form.form_errors.append(_("The username, password or code is not correct."))
            status = 200
        else:
            # A new session at login, under a new id: nothing from before it carries over
            # (fixation).
            session.clear()
            sessions.regenerate()
            login_user(user)
            access.new_access_session()
            session.permanent = True
            if mfa.must_enrol(user):  # the page says why
                return redirect(url_for("auth.mfa_enrol"))
            return redirect(_safe_next(request.args.get("next")) or url_for("main.home"))
    form.otp.raw_data, form.otp.data = [], ""  # a code is never shown back
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit.record(current_user, "auth.logout")
        access.end_break_glass(current_user)
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


# --- the user's own password --------------------------------------------------------------------


@bp.route("/me/password", methods=["GET", "POST"])
def change_password():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.change_password(current_user._get_current_object(),
                                    form.current_password.data, form.new_password.data)
        except LoginThrottled:
            form.form_errors.append(_(THROTTLED))
            status = 429
        except InvalidCredentials:
            form.current_password.errors.append(_("The current password is not correct."))
        except UserError as exc:
            form.new_password.errors.append(str(exc))
        else:
            # Every session of the user ended with the change; this one goes on under a new
            # id, carrying the new generation.
            login_user(current_user._get_current_object())
            sessions.regenerate()
            flash(_("Your password is changed. You are logged out everywhere else, and your "
                    "API tokens are revoked."), "success")
            return redirect(url_for("auth.mfa_settings"))
    if form.errors and status == 200:
        status = 422
    return render_template("auth/password.html", form=form), status


# --- two-step verification ----------------------------------------------------------------------


@bp.route("/me/mfa")
def mfa_settings():
    user = current_user._get_current_object()
    return render_template(
        "auth/mfa.html", user=user, required=mfa.role_requires_mfa(user.role),
        codes_left=mfa.recovery_codes_left(user) if user.mfa_enabled else 0,
        code_form=CodeForm(), disable_form=DisableMfaForm())


@bp.route("/me/mfa/enrol", methods=["GET", "POST"])
def mfa_enrol():
    user = current_user._get_current_object()
    if user.mfa_enabled:
        flash(_("Two-step verification is already on."), "info")
        return redirect(url_for("auth.mfa_settings"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = mfa.confirm_enrolment(user, form.code.data)
        except mfa.MfaError as exc:
            form.code.errors.append(str(exc))
        else:
            return render_template("auth/mfa_recovery_codes.html", codes=codes, enrolled=True)
    secret = mfa.pending_secret(user)
    uri = mfa.provisioning_uri(user, secret)
    return render_template(
        "auth/mfa_enrol.html", form=form, secret=mfa.grouped(secret),
        qr=mfa.qr_svg(uri, _("QR code to scan with your authenticator app")),
        required=mfa.role_requires_mfa(user.role),
    ), (422 if form.errors else 200)


@bp.route("/me/mfa/recovery-codes", methods=["POST"])
def mfa_recovery_codes():
    user = current_user._get_current_object()
    form = CodeForm()
    if form.validate_on_submit():
        try:
            codes = mfa.regenerate_recovery_codes(user, form.code.data)
        except mfa.MfaError as exc:
            flash(str(exc), "danger")
        except LoginThrottled:
            flash(_(THROTTLED), "danger")
        except InvalidCredentials:
            flash(_("That code is not correct: your recovery codes are unchanged."), "danger")
        else:
            return render_template("auth/mfa_recovery_codes.html", codes=codes, enrolled=False)
    else:
        flash(_("Type a code from your authenticator app."), "danger")
    return redirect(url_for("auth.mfa_settings"))


@bp.route("/me/mfa/disable", methods=["POST"])
def mfa_disable():
    user = current_user._get_current_object()
    form = DisableMfaForm()
    if form.validate_on_submit():
        try:
            mfa.disable(user, form.password.data, form.code.data)
        except mfa.MfaError as exc:
            flash(str(exc), "danger")
        except LoginThrottled:
            flash(_(THROTTLED), "danger")
        except InvalidCredentials:
            flash(_("The password or code is not correct: two-step verification is still on."),
                  "danger")
        else:
            flash(_("Two-step verification is off. Your password alone now opens your "
                    "account."), "warning")
    else:
        flash(_("Give your password and a code to turn two-step verification off."), "danger")
    return redirect(url_for("auth.mfa_settings"))
