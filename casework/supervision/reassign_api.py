"""/api/v1/supervision/reassign and /api/v1/reassignments/{id}/acknowledge."""

from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields

from .. import access
from ..api.errors import problem
from ..api.io import invalid, json_object, request_body
from ..api.schemas import model_schema
from ..survivors.service import ValidationFailed
from . import reassign as service
from .api import blp
from .models import Reassignment

ReassignmentSchema = model_schema(Reassignment, "Reassignment")


class ReassignResult(Schema):
    items = fields.List(fields.Nested(ReassignmentSchema))


@blp.route("/supervision/reassign", methods=["POST"])
@blp.doc(**request_body({"type": "object", "required": ["survivor_ids", "to_user_id", "reason"],
                         "properties": {
                             "survivor_ids": {"type": "array", "items": {"type": "string",
                                                                         "format": "uuid"}},
                             "to_user_id": {"type": "string", "format": "uuid"},
                             "reason": {"type": "string", "maxLength": 2000}}}))
@blp.response(200, ReassignResult)
@blp.alt_response(403, schema="Problem", description="Not a supervisor")
@blp.alt_response(404, schema="Problem", description="A case outside the caller's team")
@blp.alt_response(422, schema="Problem", description="Bad list, target or reason")
def reassign():
    """Supervisors: move team cases to another active caseworker of the team, all or none."""
    access.require(current_user, "supervision.reassign")
    data = json_object()
    unknown = set(data) - {"survivor_ids", "to_user_id", "reason"}
    if unknown:
        return problem(422, "Some fields are not valid.",
                       errors={name: ["Unknown field."] for name in sorted(unknown)})
    try:
        moved = service.reassign(current_user, data.get("survivor_ids"),
                                 data.get("to_user_id"), data.get("reason"))
    except ValidationFailed as exc:
        return invalid(exc)
    return {"items": [access.present(current_user, r) for r in moved]}


@blp.route("/reassignments/<uuid:reassignment_id>/acknowledge", methods=["POST"])
@blp.response(200, ReassignmentSchema)
@blp.alt_response(404, schema="Problem", description="Not a reassignment to the caller")
def acknowledge(reassignment_id):
    """The new lead acknowledges the reassignment alert."""
    record = service.acknowledge(current_user, reassignment_id)
    return access.present(current_user, record)
