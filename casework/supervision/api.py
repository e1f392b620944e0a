"""JSON API for supervisors."""

from __future__ import annotations

from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import fields, validate

from ..api.errors import problem
from ..api.pagination import InvalidCursor, PageArgs
from ..survivors.api import SurvivorListSchema
from ..survivors.service import ValidationFailed

blp = Blueprint("supervision_api", __name__, url_prefix="/api/v1", description="Supervision")


def _text(description: str):
    return fields.String(validate=validate.Length(max=64), metadata={"description": description})


class CaseloadReviewArgs(PageArgs):
    worker = _text("A worker of the team: survivors they lead, collaborate on or counsel in "
                   "an open engagement.")
    lead_caseworker_id = _text("Only survivors this caseworker leads.")
    open = _text("1: only open cases (status not Closed/ClosedReferred).")
    status = _text("Case status (cas_Status).")
    risk_level = _text("low, medium or high.")
    overdue = _text("1: only survivors with an overdue support-plan item.")
    followup = _text("1: only survivors with an employment check (3 or 6 months after a "
                     "completed training) due.")
    awaiting_partner = _text("1: only survivors with a referral issued to a partner and not "
                             "answered yet.")
    inactive = _text("1: only survivors without activity for 30 days: neither the record nor "
                     "any of its service records was created or changed since.")
    service = _text("shelter, counselling, training or legal: only survivors with an open "
                    "placement, counselling engagement, training enrolment or legal matter.")
    intake_from = _text("Intake on or after this date (YYYY-MM-DD).")
    intake_to = _text("Intake on or before this date (YYYY-MM-DD).")
    sort = _text("intake_date (default), case_number or risk_level (by severity).")
    direction = _text("asc or desc (default).")


@blp.route("/supervision/caseload", methods=["GET"])
@blp.arguments(CaseloadReviewArgs, location="query")
@blp.response(200, SurvivorListSchema)
@blp.alt_response(400, schema="Problem", description="A cursor this API did not give out")
@blp.alt_response(403, schema="Problem", description="Not a supervisor, or a filter on a "
                                                     "field the caller may not read")
@blp.alt_response(422, schema="Problem", description="Invalid filter values")
def caseload_review(args):
    """The team's caseload (supervisors), filtered and sorted, keyset-paginated. Identifying
    fields are absent unless the caller broke glass on that case."""
    from . import service

    user = current_user._get_current_object()  # the proxy costs per access, 1000s a page
    service.require_supervisor(user)
    try:
        filters = service.parse_filters(args)
    except ValidationFailed as exc:
        return problem(422, "Invalid filters.",
                       errors={k: [str(m) for m in v] for k, v in exc.errors.items()})
    try:
        rows, next_cursor = service.review_page(user, filters, args["cursor"],
                                                args["limit"])
    except InvalidCursor as exc:
        return problem(400, str(exc), errors={"cursor": [str(exc)]})
    return {"items": [shown for _survivor, shown in rows],
            "next_cursor": next_cursor}

# Other supervision modules register their routes on `blp` here, e.g.:
# from . import approvals_api  # noqa: E402,F401
from . import (  # noqa: E402,F401
    approvals_api,  # noqa: E402,F401
    reassign_api,  # noqa: E402,F401
    team_audit_api,  # noqa: E402,F401
)
