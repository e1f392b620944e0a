"""/me pages: the signed-in user's alerts; the alert badge of the navigation."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import Forbidden

from . import service

bp = Blueprint("me", __name__, url_prefix="/me")


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
