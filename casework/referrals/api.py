"""/api/v1/partners (the partner directory: staff read, admins write), /api/v1/referrals
(the referral workflow and its letters) and the public letter verification."""

from __future__ import annotations

import json

from flask import Response, current_app, request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import BadRequest

from .. import access, vocab
from ..api.errors import problem
from ..api.pagination import InvalidCursor, PageArgs
from ..api.schemas import model_schema
from ..extensions import limiter
from ..survivors import service as survivors
from ..survivors.service import ValidationFailed
from . import service
from .models import PARTNER_SERVICES, REFERRAL_STATUSES, Referral

blp = Blueprint("referrals_api", __name__, url_prefix="/api/v1",
                description="Partner organisations, referrals and referral letters.")


class PartnerSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(validate=validate.Length(min=1, max=200))
    services = fields.List(fields.String(validate=validate.OneOf(PARTNER_SERVICES.values)))
    languages = fields.List(fields.String(validate=validate.OneOf(vocab.languages().values)))
    accepting_referrals = fields.Boolean()
    contact_email = fields.String(allow_none=True, validate=validate.Length(max=254))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))


class PartnerListSchema(Schema):
    items = fields.List(fields.Nested(PartnerSchema))
    next_cursor = fields.String(allow_none=True)


class PartnerListArgs(Schema):
    services = fields.String(validate=validate.OneOf(PARTNER_SERVICES.values),
                             metadata={"description": "Only partners offering this service."})


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object with Content-Type: application/json.")
    return data


_BODY_DOC = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Partner"}}}}}


@blp.route("/partners")
class Partners(MethodView):
    @blp.arguments(PartnerListArgs, location="query")
    @blp.response(200, PartnerListSchema)
    def get(self, args):
        """The partner directory (the directory is small: one page)."""
        return {"items": service.list_partners(current_user, args.get("services")),
                "next_cursor": None}

    @blp.doc(**_BODY_DOC)
    @blp.response(201, PartnerSchema)
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self):
        """Admins: add a partner."""
        try:
            return service.create(current_user, _body())
        except ValidationFailed as exc:
            return problem(422, "Some fields are not valid.", errors=exc.errors)


@blp.route("/partners/<uuid:partner_id>")
class PartnerItem(MethodView):
    @blp.response(200, PartnerSchema)
    @blp.alt_response(404, schema="Problem", description="No such partner")
    def get(self, partner_id):
        return service.get(current_user, partner_id)

    @blp.doc(**_BODY_DOC)
    @blp.response(200, PartnerSchema)
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, partner_id):
        """Admins: change a partner (e.g. not accepting referrals while full)."""
        partner = service.get(current_user, partner_id)
        try:
            service.update(current_user, partner, _body())
        except ValidationFailed as exc:
            return problem(422, "Some fields are not valid.", errors=exc.errors)
        return partner


# --- referrals -----------------------------------------------------------------------------------

ReferralSchema = model_schema(Referral, "Referral")


class ReferralListSchema(Schema):
    items = fields.List(fields.Nested(ReferralSchema))
    next_cursor = fields.String(allow_none=True)


class ReferralListArgs(PageArgs):
    survivor_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES.values))
    partner_id = fields.UUID()


class ActionSchema(Schema):
    reason = fields.String(load_default=None, allow_none=True, metadata={
        "description": "Required for decline (the partner's reason) and withdraw."})


class VerificationSchema(Schema):
    reference = fields.String()
    valid = fields.Boolean(metadata={"description": "A letter with this reference and code "
                                                    "was issued."})
    organisation = fields.String()
    issued_on = fields.Date()
    status = fields.String(metadata={"description": "valid | withdrawn (consent withdrawn) | "
                                                    "revoked (referral withdrawn)"})
    revoked = fields.Boolean()
    revoked_on = fields.Date(allow_none=True)


class VerifyArgs(Schema):
    code = fields.String(load_default="", validate=validate.Length(max=40))


def _conflict(exc: ValidationFailed | Exception):
    response = problem(409, str(exc))
    if isinstance(exc, service.MissingConsent):
        body = response.get_json()
        body["missing_consent"] = {"purpose": exc.purpose, "partner_id": str(exc.partner_id)}
        response.set_data(json.dumps(body))
    return response


_REFERRAL_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Referral"}}}}}


@blp.route("/referrals")
class Referrals(MethodView):
    @blp.arguments(ReferralListArgs, location="query")
    @blp.response(200, ReferralListSchema)
    def get(self, args):
        """Referrals of the survivors in the caller's scope, newest first."""
        filters = service.ReferralFilters(survivor_id=args.get("survivor_id"),
                                          status=args.get("status"),
                                          partner_id=args.get("partner_id"))
        try:
            rows, next_cursor = service.list_page(current_user, filters, args["limit"],
                                                  args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": [access.present(current_user, r) for r in rows],
                "next_cursor": next_cursor}

    @blp.doc(**_REFERRAL_BODY)
    @blp.response(201, ReferralSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(422, schema="Problem", description="Invalid fields, or the partner is "
                                                         "not accepting referrals")
    def post(self):
        """Draft a referral: {"survivor_id", "partner_id", "service", "reason", "language"}."""
        data = dict(_body())
        survivor = survivors.load(data.pop("survivor_id", None)) if isinstance(
            data.get("survivor_id"), str) else None
        if survivor is None:
            return problem(422, "Some fields are not valid.",
                           errors={"survivor_id": ["Give the id of a survivor."]})
        access.require(current_user, "survivor.read", survivor)
        try:
            referral = service.create_referral(current_user, survivor, data)
        except ValidationFailed as exc:
            return problem(422, "Some fields are not valid.", errors=exc.errors)
        return access.present(current_user, referral)


@blp.route("/referrals/<uuid:referral_id>")
class ReferralItem(MethodView):
    @blp.response(200, ReferralSchema)
    @blp.alt_response(404, schema="Problem", description="No such referral in the caller's scope")
    def get(self, referral_id):
        """One referral, with the fields the caller may read."""
        return service.record_view(current_user, service.get_for(current_user, referral_id))

    @blp.doc(**_REFERRAL_BODY)
    @blp.response(200, ReferralSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(409, schema="Problem", description="Not a draft any more")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, referral_id):
        """Change a draft referral."""
        referral = service.get_for(current_user, referral_id)
        try:
            service.update_draft(current_user, referral, _body())
        except ValidationFailed as exc:
            return problem(422, "Some fields are not valid.", errors=exc.errors)
        except service.Conflict as exc:
            return _conflict(exc)
        return service.record_view(current_user, referral)


def _action_view(action: str):
    def view(args, referral_id):
        referral = service.get_for(current_user, referral_id)
        try:
            service.act(current_user, referral, action, args.get("reason"))
        except ValidationFailed as exc:
            return problem(422, "Some fields are not valid.", errors=exc.errors)
        except service.Conflict as exc:
            return _conflict(exc)
        return service.record_view(current_user, referral)

    view.__name__ = f"referral_{action}"
    view.__doc__ = {
        "submit": "Submit a draft: awaiting approval, or approved when the organisation "
                  "does not ask for approval.",
        "approve": "Supervisors of the team: approve a submitted referral.",
        "return": "Supervisors of the team: return a submitted referral to draft with a "
                  "comment (reason) saying what to change.",
        "issue": "Issue the letter. Needs a current referral_sharing consent for the partner "
                 "(else 409 with missing_consent) and a partner accepting referrals.",
        "accept": "Record that the partner accepted the referral.",
        "decline": "Record that the partner declined, with their reason.",
        "complete": "Mark an accepted referral completed.",
        "withdraw": "Withdraw the referral (any time before it ends), with a reason; an "
                    "issued letter then shows as revoked.",
    }[action]
    return view


for _action in service.ACTIONS:
    blp.route(f"/referrals/<uuid:referral_id>/{_action}", methods=["POST"])(
        blp.alt_response(422, schema="Problem", description="Reason missing or invalid")(
            blp.alt_response(409, schema="Problem", description="Not allowed in this state")(
                blp.alt_response(404, schema="Problem", description="No such referral")(
                    blp.response(200, ReferralSchema)(
                        blp.arguments(ActionSchema)(_action_view(_action)))))))


@blp.route("/referrals/<uuid:referral_id>/letter.pdf")
@blp.doc(responses={"200": {"description": "The letter exactly as issued.", "content": {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
@blp.alt_response(404, schema="Problem", description="No such referral, or no letter")
def referral_letter(referral_id):
    """The issued letter (PDF), byte for byte as issued; each download is audited."""
    referral = service.get_for(current_user, referral_id)
    pdf = service.letter_pdf(current_user, referral)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{referral.reference}.pdf"'})


def verify_limit() -> str:
    return current_app.config.get("LETTER_VERIFY_LIMIT", "30 per minute")


@blp.route("/letters/verify/<string:reference>")
@limiter.limit(verify_limit)
@blp.arguments(VerifyArgs, location="query")
@blp.response(200, VerificationSchema)
@blp.doc(security=[])
def verify_letter(args, reference):
    """No login: was a letter with this reference and code issued, by which organisation, on
    which date, and is it revoked? Nothing about the person it concerns."""
    result = service.verify_letter(reference, args["code"])
    if not result.valid:
        return {"reference": result.reference, "valid": False}
    return {"reference": result.reference, "valid": True, "organisation": result.organisation,
            "issued_on": result.issued_on, "status": result.status, "revoked": result.revoked,
            "revoked_on": result.revoked_on}
