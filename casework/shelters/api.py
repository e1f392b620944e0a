"""/api/v1/shelters and placements: shelters with their beds (staff read, admins write), the
occupancy board, and each survivor's placements (admit, transfer, discharge)."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from .. import access
from ..api.errors import problem
from ..api.io import invalid as _invalid
from ..api.io import json_object as _json_object
from ..api.io import request_body as _body
from ..api.pagination import PageArgs
from ..api.schemas import UTCTimestamp, model_schema
from ..survivors import service as survivors
from . import service
from .models import BED_RESTRICTIONS, Placement

blp = Blueprint("shelters_api", __name__, url_prefix="/api/v1",
                description="Shelters, beds, occupancy and placements of survivors.")

RESTRICTION = fields.String(validate=validate.OneOf(BED_RESTRICTIONS.values))


class BedSchema(Schema):
    id = fields.UUID(dump_only=True)
    label = fields.String(validate=validate.Length(min=1, max=40))
    restrictions = fields.List(RESTRICTION, metadata={
        "description": "women_only | men_only | adults_only | minors_only | "
                       "wheelchair_accessible"})
    active = fields.Boolean(metadata={"description": "In service (counts towards capacity)."})


class ShelterSchema(Schema):
    class Meta:
        ordered = True

    id = fields.UUID(dump_only=True)
    name = fields.String(validate=validate.Length(min=1, max=200))
    partner_id = fields.UUID(allow_none=True, metadata={
        "description": "The partner running the shelter; null for the organisation's own."})
    capacity = fields.Integer(dump_only=True, metadata={"description": "Beds in service."})
    occupied = fields.Integer(dump_only=True)
    free = fields.Integer(dump_only=True)
    beds = fields.List(fields.Nested(BedSchema))
    created_at = UTCTimestamp(dump_only=True)
    updated_at = UTCTimestamp(dump_only=True)


class ShelterListSchema(Schema):
    items = fields.List(fields.Nested(ShelterSchema))
    next_cursor = fields.String(allow_none=True)


class BoardSurvivor(Schema):
    case_number = fields.String()
    known_as = fields.String(allow_none=True)


class BoardPlacement(Schema):
    id = fields.UUID()
    survivor_id = fields.UUID()
    admitted_on = fields.Date()
    expected_discharge_on = fields.Date(allow_none=True)


class BoardBed(Schema):
    id = fields.UUID()
    label = fields.String()
    restrictions = fields.List(fields.String())
    occupied = fields.Boolean()
    placement = fields.Nested(BoardPlacement, metadata={
        "description": "The stay in this bed, as far as the caller may read it."})
    survivor = fields.Nested(BoardSurvivor, metadata={
        "description": "Case number and known-as name, only where the caller may read them."})


class ExpectedDischarge(Schema):
    bed_id = fields.UUID()
    label = fields.String()
    expected_discharge_on = fields.Date()


class OccupancySchema(Schema):
    class Meta:
        ordered = True

    shelter_id = fields.UUID()
    name = fields.String()
    capacity = fields.Integer()
    occupied = fields.Integer()
    free = fields.Integer()
    beds = fields.List(fields.Nested(BoardBed))
    expected_discharges = fields.List(fields.Nested(ExpectedDischarge))


PlacementSchema = model_schema(Placement, "Placement")


class PlacementListSchema(Schema):
    items = fields.List(fields.Nested(PlacementSchema))
    next_cursor = fields.String(allow_none=True)


class AdmitBody(Schema):
    shelter_id = fields.UUID(required=True)
    bed_id = fields.UUID(metadata={"description": "Omit to take the first free bed that suits."})
    admitted_on = fields.Date(required=True)
    expected_discharge_on = fields.Date()


class TransferBody(Schema):
    bed_id = fields.UUID(metadata={"description": "The bed to move to (or give shelter_id)."})
    shelter_id = fields.UUID(metadata={"description": "Move to the first free bed that suits."})
    on = fields.Date(required=True)


class DischargeBody(Schema):
    on = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class PlacementPatch(Schema):
    expected_discharge_on = fields.Date(allow_none=True)


class BedBody(Schema):
    label = fields.String(required=True, validate=validate.Length(min=1, max=40))
    restrictions = fields.List(RESTRICTION)
    active = fields.Boolean()


def _shelter_json(row: service.ShelterRow) -> dict:
    shelter = row.shelter
    return {
        "id": shelter.id, "name": shelter.name, "partner_id": shelter.partner_id,
        "capacity": row.capacity, "occupied": row.occupied, "free": row.free,
        "beds": [{"id": b.id, "label": b.label, "restrictions": list(b.restrictions or []),
                  "active": b.active} for b in shelter.beds],
        "created_at": shelter.created_at, "updated_at": shelter.updated_at,
    }


def _board_json(board: service.Board) -> dict:
    beds = []
    for row in board.rows:
        item = {"id": row.bed.id, "label": row.bed.label,
                "restrictions": list(row.bed.restrictions or []), "occupied": row.occupied}
        if row.stay:
            item["placement"] = row.stay
        if row.survivor:
            item["survivor"] = row.survivor
        beds.append(item)
    return {
        "shelter_id": board.shelter.id, "name": board.shelter.name,
        "capacity": board.capacity, "occupied": board.occupied, "free": board.free,
        "beds": beds,
        "expected_discharges": [{"bed_id": r.bed.id, "label": r.bed.label,
                                 "expected_discharge_on": r.stay["expected_discharge_on"]}
                                for r in board.expected_discharges],
    }


# --- shelters --------------------------------------------------------------------------------


@blp.route("/shelters")
class Shelters(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ShelterListSchema)
    @blp.alt_response(403, schema="Problem", description="Not staff")
    def get(self, args):
        """Every shelter by name, with its beds, capacity and occupancy (staff)."""
        try:
            rows, next_cursor = service.shelter_page(current_user, args["limit"], args["cursor"])
        except service.InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": [_shelter_json(r) for r in rows], "next_cursor": next_cursor}

    @blp.doc(**_body(ShelterSchema))
    @blp.response(201, ShelterSchema)
    @blp.alt_response(403, schema="Problem", description="Not an admin")
    @blp.alt_response(409, schema="Problem", description="Name taken concurrently")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self):
        """Create a shelter with its beds (admins)."""
        service.require_manager(current_user)
        try:
            shelter = service.create_shelter(current_user, _json_object())
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return problem(409, str(exc))
        return _shelter_json(service.shelter_row(shelter))


@blp.route("/shelters/<uuid:shelter_id>")
class ShelterItem(MethodView):
    @blp.response(200, ShelterSchema)
    @blp.alt_response(404, schema="Problem", description="No such shelter")
    def get(self, shelter_id):
        """One shelter with its beds."""
        shelter = service.get_shelter(current_user, shelter_id)
        return _shelter_json(service.shelter_row(shelter))

    @blp.doc(**_body(ShelterSchema))
    @blp.response(200, ShelterSchema)
    @blp.alt_response(403, schema="Problem", description="Not an admin")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, shelter_id):
        """Rename a shelter or change its partner (admins). Beds change one by one."""
        service.require_manager(current_user)
        shelter = service.get_shelter(current_user, shelter_id)
        try:
            service.update_shelter(current_user, shelter, _json_object())
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return problem(409, str(exc))
        return _shelter_json(service.shelter_row(shelter))


@blp.route("/shelters/<uuid:shelter_id>/beds", methods=["POST"])
@blp.doc(**_body(BedBody))
@blp.response(201, BedSchema)
@blp.alt_response(403, schema="Problem", description="Not an admin")
@blp.alt_response(422, schema="Problem", description="Invalid fields")
def add_bed(shelter_id):
    """Add a bed to a shelter (admins)."""
    service.require_manager(current_user)
    shelter = service.get_shelter(current_user, shelter_id)
    try:
        bed = service.add_bed(current_user, shelter, _json_object())
    except service.ValidationFailed as exc:
        return _invalid(exc)
    except service.Conflict as exc:
        return problem(409, str(exc))
    return bed


@blp.route("/shelters/<uuid:shelter_id>/beds/<uuid:bed_id>", methods=["PATCH"])
@blp.doc(**_body(BedBody))
@blp.response(200, BedSchema)
@blp.alt_response(403, schema="Problem", description="Not an admin")
@blp.alt_response(409, schema="Problem", description="Taking an occupied bed out of service")
@blp.alt_response(422, schema="Problem", description="Invalid fields")
def update_bed(shelter_id, bed_id):
    """Change a bed's label, restrictions or whether it is in service (admins)."""
    service.require_manager(current_user)
    shelter = service.get_shelter(current_user, shelter_id)
    bed = service.get_bed(current_user, shelter, bed_id)
    try:
        service.update_bed(current_user, bed, _json_object())
    except service.ValidationFailed as exc:
        return _invalid(exc)
    except service.Conflict as exc:
        return problem(409, str(exc))
    return bed


@blp.route("/shelters/<uuid:shelter_id>/occupancy", methods=["GET"])
@blp.response(200, OccupancySchema)
@blp.alt_response(403, schema="Problem", description="Not staff")
@blp.alt_response(404, schema="Problem", description="No such shelter")
def occupancy(shelter_id):
    """Who is in which bed, free beds and expected discharges. An occupant's case number and
    known-as name appear only where the caller may read them; otherwise the bed is just
    occupied."""
    shelter = service.get_shelter(current_user, shelter_id)
    return _board_json(service.occupancy(current_user, shelter))


# --- placements --------------------------------------------------------------------------------


@blp.route("/survivors/<uuid:survivor_id>/placements")
class SurvivorPlacements(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, PlacementListSchema)
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    def get(self, args, survivor_id):
        """The survivor's placements, latest admission first."""
        survivor = survivors.get_for(current_user, survivor_id)
        try:
            rows, next_cursor = service.placements_page(current_user, survivor, args["limit"],
                                                        args["cursor"])
        except service.InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": [access.present(current_user, p) for p in rows],
                "next_cursor": next_cursor}

    @blp.doc(**_body(AdmitBody))
    @blp.response(201, PlacementSchema)
    @blp.alt_response(403, schema="Problem", description="The caller may not place this survivor")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(409, schema="Problem", description="Shelter full, bed taken, or the "
                                                         "survivor is placed already")
    @blp.alt_response(422, schema="Problem", description="Invalid fields, or a bed whose "
                                                         "restrictions do not suit")
    def post(self, survivor_id):
        """Admit the survivor to a shelter: to the named bed, or the first free one that suits."""
        survivor = survivors.get_for(current_user, survivor_id)
        try:
            placement = service.admit(current_user, survivor, _json_object())
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return problem(409, str(exc))
        return access.present(current_user, placement)


@blp.route("/placements/<uuid:placement_id>")
class PlacementItem(MethodView):
    @blp.response(200, PlacementSchema)
    @blp.alt_response(404, schema="Problem", description="No such placement in the caller's scope")
    def get(self, placement_id):
        """One placement, with exactly the fields the caller may read."""
        placement = service.load_placement(current_user, placement_id)
        shown = access.present(current_user, placement)
        audit_read(placement, shown)
        return shown

    @blp.doc(**_body(PlacementPatch))
    @blp.response(200, PlacementSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such placement in the caller's scope")
    @blp.alt_response(409, schema="Problem", description="The placement has ended")
    @blp.alt_response(422, schema="Problem", description="Invalid fields, or a field changed "
                                                         "only by an action")
    def patch(self, placement_id):
        """Change the expected discharge date; everything else changes through admit,
        transfer and discharge."""
        placement = service.load_placement(current_user, placement_id)
        try:
            service.update_placement(current_user, placement, _json_object())
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return problem(409, str(exc))
        return access.present(current_user, placement)


def audit_read(placement: Placement, shown: dict) -> None:
    from .. import audit

    audit.record(current_user, "placement.viewed", placement.survivor, fields=sorted(shown))


@blp.route("/placements/<uuid:placement_id>/transfer", methods=["POST"])
@blp.doc(**_body(TransferBody))
@blp.response(200, PlacementSchema, description="The new placement")
@blp.alt_response(403, schema="Problem", description="The caller may not move this survivor")
@blp.alt_response(404, schema="Problem", description="No such placement in the caller's scope")
@blp.alt_response(409, schema="Problem", description="Placement ended, shelter full or bed taken")
@blp.alt_response(422, schema="Problem", description="Invalid fields")
def transfer(placement_id):
    """Move the survivor: the placement ends on ``on`` and a new one begins the same day."""
    placement = service.load_placement(current_user, placement_id)
    try:
        successor = service.transfer(current_user, placement, _json_object())
    except service.ValidationFailed as exc:
        return _invalid(exc)
    except service.Conflict as exc:
        return problem(409, str(exc))
    return access.present(current_user, successor)


@blp.route("/placements/<uuid:placement_id>/discharge", methods=["POST"])
@blp.doc(**_body(DischargeBody))
@blp.response(200, PlacementSchema)
@blp.alt_response(403, schema="Problem", description="The caller may not discharge")
@blp.alt_response(404, schema="Problem", description="No such placement in the caller's scope")
@blp.alt_response(409, schema="Problem", description="Discharged already")
@blp.alt_response(422, schema="Problem", description="Invalid fields, or discharge before "
                                                     "admission")
def discharge(placement_id):
    """End the placement on ``on`` with a reason."""
    placement = service.load_placement(current_user, placement_id)
    try:
        service.discharge(current_user, placement, _json_object())
    except service.ValidationFailed as exc:
        return _invalid(exc)
    except service.Conflict as exc:
        return problem(409, str(exc))
    return access.present(current_user, placement)
