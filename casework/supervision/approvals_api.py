"""/api/v1/supervision/approvals and /api/v1/closure-requests/{id}/approve|return."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user
from marshmallow import Schema, fields

from .. import access
from ..api.errors import problem
from ..api.io import invalid, json_object, request_body
from ..api.schemas import model_schema
from ..referrals.api import ReferralSchema
from ..survivors.service import Conflict, ValidationFailed
from . import approvals as service
from .api import blp
from .models import ClosureRequest

ClosureRequestSchema = model_schema(ClosureRequest, "ClosureRequest")


class ApprovalsSchema(Schema):
    referrals = fields.List(fields.Nested(ReferralSchema),
                            metadata={"description": "Referrals awaiting approval."})
    closure_requests = fields.List(fields.Nested(ClosureRequestSchema),
                                   metadata={"description": "Pending closure requests."})


def closure_request_response(request: ClosureRequest, status: int = 200):
    """The request as the caller may see it, audited, as a JSON response."""
    body = ClosureRequestSchema().dump(service.record_view(current_user, request))
    response = jsonify(body)
    response.status_code = status
    return response


@blp.route("/supervision/approvals", methods=["GET"])
@blp.response(200, ApprovalsSchema)
@blp.alt_response(403, schema="Problem", description="Not a supervisor")
def approvals():
    """Supervisors: the team's referrals awaiting approval and pending closure requests,
    oldest first (at most 200 of each)."""
    referrals, closures = service.inbox(current_user)
    return {"referrals": [access.present(current_user, r) for r in referrals],
            "closure_requests": [access.present(current_user, c) for c in closures]}


@blp.route("/closure-requests/<uuid:request_id>", methods=["GET"])
@blp.response(200, ClosureRequestSchema)
@blp.alt_response(404, schema="Problem", description="No such request in the caller's scope")
def closure_request(request_id):
    """One closure request, with the fields the caller may read."""
    return service.record_view(current_user, service.get_for(current_user, request_id))


@blp.route("/closure-requests/<uuid:request_id>/approve", methods=["POST"])
@blp.response(200, ClosureRequestSchema)
@blp.alt_response(403, schema="Problem", description="Not a supervisor of the team")
@blp.alt_response(404, schema="Problem", description="No such request in the caller's scope")
@blp.alt_response(409, schema="Problem", description="Already decided, or the case is closed")
def approve(request_id):
    """Supervisors of the team: approve; the case closes with the requested status and
    reason."""
    request = service.get_for(current_user, request_id, "closure.decide")
    try:
        service.approve(current_user, request)
    except Conflict as exc:
        return problem(409, str(exc))
    return service.record_view(current_user, request)


@blp.route("/closure-requests/<uuid:request_id>/return", methods=["POST"])
@blp.doc(**request_body({"type": "object", "required": ["comment"], "properties": {
    "comment": {"type": "string", "maxLength": 2000}}}))
@blp.response(200, ClosureRequestSchema)
@blp.alt_response(403, schema="Problem", description="Not a supervisor of the team")
@blp.alt_response(404, schema="Problem", description="No such request in the caller's scope")
@blp.alt_response(409, schema="Problem", description="Already decided")
@blp.alt_response(422, schema="Problem", description="No comment, or an invalid one")
def return_(request_id):
    """Supervisors of the team: return the request with a comment; the case stays open."""
    request = service.get_for(current_user, request_id, "closure.decide")
    data = json_object()
    unknown = set(data) - {"comment"}
    if unknown:
        return problem(422, "Some fields are not valid.",
                       errors={name: ["Unknown field."] for name in sorted(unknown)})
    try:
        service.return_request(current_user, request, data.get("comment"))
    except ValidationFailed as exc:
        return invalid(exc)
    except Conflict as exc:
        return problem(409, str(exc))
    return service.record_view(current_user, request)
