"""Login and logout pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from .. import access, audit
from .forms import LoginForm
from .service import InvalidCredentials, LoginThrottled, authenticate

bp = Blueprint("auth", __name__)


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
            user = authenticate(form.username.data, form.password.data)
        except LoginThrottled:
            form.form_errors.append(
                _("Too many failed attempts for this username. Wait a minute and try again.")
            )
            status = 429
        except InvalidCredentials:
            form.form_errors.append(_("The username or password is not correct."))
            status = 200
        else:
            # A new session at login: nothing from before it carries over (fixation).
            session.clear()
            login_user(user)
            access.new_access_session()
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")) or url_for("main.home"))
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
