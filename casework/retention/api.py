"""/api/v1: erasure requests (record, approve, refuse, certificate) and subject access."""

from __future__ import annotations

from flask import Response, jsonify
from flask_login import current_user
from flask_smorest import Blueprint

from ..api.errors import problem
from ..api.io import invalid, json_object, request_body
from ..api.schemas import model_schema
from ..survivors import service as survivors
from ..survivors.service import Conflict, ValidationFailed
from . import service
from .models import ErasureRequest

blp = Blueprint("retention_api", __name__, url_prefix="/api/v1",
                description="Erasure on request, deletion certificates and subject access.")

ErasureRequestSchema = model_schema(ErasureRequest, "ErasureRequest")


def _unknown(data: dict, allowed: set[str]):
    unknown = set(data) - allowed
    if unknown:
        return problem(422, "Some fields are not valid.",
                       errors={name: ["Unknown field."] for name in sorted(unknown)})
    return None


def _response(request: ErasureRequest, status: int = 200):
    response = jsonify(ErasureRequestSchema().dump(service.record_view(current_user, request)))
    response.status_code = status
    return response


@blp.route("/survivors/<uuid:survivor_id>/erasure-requests", methods=["POST"])
@blp.doc(**request_body({"type": "object", "required": ["reason"], "properties": {
    "reason": {"type": "string", "maxLength": 2000},
    "requested_on": {"type": "string", "format": "date"}}}))
@blp.response(201, ErasureRequestSchema)
@blp.alt_response(403, schema="Problem", description="Not an assigned caseworker")
@blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
@blp.alt_response(409, schema="Problem", description="Already pending, or already erased")
@blp.alt_response(422, schema="Problem", description="No reason, or an invalid value")
def request_erasure(survivor_id):
    """Assigned caseworkers: record that the survivor asks to be erased (a supervisor of the
    team decides)."""
    survivor = survivors.get_for(current_user, survivor_id, "erasure.request")
    data = json_object()
    refused = _unknown(data, {"reason", "requested_on"})
    if refused is not None:
        return refused
    try:
        request = service.request_erasure(current_user, survivor, data.get("reason"),
                                          data.get("requested_on"))
    except ValidationFailed as exc:
        return invalid(exc)
    except Conflict as exc:
        return problem(409, str(exc))
    return _response(request, 201)


@blp.route("/erasure-requests/<uuid:request_id>", methods=["GET"])
@blp.response(200, ErasureRequestSchema)
@blp.alt_response(404, schema="Problem", description="No such request in the caller's scope")
def erasure_request(request_id):
    """One erasure request, with the fields the caller may read."""
    return service.record_view(current_user, service.get_for(current_user, request_id))


@blp.route("/erasure-requests/<uuid:request_id>/approve", methods=["POST"])
@blp.response(200, ErasureRequestSchema)
@blp.alt_response(403, schema="Problem", description="Not a supervisor of the team")
@blp.alt_response(404, schema="Problem", description="No such request in the caller's scope")
@blp.alt_response(409, schema="Problem", description="Already decided")
def approve(request_id):
    """Supervisors of the team: approve. The survivor's identifying data and the free text of
    their records are destroyed now; the deletion certificate is issued."""
    request = service.get_for(current_user, request_id, "erasure.decide")
    try:
        service.approve(current_user, request)
    except Conflict as exc:
        return problem(409, str(exc))
    return service.record_view(current_user, request)


@blp.route("/erasure-requests/<uuid:request_id>/refuse", methods=["POST"])
@blp.doc(**request_body({"type": "object", "required": ["comment"], "properties": {
    "comment": {"type": "string", "maxLength": 2000}}}))
@blp.response(200, ErasureRequestSchema)
@blp.alt_response(403, schema="Problem", description="Not a supervisor of the team")
@blp.alt_response(404, schema="Problem", description="No such request in the caller's scope")
@blp.alt_response(409, schema="Problem", description="Already decided")
@blp.alt_response(422, schema="Problem", description="No comment, or an invalid one")
def refuse(request_id):
    """Supervisors of the team: refuse with a comment; nothing is erased."""
    request = service.get_for(current_user, request_id, "erasure.decide")
    data = json_object()
    refused = _unknown(data, {"comment"})
    if refused is not None:
        return refused
    try:
        service.refuse(current_user, request, data.get("comment"))
    except ValidationFailed as exc:
        return invalid(exc)
    except Conflict as exc:
        return problem(409, str(exc))
    return service.record_view(current_user, request)


@blp.route("/erasure-requests/<uuid:request_id>/certificate.pdf")
@blp.doc(responses={"200": {"description": "The deletion certificate (no identifying data).",
                            "content": {"application/pdf": {"schema": {
                                "type": "string", "format": "binary"}}}}})
@blp.alt_response(404, schema="Problem", description="No such approved request in scope")
def certificate(request_id):
    """The deletion certificate of an approved request; each download is audited."""
    request = service.get_for(current_user, request_id, "erasure.certificate")
    pdf = service.certificate_for(current_user, request)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="deletion-certificate-'
                               f'{request.survivor.case_number}.pdf"'})


@blp.route("/survivors/<uuid:survivor_id>/subject-access")
@blp.doc(responses={"200": {"description": "Everything held about the survivor: the record, "
                            "records about them, letters, consents and the access log "
                            "(privileged counselling notes are listed as withheld).",
                            "content": {"application/json": {"schema": {"type": "object"}}}}})
@blp.alt_response(403, schema="Problem", description="Not the assigned caseworker or the "
                  "team's supervisor")
@blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
def subject_access(survivor_id):
    """The survivor's own data export (subject access), audited."""
    survivor = survivors.get_for(current_user, survivor_id, "survivor.subject_access")
    return Response(service.subject_access_json(service.subject_access(current_user, survivor)),
                    mimetype="application/json")
