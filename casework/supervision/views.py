"""Pages for supervisors (role supervisor; others get 403)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import access, vocab
from ..api.pagination import InvalidCursor
from ..i18n import format_value
from ..survivors.labels import FIELD_LABELS
from ..survivors.models import Survivor
from ..survivors.service import ValidationFailed

bp = Blueprint("supervision", __name__, url_prefix="/supervision")


# The supervisor's pages, linked from the dashboard (those registered: helpers' modules).
SUBPAGES = (("supervision.caseload", _l("Caseload review")),
            ("supervision.approvals", _l("Approvals")),
            ("supervision.reassign", _l("Reassign cases")),
            ("supervision.audit", _l("Team audit")))


@bp.route("/")
def dashboard():
    """The team dashboard: per worker counts, each a link to the caseload review, and the
    charts of the last 12 months (SVG images, see ``chart``) with their figures as tables."""
    from . import service

    service.require_supervisor(current_user)
    metrics, rows, total = service.dashboard(current_user)
    subpages = [(endpoint, label) for endpoint, label in SUBPAGES
                if endpoint in current_app.view_functions]
    return render_template("supervision/dashboard.html", metrics=metrics, rows=rows,
                           subpages=subpages,
                           total=total,
                           series=[(format_date(start, "MMMM yyyy"), caseload, intakes)
                                   for start, caseload, intakes
                                   in service.monthly_series(current_user)])


@bp.route("/charts/<kind>.svg")
def chart(kind):
    """One chart as an SVG document. Served apart from the page (an <img>): pygal's inline
    <style> stays inside the image, so the page's CSP (no inline styles) holds; the SVG
    itself carries no script (js=[]) and its own CSP forbids any."""
    from flask import make_response

    from . import service

    service.require_supervisor(current_user)
    if kind not in ("caseload", "intakes"):
        abort(404)
    svg = service.chart_svg(kind, service.monthly_series(current_user))
    response = make_response(svg)
    response.mimetype = "image/svg+xml"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
    return response


def _cells(shown: dict) -> dict:
    """The page's text of each shown value; each distinct value is formatted once a page
    (50 rows share a handful of statuses, dates and workers)."""
    formatted = g.setdefault("_caseload_cells", {})
    cells = {}
    for name, value in shown.items():
        key = (name, tuple(value) if isinstance(value, list) else value)
        if key not in formatted:
            formatted[key] = format_value(name, value)
        cells[name] = formatted[key]
    return cells


@bp.route("/caseload")
def caseload():
    """The caseload review: the team's survivors, filtered, sorted, 50 a page."""
    from . import service

    user = current_user._get_current_object()  # the proxy costs per access, 1000s a page
    service.require_supervisor(user)
    errors: dict = {}
    try:
        filters = service.parse_filters(request.args)
    except ValidationFailed as exc:
        filters, errors = service.ReviewFilters(), exc.errors
    # The team first: the page's leads are among them, and are then found in the session
    # rather than selected a second time (survivors.service.load_leads).
    workers = service.team_staff(user)
    rows, next_cursor = [], None
    if not errors:
        try:
            rows, next_cursor = service.review_page(user, filters,
                                                    request.args.get("cursor") or None,
                                                    columns=service.PAGE_COLUMNS)
        except InvalidCursor:
            abort(400, _("That page link is not valid; start from the first page."))
    identifying = set(access.fields_in_tier(Survivor, "identifying"))
    return render_template(
        "supervision/caseload.html",
        rows=[(survivor, shown, _cells(shown)) for survivor, shown in rows],
        show_name=any(identifying & shown.keys() for _s, shown in rows),
        filters=filters,
        errors=errors,
        next_cursor=next_cursor,
        workers=workers,
        statuses=vocab.htcds(vocab.CASE_STATUS).choices(),
        risk_levels=vocab.RISK_LEVELS.choices(),
        service_kinds=service.SERVICE_KINDS.choices(),
        sort_keys=[(k, FIELD_LABELS.get(k, k)) for k in service.SORT_KEYS],
        labels=FIELD_LABELS,
    ), (422 if errors else 200)

# Other supervision modules register their routes on `bp` here, e.g.:
# from . import approvals_views  # noqa: E402,F401
from . import (  # noqa: E402,F401
    approvals_views,  # noqa: E402,F401
    reassign_views,  # noqa: E402,F401
    team_audit_views,  # noqa: E402,F401
)
