"""POST/DELETE /api/v1/auth/token."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from .. import audit
from ..auth import mfa, service
from .errors import problem
from .schemas import UTCTimestamp

blp = Blueprint("api_auth", __name__, url_prefix="/api/v1/auth",
                description="Bearer tokens for the API.")


class TokenRequest(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    otp = fields.String(validate=validate.Length(max=64), metadata={
        "description": "Required for users with two-step verification on: the 6-digit code "
                       "of their authenticator app, or one of their recovery codes. Each code "
                       "works once."})


class TokenUser(Schema):
    id = fields.UUID()
    username = fields.String()
    role = fields.String()


class TokenResponse(Schema):
    token = fields.String()
    expires_at = UTCTimestamp()
    user = fields.Nested(TokenUser)


@blp.route("/token")
class Token(MethodView):
    @blp.arguments(TokenRequest)
    @blp.response(200, TokenResponse)
    @blp.alt_response(401, schema="Problem", description="Wrong username, password or code")
    @blp.alt_response(403, schema="Problem",
                      description="The user's role must use two-step verification and they "
                                  "have not set it up (in the web app) yet")
    @blp.alt_response(429, schema="Problem", description="Too many attempts for this username")
    @blp.doc(security=[])
    def post(self, credentials):
        """Exchange a username and password (and a code, with two-step verification on) for a
        bearer token."""
        try:
            user = service.authenticate(credentials["username"], credentials["password"],
                                        credentials.get("otp"))
        except service.LoginThrottled:
            return problem(429, "Too many failed attempts for this username; wait a minute.")
        except service.InvalidCredentials:
            return problem(401, "The username, password or code is not correct.")
        if mfa.must_enrol(user):
            audit.record_denial(user, "auth.mfa_required")
            return problem(403, title="Two-step verification required",
                           detail="Your role must use two-step verification (MFA) and you have "
                                  "not set it up: log in to the web app, set it up at "
                                  "/me/mfa/enrol, then ask for a token again.")
        issued = service.issue_token(user, name="api")
        return {"token": issued.token, "expires_at": issued.record.expires_at,
                "user": {"id": user.id, "username": user.username, "role": user.role}}

    @blp.response(204)
    def delete(self):
        """Revoke the token this request is made with."""
        # This endpoint is public (for POST), so nothing has loaded the user yet: asking
        # current_user runs the token loader, which is what sets g.api_token.
        authenticated = current_user.is_authenticated
        token = getattr(g, "api_token", None)
        if token is None or not authenticated:
            return problem(401, "Send the token to revoke as the bearer token.")
        service.revoke_token(token)
        return None
