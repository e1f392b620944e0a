"""/me pages: the signed-in user's profile (language, time zone) and alerts; the alert badge
of the navigation."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import Forbidden

from . import service

bp = Blueprint("me", __name__, url_prefix="/me")


@bp.route("/profile", methods=["GET", "POST"])
def profile():
    from .forms import ProfileForm

    user = current_user._get_current_object()
    form = ProfileForm(data={"locale": user.locale or str(_page_locale()),
                             "timezone": user.timezone
                             or current_app.config["BABEL_DEFAULT_TIMEZONE"]})
    status = 200
    if form.validate_on_submit():
        changed = service.update_profile(user, locale=form.locale.data,
                                         timezone=form.timezone.data)
        if changed:
            with force_locale(user.locale):  # the message in the language just chosen
                flash(_("Your profile is saved."), "success")
        return redirect(url_for("me.profile"))
    if form.errors:
        status = 422
    return render_template("me/profile.html", form=form, user=user), status


def _page_locale():
    from flask_babel import get_locale

    return get_locale() or "en"


@bp.route("/alerts")
def alerts():
    if current_user.role not in service.ALERT_ROLES:
        raise Forbidden()
    return render_template("me/alerts.html", alerts=service.alerts_for(current_user))


def nav_alert_count() -> int | None:
    """The number on the navigation's alert badge: one COUNT-style SELECT per request, only
    when a page shows the badge (None when it cannot be computed: no badge then)."""
    if "_nav_alert_count" not in g:
        try:
            g._nav_alert_count = service.alert_count(current_user)
        except SQLAlchemyError:  # e.g. an error page after a failed transaction
            g._nav_alert_count = None
    return g._nav_alert_count


@bp.app_context_processor
def _alert_badge():
    return {"nav_alert_count": nav_alert_count}


from . import tokens  # noqa: E402,F401  (its routes are on this blueprint)
