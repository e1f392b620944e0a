"""/api/v1/survivors: the survivor record as other software sees it."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from .. import vocab
from ..access import present
from ..api.errors import problem
from ..api.io import invalid as _write_errors
from ..api.io import json_object as _json_object
from ..api.io import request_body
from ..api.pagination import InvalidCursor, PageArgs
from ..api.schemas import UTCTimestamp, model_schema
from . import service
from .models import CLOSED_STATUSES, Survivor

blp = Blueprint("survivors_api", __name__, url_prefix="/api/v1/survivors",
                description="Survivor records. Fields the caller may not read are absent.")

SurvivorSchema = model_schema(
    Survivor,
    "Survivor",
    overrides={
        "collaborator_ids": fields.List(fields.UUID(), metadata={"description":
                                                                "Tier: operational."}),
        "programme_ids": fields.List(fields.UUID(), metadata={
            "description": "Tier: operational. The funded programmes paying for the "
                           "survivor's services (GET /api/v1/programmes)."}),
    },
)


class SurvivorListSchema(Schema):
    items = fields.List(fields.Nested(SurvivorSchema))
    next_cursor = fields.String(allow_none=True)


class SurvivorListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(vocab.htcds(vocab.CASE_STATUS).values))
    risk_level = fields.String(validate=validate.OneOf(vocab.RISK_LEVELS.values))
    case_number = fields.String(validate=validate.Length(max=16))


class ReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CloseSchema(ReasonSchema):
    status = fields.String(load_default="Closed", validate=validate.OneOf(CLOSED_STATUSES))


class BreakGlassResponse(Schema):
    survivor_id = fields.UUID()
    expires_at = UTCTimestamp()


class AccessLogEntry(Schema):
    id = fields.Integer()
    occurred_at = UTCTimestamp()
    actor_id = fields.UUID(allow_none=True)
    actor_username = fields.String(allow_none=True)
    action = fields.String()
    channel = fields.String()
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")
    reason = fields.String(allow_none=True)


@blp.route("")
class Survivors(MethodView):
    @blp.arguments(SurvivorListArgs, location="query")
    @blp.response(200, SurvivorListSchema)
    def get(self, args):
        """The caller's caseload (supervisors: their team's), newest first."""
        filters = service.CaseloadFilters(
            status=args.get("status"), risk_level=args.get("risk_level"),
            case_number=args.get("case_number"),
        )
        try:
            rows, next_cursor = service.caseload_page(
                current_user, filters, args["limit"], args["cursor"]
            )
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": [shown for _survivor, shown in rows], "next_cursor": next_cursor}

    @blp.doc(requestBody={"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Survivor"}}}})
    @blp.response(201, SurvivorSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self):
        """Register a survivor; the caller becomes lead caseworker unless another is named."""
        data = _json_object()
        try:
            survivor = service.create(current_user, data)
        except service.ValidationFailed as exc:
            return _write_errors(exc)
        return service.record_view(current_user, survivor)


class DuplicateResult(Schema):
    matches = fields.List(fields.Dict(), metadata={
        "description": "Possible duplicates the caller may see: their readable fields."})
    other_matches = fields.Integer(metadata={
        "description": "Possible duplicates outside the caller's scope (ask a supervisor)."})


@blp.route("/duplicates", methods=["POST"])
@blp.doc(**request_body({"type": "object", "properties": {
    name: {"type": ["string", "null"], **({"format": "date"} if name == "date_of_birth" else {})}
    for name in service.DUPLICATE_FIELDS}}))
@blp.response(200, DuplicateResult)
@blp.alt_response(422, schema="Problem", description="Invalid fields")
def duplicates():
    """Search-before-create: possible duplicates of a survivor about to be registered,
    matched on blind indexes of names (also by sound), birth date and phone."""
    data = _json_object()
    try:
        in_scope, others = service.possible_duplicates(current_user, data)
    except service.ValidationFailed as exc:
        return _write_errors(exc)
    return {"matches": [present(current_user, s) for s in in_scope], "other_matches": others}


@blp.route("/matches", methods=["GET"])
@blp.doc(parameters=[{"in": "query", "name": name, "schema": {"type": "string"}}
                     for name in service.DUPLICATE_FIELDS])
@blp.response(200, DuplicateResult)
@blp.alt_response(422, schema="Problem", description="Invalid fields")
def matches():
    """The same search as ``POST /survivors/duplicates`` (API.md), with the values in the query
    string; prefer the POST, which keeps names out of URLs and server logs."""
    from flask import request

    data = {name: value for name, value in request.args.items()}
    try:
        in_scope, others = service.possible_duplicates(current_user, data)
    except service.ValidationFailed as exc:
        return _write_errors(exc)
    return {"matches": [present(current_user, s) for s in in_scope], "other_matches": others}


@blp.route("/<uuid:survivor_id>")
class SurvivorItem(MethodView):
    @blp.response(200, SurvivorSchema)
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    def get(self, survivor_id):
        """One survivor, with exactly the fields the caller may read."""
        survivor = service.get_for(current_user, survivor_id)
        return service.record_view(current_user, survivor)

    @blp.doc(requestBody={"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Survivor"}}}})
    @blp.response(200, SurvivorSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, survivor_id):
        """Change some fields; refused whole if any named field may not be written."""
        survivor = service.get_for(current_user, survivor_id)
        data = _json_object()
        try:
            service.update_record(current_user, survivor, data)
        except service.ValidationFailed as exc:
            return _write_errors(exc)
        return service.record_view(current_user, survivor)


@blp.route("/<uuid:survivor_id>/close", methods=["POST"])
@blp.arguments(CloseSchema)
@blp.response(200, SurvivorSchema)
@blp.alt_response(202, description="The organisation asks for a supervisor's approval: a "
                  "closure request (ClosureRequest) was created; the case stays open")
@blp.alt_response(409, schema="Problem", description="Already closed, or a request waits")
def close_survivor(args, survivor_id):
    """Close the case with a reason (status Closed or ClosedReferred)."""
    survivor = service.get_for(current_user, survivor_id)
    try:
        request = service.close(current_user, survivor, args["reason"], args["status"])
    except service.ValidationFailed as exc:
        return _write_errors(exc)
    except service.Conflict as exc:
        return problem(409, str(exc))
    if request is not None:
        from ..supervision.approvals_api import closure_request_response

        return closure_request_response(request, 202)
    return service.record_view(current_user, survivor)


@blp.route("/<uuid:survivor_id>/break-glass", methods=["POST"])
@blp.doc(**request_body({"type": "object", "required": ["reason"], "properties": {
    "reason": {"type": "string", "minLength": 10,
               "description": "Why the identifying fields are needed (audited)."}}}))
@blp.response(200, BreakGlassResponse)
@blp.alt_response(400, schema="Problem", description="No reason given")
def break_glass(survivor_id):
    """Supervisors: open the identifying fields of a team case, with a reason.

    The grant holds for this token only (no other token or web session of the user), until
    the token is revoked or `expires_at` (30 minutes by default), whichever comes first.
    """
    survivor = service.get_for(current_user, survivor_id)
    data = _json_object()
    try:
        grant = service.break_glass(current_user, survivor, data.get("reason"))
    except service.ValidationFailed as exc:
        return problem(400, "Give the reason for breaking the glass.", errors=exc.errors)
    return {"survivor_id": survivor.id, "expires_at": grant.expires_at}


@blp.route("/<uuid:survivor_id>/access-log", methods=["GET"])
@blp.response(200, AccessLogEntry(many=True))
def access_log(survivor_id):
    """Who opened or changed this record, when, and why (newest first)."""
    survivor = service.get_for(current_user, survivor_id)
    return service.access_log(current_user, survivor)


class TimelineItem(Schema):
    at = fields.Method("_at", metadata={"description": "Date (YYYY-MM-DD) or UTC timestamp."})
    kind = fields.String(metadata={"example": "placement.admitted"})
    title = fields.String()
    record_type = fields.String()
    record_id = fields.UUID(allow_none=True)
    fields_ = fields.Method("_fields", data_key="fields",
                            metadata={"description": "The record's fields the caller may read."})

    def _at(self, event):
        return _json_value(event.at)

    def _fields(self, event):
        return {name: _json_value(value) for name, value in event.fields.items()}


class TimelineSchema(Schema):
    items = fields.List(fields.Nested(TimelineItem))


def _json_value(value):
    """Plain JSON for a presented value: ids as strings, dates ISO, timestamps UTC with Z."""
    import uuid
    from datetime import UTC, date, datetime

    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


@blp.route("/<uuid:survivor_id>/timeline", methods=["GET"])
@blp.response(200, TimelineSchema)
@blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
def survivor_timeline(survivor_id):
    """Every service event of the survivor, newest first, as far as the caller may see."""
    from .timeline import timeline

    survivor = service.get_for(current_user, survivor_id)
    return {"items": timeline(current_user, survivor)}
