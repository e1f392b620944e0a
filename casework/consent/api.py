"""/api/v1 consent routes: a survivor's consent log, recording and withdrawing consent."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from .. import access
from ..api.errors import problem
from ..api.io import json_object as _json_object
from ..api.pagination import InvalidCursor, PageArgs
from ..api.schemas import model_schema
from ..survivors import service as survivors
from ..survivors.service import _CONTROL
from . import service
from .models import METHODS, Consent

blp = Blueprint("consent_api", __name__, url_prefix="/api/v1",
                description="The consent log. Records are never changed or deleted; a "
                "withdrawal is a new record.")

ConsentSchema = model_schema(Consent, "Consent")


class ConsentListSchema(Schema):
    items = fields.List(fields.Nested(ConsentSchema))
    next_cursor = fields.String(allow_none=True)


class WithdrawSchema(Schema):
    reason = fields.String(required=True, metadata={"description": "The survivor's reason "
                                                     "(sensitive; “not given” if none)."})
    method = fields.String(load_default=None, validate=validate.OneOf(METHODS.values),
                           metadata={"description": "How it was withdrawn (default verbal)."})


class ConsentFormSchema(Schema):
    version = fields.String()
    language = fields.String()
    text = fields.String()
    sha256 = fields.String()


_BODY_DOC = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Consent"}}}}}


@blp.route("/survivors/<uuid:survivor_id>/consents")
class SurvivorConsents(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ConsentListSchema)
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    def get(self, args, survivor_id):
        """The survivor's consent log, newest first."""
        survivor = survivors.get_for(current_user, survivor_id)
        try:
            rows, next_cursor = service.log_page(current_user, survivor, args["limit"],
                                                 args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": [access.present(current_user, c) for c in rows],
                "next_cursor": next_cursor}

    @blp.doc(**_BODY_DOC)
    @blp.response(201, ConsentSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self, survivor_id):
        """Record a consent decision (granted or refused)."""
        survivor = survivors.get_for(current_user, survivor_id)
        data = _json_object()
        try:
            consent = service.record(current_user, survivor, data)
        except service.ValidationFailed as exc:
            return problem(422, "Some fields are not valid.", errors=exc.errors)
        return access.present(current_user, consent)


@blp.route("/consents/<uuid:consent_id>")
@blp.response(200, ConsentSchema)
@blp.alt_response(404, schema="Problem", description="No such consent in the caller's scope")
def get_consent(consent_id):
    """One consent record."""
    consent = service.get_for(current_user, consent_id)
    return service.record_view(current_user, consent)


@blp.route("/consents/<uuid:consent_id>/withdraw", methods=["POST"])
@blp.arguments(WithdrawSchema)
@blp.response(201, ConsentSchema)
@blp.alt_response(404, schema="Problem", description="No such consent in the caller's scope")
@blp.alt_response(409, schema="Problem", description="Not a grant, or withdrawn already")
@blp.alt_response(422, schema="Problem", description="Invalid reason")
def withdraw_consent(args, consent_id):
    """Withdraw a granted consent: appends the withdrawal, in force at once. Letters issued on
    it show as withdrawn on the verification page."""
    consent = service.get_for(current_user, consent_id)
    try:
        withdrawal = service.withdraw(current_user, consent, args["reason"], args["method"])
    except service.ValidationFailed as exc:
        return problem(422, "Some fields are not valid.", errors=exc.errors)
    except service.Conflict as exc:
        return problem(409, str(exc))
    return access.present(current_user, withdrawal)


@blp.route("/consent-forms/<string:version>/<string:language>")
@blp.response(200, ConsentFormSchema)
@blp.alt_response(404, schema="Problem", description="No such version")
def consent_form(version, language):
    """The consent text of a version in a language (English when it has none), as stored."""
    access.require(current_user, "partners.read")  # staff: reference data
    if len(version) > 20 or len(language) > 3 or _CONTROL.search(version + language):
        return problem(404, "No consent text has this version.")
    try:
        return service.form_for(version, language)
    except service.ValidationFailed:
        return problem(404, "No consent text has this version.")


@blp.route("/consents/<uuid:consent_id>/receipt.pdf")
@blp.doc(responses={"200": {"description": "The consent receipt.", "content": {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
@blp.alt_response(404, schema="Problem", description="No such consent in the caller's scope")
def consent_receipt(consent_id):
    """A printable receipt of one consent record for the survivor, in their language."""
    from flask import Response

    from ..referrals.letters import consent_receipt_pdf

    consent = service.get_for(current_user, consent_id)
    return Response(consent_receipt_pdf(current_user, consent), mimetype="application/pdf")
