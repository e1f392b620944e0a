"""/api/v1/me routes: the caller's profile, alerts and caseload."""

from __future__ import annotations

from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..api.errors import problem
from ..api.pagination import InvalidCursor, PageArgs
from ..survivors.api import SurvivorListSchema
from . import service

blp = Blueprint("me_api", __name__, url_prefix="/api/v1/me", description="The signed-in user.")


class ProfileSchema(Schema):
    class Meta:
        ordered = True

    id = fields.UUID()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    team = fields.String(allow_none=True, metadata={"description": "The team's name."})


class AlertSchema(Schema):
    class Meta:
        ordered = True

    kind = fields.String(metadata={"description": "plan_item.overdue, "
                                                  "employment_check.3_months or "
                                                  "employment_check.6_months"})
    due_on = fields.Date()
    case_number = fields.String(metadata={"description": "Survivors are named by case "
                                                         "number only."})
    survivor_id = fields.UUID()
    record_id = fields.UUID(metadata={"description": "The plan item or the enrolment."})
    message = fields.String()


class AlertListSchema(Schema):
    items = fields.List(fields.Nested(AlertSchema))


class CaseloadArgs(PageArgs):
    lead_caseworker_id = fields.UUID(metadata={"description": "Only this lead's survivors "
                                                              "(supervisors: one of their team)."})


@blp.route("", methods=["GET"])
@blp.response(200, ProfileSchema)
def me():
    """Who the caller is."""
    return service.profile(current_user)


@blp.route("/alerts", methods=["GET"])
@blp.response(200, AlertListSchema)
def alerts():
    """Overdue support-plan items assigned to the caller and employment checks due for the
    survivors they lead, most overdue first. Survivors appear by case number only."""
    return {"items": [alert.as_dict() for alert in service.alerts_for(current_user)]}


@blp.route("/caseload", methods=["GET"])
@blp.arguments(CaseloadArgs, location="query")
@blp.response(200, SurvivorListSchema)
@blp.alt_response(403, schema="Problem", description="Admins and donors have no caseload")
def caseload(args):
    """The caller's survivors (supervisors: their team's), newest intake first."""
    try:
        rows, next_cursor = service.caseload(current_user, args["limit"], args["cursor"],
                                             args.get("lead_caseworker_id"))
    except InvalidCursor as exc:
        return problem(400, str(exc), errors={"cursor": [str(exc)]})
    return {"items": [shown for _survivor, shown in rows], "next_cursor": next_cursor}
