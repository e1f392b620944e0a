"""/api/v1/programmes: funded programmes (staff and admins read, admins write, donors read the
programmes they fund)."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from .. import access
from ..api.errors import problem
from ..api.io import invalid as _invalid
from ..api.io import json_object as _json_object
from ..api.io import request_body
from ..api.pagination import InvalidCursor, PageArgs
from ..survivors.service import ValidationFailed
from . import service

blp = Blueprint("programmes_api", __name__, url_prefix="/api/v1",
                description="Funded programmes: what donors fund, and the survivors' services "
                            "they pay for.")


# Named "FundedProgramme" in the OpenAPI document: "Programme" is a training programme.
class FundedProgrammeSchema(Schema):
    """A programme funded by donors. Reference data: staff read it, admins write it, a donor
    reads the programmes it funds."""

    class Meta:
        ordered = True

    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, metadata={"maxLength": service.MAX_NAME,
                                                  "description": "Unique."})
    donor_ids = fields.List(fields.UUID(), metadata={
        "description": "Donor users funding it (active accounts with role donor). A donor "
                       "caller sees only its own id here."})
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(allow_none=True, metadata={
        "description": "On or after starts_on; null while open-ended."})


class FundedProgrammeListSchema(Schema):
    items = fields.List(fields.Nested(FundedProgrammeSchema))
    next_cursor = fields.String(allow_none=True)


def _body(programme) -> dict:
    return {"id": programme.id, "name": programme.name,
            "donor_ids": service.donor_ids_shown(current_user, programme),
            "starts_on": programme.starts_on, "ends_on": programme.ends_on}


_BODY_DOC = request_body({"$ref": "#/components/schemas/FundedProgramme"})


@blp.route("/programmes")
class Programmes(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, FundedProgrammeListSchema)
    @blp.alt_response(400, schema="Problem", description="A cursor this API did not give out")
    def get(self, args):
        """Programmes the caller may read, by name (a donor: the programmes it funds)."""
        try:
            rows, next_cursor = service.list_page(current_user, args["limit"], args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": [_body(p) for p in rows], "next_cursor": next_cursor}

    @blp.doc(**_BODY_DOC)
    @blp.response(201, FundedProgrammeSchema)
    @blp.alt_response(403, schema="Problem", description="Only admins write programmes")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self):
        """Admins: add a programme {"name", "starts_on", "ends_on"?, "donor_ids"?}."""
        access.require(current_user, "programmes.write")
        data = _json_object()
        try:
            programme = service.create(current_user, data)
        except ValidationFailed as exc:
            return _invalid(exc)
        return _body(programme)


@blp.route("/programmes/<uuid:programme_id>")
class ProgrammeItem(MethodView):
    @blp.response(200, FundedProgrammeSchema)
    @blp.alt_response(404, schema="Problem", description="No such programme, or not one the "
                                                         "caller funds (donors)")
    def get(self, programme_id):
        """One programme."""
        return _body(service.get(current_user, programme_id))

    @blp.doc(**_BODY_DOC)
    @blp.response(200, FundedProgrammeSchema)
    @blp.alt_response(403, schema="Problem", description="Only admins write programmes")
    @blp.alt_response(404, schema="Problem", description="No such programme in the caller's "
                                                         "scope")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, programme_id):
        """Admins: change some fields of a programme."""
        programme = service.get(current_user, programme_id)
        access.require(current_user, "programmes.write")
        data = _json_object()
        try:
            service.update(current_user, programme, data)
        except ValidationFailed as exc:
            return _invalid(exc)
        return _body(programme)
