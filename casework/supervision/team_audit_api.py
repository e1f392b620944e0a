"""/api/v1/audit (supervisors: their team's events) and /api/v1/audit/verify."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from .. import access
from ..api.errors import problem
from ..api.pagination import InvalidCursor, PageArgs
from ..api.schemas import UTCTimestamp
from ..survivors.service import ValidationFailed
from . import team_audit
from .api import blp


class AuditListArgs(PageArgs):
    actor_id = fields.UUID()
    subject_id = fields.UUID()
    case_number = fields.String(validate=validate.Length(max=16))
    action = fields.String(validate=validate.Length(max=64))
    since = fields.String(validate=validate.Length(max=40),
                          metadata={"description": "Date (YYYY-MM-DD) or UTC timestamp."})
    until = fields.String(validate=validate.Length(max=40),
                          metadata={"description": "Date (inclusive) or UTC timestamp."})


class AuditEventSchema(Schema):
    id = fields.Integer()
    occurred_at = UTCTimestamp()
    actor_id = fields.UUID(allow_none=True)
    actor_username = fields.String(allow_none=True)
    action = fields.String()
    subject_type = fields.String(allow_none=True)
    subject_id = fields.UUID(allow_none=True)
    team_id = fields.UUID(allow_none=True)
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")
    reason = fields.String(allow_none=True)
    channel = fields.String()


class AuditListSchema(Schema):
    items = fields.List(fields.Nested(AuditEventSchema))
    next_cursor = fields.String(allow_none=True)


class VerifySchema(Schema):
    ok = fields.Boolean()
    checked = fields.Integer()
    first_bad_id = fields.Integer(allow_none=True)


@blp.route("/audit", methods=["GET"])
@blp.arguments(AuditListArgs, location="query")
@blp.response(200, AuditListSchema)
@blp.alt_response(403, schema="Problem", description="Not a supervisor of a team.")
@blp.alt_response(422, schema="Problem", description="A filter is not valid.")
def audit_list(args):
    """The supervisor's team's audit events, newest first."""
    access.require(current_user, "team_audit.read")
    raw = {name: str(value) for name, value in args.items()
           if name not in ("limit", "cursor") and value is not None}
    try:
        filters = team_audit.parse_filters(raw)
        events, next_cursor = team_audit.page(current_user, filters, args["limit"],
                                              args["cursor"])
    except ValidationFailed as exc:
        return problem(422, detail="A filter is not valid.", errors=exc.errors)
    except InvalidCursor as exc:
        return problem(400, detail=str(exc))
    return {"items": events, "next_cursor": next_cursor}


@blp.route("/audit/verify", methods=["GET"])
@blp.response(200, VerifySchema)
@blp.alt_response(403, schema="Problem", description="Not a supervisor or admin.")
def audit_verify():
    """Walk the whole audit chain now and say whether it is intact."""
    result = team_audit.verify(current_user)
    return {"ok": result.ok, "checked": result.checked, "first_bad_id": result.first_bad_id}
