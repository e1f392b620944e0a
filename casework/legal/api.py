"""/api/v1 legal aid: a survivor's legal matters and their hearings."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..api.errors import problem
from ..api.io import invalid as _invalid
from ..api.io import json_object as _json_object
from ..api.io import request_body as _body
from ..api.pagination import InvalidCursor, PageArgs
from ..api.schemas import model_schema
from ..survivors import service as survivors
from . import service
from .models import LegalHearing, LegalMatter

blp = Blueprint("legal_api", __name__, url_prefix="/api/v1",
                description="Legal matters (immigration, criminal cases as witness, civil and "
                "labour claims, identity documents), the legal-aid partner, hearings, outcome.")

LegalMatterSchema = model_schema(
    LegalMatter, "LegalMatter",
    overrides={"next_hearing_on": fields.Date(dump_only=True, allow_none=True, metadata={
        "description": "Tier: operational. The earliest hearing from today on (derived)."})},
)
LegalHearingSchema = model_schema(LegalHearing, "LegalHearing")


class LegalMatterListSchema(Schema):
    items = fields.List(fields.Nested(LegalMatterSchema))
    next_cursor = fields.String(allow_none=True)


class LegalHearingListSchema(Schema):
    items = fields.List(fields.Nested(LegalHearingSchema))
    next_cursor = fields.String(allow_none=True)


class LegalMatterInput(Schema):
    kind = fields.String(required=True)
    status = fields.String(metadata={"description": "Default open."})
    partner_id = fields.UUID(allow_none=True, metadata={
        "description": "A partner offering legal_aid."})
    opened_on = fields.Date(required=True)
    outcome = fields.String(metadata={"description": "Default pending."})
    notes = fields.String(allow_none=True, metadata={"description": "Tier: sensitive."})


class LegalMatterPatch(Schema):
    kind = fields.String()
    status = fields.String()
    partner_id = fields.UUID(allow_none=True)
    opened_on = fields.Date()
    outcome = fields.String()
    notes = fields.String(allow_none=True)


class LegalHearingInput(Schema):
    scheduled_on = fields.Date(required=True, metadata={
        "description": "The day of the hearing, past or scheduled."})
    kind = fields.String(required=True)
    notes = fields.String(allow_none=True, metadata={"description": "Tier: sensitive."})


@blp.route("/survivors/<uuid:survivor_id>/legal-matters")
class SurvivorMatters(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, LegalMatterListSchema)
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    def get(self, args, survivor_id):
        """The survivor's legal matters, latest opened first."""
        survivor = survivors.get_for(current_user, survivor_id)
        try:
            rows, next_cursor = service.matters_page(current_user, survivor, args["limit"],
                                                     args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": service.present_matters(current_user, survivor, rows),
                "next_cursor": next_cursor}

    @blp.doc(**_body(LegalMatterInput))
    @blp.response(201, LegalMatterSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(409, schema="Problem", description="The case is closed")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self, survivor_id):
        """Open a legal matter."""
        survivor = survivors.get_for(current_user, survivor_id)
        data = _json_object()
        try:
            matter = service.open_matter(current_user, survivor, data)
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return problem(409, str(exc))
        return service.view_matter(current_user, matter)


@blp.route("/legal-matters/<uuid:matter_id>")
class MatterItem(MethodView):
    @blp.response(200, LegalMatterSchema)
    @blp.alt_response(404, schema="Problem", description="No such matter in the caller's scope")
    def get(self, matter_id):
        """One legal matter."""
        matter = service.get_matter(current_user, matter_id)
        return service.view_matter(current_user, matter)

    @blp.doc(**_body(LegalMatterPatch))
    @blp.response(200, LegalMatterSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such matter in the caller's scope")
    @blp.alt_response(409, schema="Problem",
                      description="The matter is closed, or the status cannot change so")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, matter_id):
        """Change some fields; refused whole if any named field may not be written."""
        matter = service.get_matter(current_user, matter_id)
        data = _json_object()
        try:
            service.update_matter(current_user, matter, data)
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return problem(409, str(exc))
        return service.view_matter(current_user, matter)


@blp.route("/legal-matters/<uuid:matter_id>/hearings")
class MatterHearings(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, LegalHearingListSchema)
    @blp.alt_response(404, schema="Problem", description="No such matter in the caller's scope")
    def get(self, args, matter_id):
        """The matter's hearings, earliest first."""
        matter = service.get_matter(current_user, matter_id)
        try:
            rows, next_cursor = service.hearings_page(current_user, matter, args["limit"],
                                                      args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": service.present_hearings(current_user, matter.survivor, rows),
                "next_cursor": next_cursor}

    @blp.doc(**_body(LegalHearingInput))
    @blp.response(201, LegalHearingSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such matter in the caller's scope")
    @blp.alt_response(409, schema="Problem", description="The matter is closed")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self, matter_id):
        """Add a hearing (past or scheduled) to the matter."""
        matter = service.get_matter(current_user, matter_id)
        data = _json_object()
        try:
            hearing = service.add_hearing(current_user, matter, data)
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return problem(409, str(exc))
        return service.view_hearing(current_user, hearing)
