"""Team audit pages: /supervision/audit and its CSV export (supervisors of a team only)."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from .. import access
from ..api.pagination import InvalidCursor
from ..audit.labels import ACTION_LABELS
from ..survivors.service import ValidationFailed
from . import team_audit
from .views import bp

PAGE_SIZE = 50


def _filter_args() -> dict:
    names = ("actor_id", "case_number", "subject_id", "action", "since", "until")
    return {name: request.args.get(name, "") for name in names}


@bp.route("/audit")
def audit():
    access.require(current_user, "team_audit.read")
    raw = _filter_args()
    errors: dict = {}
    events, next_cursor, numbers = [], None, {}
    try:
        filters = team_audit.parse_filters(request.args)
        events, next_cursor = team_audit.page(current_user, filters, PAGE_SIZE,
                                              request.args.get("cursor") or None)
        numbers = team_audit.case_numbers(events)
    except ValidationFailed as exc:
        errors = exc.errors
    except InvalidCursor:
        abort(400, _("That page link is not valid; start from the first page."))
    verified = team_audit.verify(current_user)
    actions = sorted(((name, str(label)) for name, label in ACTION_LABELS.items()),
                     key=lambda pair: pair[1])
    return render_template(
        "supervision/audit.html",
        events=events, numbers=numbers, next_cursor=next_cursor, raw=raw, errors=errors,
        members=team_audit.team_members(current_user), actions=actions, verified=verified,
        break_glass=team_audit.BREAK_GLASS,
        query_args={k: v for k, v in raw.items() if v},
    ), (422 if errors else 200)


@bp.route("/audit.csv")
def audit_csv():
    access.require(current_user, "team_audit.read")
    try:
        filters = team_audit.parse_filters(request.args)
    except ValidationFailed as exc:
        abort(422, "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.errors.items()))
    body = team_audit.export_csv(current_user, filters)
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=team-audit.csv"})
