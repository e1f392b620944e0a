"""/api/v1 training routes: programmes (reference data) and survivors' enrolments."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..api.errors import problem
from ..api.io import invalid as _invalid
from ..api.io import json_object as _json_object
from ..api.pagination import InvalidCursor, PageArgs
from ..api.schemas import UTCTimestamp, model_schema
from ..survivors import service as survivors
from . import service
from .models import Enrolment

blp = Blueprint("training_api", __name__, url_prefix="/api/v1",
                description="Vocational training programmes and survivors' enrolments.")


class ProgrammeSchema(Schema):
    """Reference data: staff read it, admins write it."""

    class Meta:
        ordered = True

    id = fields.UUID(dump_only=True)
    name = fields.String(metadata={"maxLength": 200})
    provider_partner_id = fields.UUID(
        metadata={"description": "A partner offering vocational_training."})
    starts_on = fields.Date()
    ends_on = fields.Date()
    capacity = fields.Integer(metadata={"minimum": 1, "maximum": service.MAX_CAPACITY})
    places_taken = fields.Integer(dump_only=True,
                                  metadata={"description": "Enrolled or completed."})
    created_at = UTCTimestamp(dump_only=True)
    updated_at = UTCTimestamp(dump_only=True)


class ProgrammeListSchema(Schema):
    items = fields.List(fields.Nested(ProgrammeSchema))
    next_cursor = fields.String(allow_none=True)


EnrolmentSchema = model_schema(Enrolment, "Enrolment")


class EnrolmentListSchema(Schema):
    items = fields.List(fields.Nested(EnrolmentSchema))
    next_cursor = fields.String(allow_none=True)


PROGRAMME_KEYS = ("id", "name", "provider_partner_id", "starts_on", "ends_on", "capacity",
                  "created_at", "updated_at")


def _programme_body(programme, taken: int | None = None) -> dict:
    if taken is None:
        taken = service.places_taken([programme.id])[programme.id]
    return {**{name: getattr(programme, name) for name in PROGRAMME_KEYS},
            "places_taken": taken}


def _body_doc(schema: str) -> dict:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}}


# --- programmes ----------------------------------------------------------------------------------


@blp.route("/training-programmes")
class Programmes(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ProgrammeListSchema)
    @blp.alt_response(403, schema="Problem", description="Donors see no programmes")
    def get(self, args):
        """Training programmes, latest start first."""
        try:
            rows, next_cursor = service.programmes_page(current_user, args["limit"],
                                                        args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        taken = service.places_taken(p.id for p in rows)
        items = [_programme_body(p, taken[p.id]) for p in rows]
        return {"items": items, "next_cursor": next_cursor}

    @blp.doc(**_body_doc("Programme"))
    @blp.response(201, ProgrammeSchema)
    @blp.alt_response(403, schema="Problem", description="Only admins write programmes")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self):
        """Admins: add a programme."""
        service.require_role(current_user, service.PROGRAMME_WRITERS,
                              "training_programme.create")
        data = _json_object()
        try:
            programme = service.create_programme(current_user, data)
        except survivors.ValidationFailed as exc:
            return _invalid(exc)
        return _programme_body(programme)


@blp.route("/training-programmes/<uuid:programme_id>")
class ProgrammeItem(MethodView):
    @blp.response(200, ProgrammeSchema)
    @blp.alt_response(404, schema="Problem", description="No such programme")
    def get(self, programme_id):
        """One programme, with the places taken."""
        return _programme_body(service.get_programme(current_user, programme_id))

    @blp.doc(**_body_doc("Programme"))
    @blp.response(200, ProgrammeSchema)
    @blp.alt_response(403, schema="Problem", description="Only admins write programmes")
    @blp.alt_response(409, schema="Problem", description="Capacity below the places taken")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, programme_id):
        """Admins: change a programme."""
        programme = service.get_programme(current_user, programme_id)
        service.require_role(current_user, service.PROGRAMME_WRITERS,
                              "training_programme.update")
        data = _json_object()
        try:
            service.update_programme(current_user, programme, data)
        except survivors.ValidationFailed as exc:
            return _invalid(exc)
        except survivors.Conflict as exc:
            return problem(409, str(exc))
        return _programme_body(programme)


# --- enrolments ----------------------------------------------------------------------------------


@blp.route("/survivors/<uuid:survivor_id>/enrolments")
class SurvivorEnrolments(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, EnrolmentListSchema)
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    def get(self, args, survivor_id):
        """The survivor's enrolments, latest first; fields the caller may not read are
        absent."""
        survivor = survivors.get_for(current_user, survivor_id)
        try:
            items, next_cursor = service.enrolments_page(current_user, survivor, args["limit"],
                                                         args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": items, "next_cursor": next_cursor}

    @blp.doc(**_body_doc("Enrolment"))
    @blp.response(201, EnrolmentSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(409, schema="Problem",
                      description="The programme is full, or the survivor is enrolled already")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self, survivor_id):
        """Enrol the survivor: {"programme_id", "enrolled_on"?, "attendance_rate"?}."""
        survivor = survivors.get_for(current_user, survivor_id)
        data = _json_object()
        try:
            enrolment = service.enrol(current_user, survivor, data)
        except survivors.ValidationFailed as exc:
            return _invalid(exc)
        except survivors.Conflict as exc:
            return problem(409, str(exc))
        return service.view_enrolment(current_user, enrolment)


@blp.route("/enrolments/<uuid:enrolment_id>")
class EnrolmentItem(MethodView):
    @blp.response(200, EnrolmentSchema)
    @blp.alt_response(404, schema="Problem", description="No such enrolment in the caller's scope")
    def get(self, enrolment_id):
        """One enrolment."""
        enrolment = service.get_enrolment_for(current_user, enrolment_id)
        return service.view_enrolment(current_user, enrolment)

    @blp.doc(**_body_doc("Enrolment"))
    @blp.response(200, EnrolmentSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such enrolment in the caller's scope")
    @blp.alt_response(409, schema="Problem", description="Outcomes before completion")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, enrolment_id):
        """Change attendance, certification or employment outcomes (outcomes once completed;
        each employment outcome from its date, completed_on + 3 or + 6 months)."""
        enrolment = service.get_enrolment_for(current_user, enrolment_id)
        data = _json_object()
        try:
            service.update_enrolment(current_user, enrolment, data)
        except survivors.ValidationFailed as exc:
            return _invalid(exc)
        except survivors.Conflict as exc:
            return problem(409, str(exc))
        return service.view_enrolment(current_user, enrolment)


ACTION_BODIES = {
    "complete": {"type": "object", "required": ["on"], "additionalProperties": False,
                 "properties": {"on": {"type": "string", "format": "date"},
                                "certified": {"type": "boolean", "default": False}}},
    "withdraw": {"type": "object", "required": ["on"], "additionalProperties": False,
                 "properties": {"on": {"type": "string", "format": "date"},
                                "reason": {"type": ["string", "null"], "maxLength": 2000,
                                           "description": "Tier: sensitive (stored as "
                                                          "withdraw_reason)."}}},
}


def _action_doc(action: str) -> dict:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": ACTION_BODIES[action]}}}}


@blp.route("/enrolments/<uuid:enrolment_id>/complete", methods=["POST"])
@blp.doc(**_action_doc("complete"))
@blp.response(200, EnrolmentSchema)
@blp.alt_response(403, schema="Problem", description="The caller may not change the status")
@blp.alt_response(409, schema="Problem",
                  description="Completed or withdrawn already, or the programme has not started")
@blp.alt_response(422, schema="Problem", description="Invalid date")
def complete_enrolment(enrolment_id):
    """Mark the enrolment completed on a day ({"on", "certified"}), certified or not."""
    enrolment = service.get_enrolment_for(current_user, enrolment_id)
    data = _json_object()
    try:
        service.complete(current_user, enrolment, data.get("on"), data.get("certified", False),
                         unknown=set(data) - {"on", "certified"})
    except survivors.ValidationFailed as exc:
        return _invalid(exc)
    except survivors.Conflict as exc:
        return problem(409, str(exc))
    return service.view_enrolment(current_user, enrolment)


@blp.route("/enrolments/<uuid:enrolment_id>/withdraw", methods=["POST"])
@blp.doc(**_action_doc("withdraw"))
@blp.response(200, EnrolmentSchema)
@blp.alt_response(403, schema="Problem", description="The caller may not change the status "
                  "or give a (sensitive) reason")
@blp.alt_response(409, schema="Problem", description="Not an ongoing enrolment")
@blp.alt_response(422, schema="Problem", description="Invalid date or reason")
def withdraw_enrolment(enrolment_id):
    """Withdraw an ongoing enrolment on a day ({"on", "reason"}); the reason is optional."""
    enrolment = service.get_enrolment_for(current_user, enrolment_id)
    data = _json_object()
    try:
        service.withdraw(current_user, enrolment, data.get("on"), data.get("reason"),
                         unknown=set(data) - {"on", "reason"})
    except survivors.ValidationFailed as exc:
        return _invalid(exc)
    except survivors.Conflict as exc:
        return problem(409, str(exc))
    return service.view_enrolment(current_user, enrolment)
