"""/api/v1 counselling: engagements and sessions. Session notes are privileged: absent from
every answer to anyone outside the engagement's counsellors."""

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
from .models import CounsellingEngagement, CounsellingSession

blp = Blueprint("counselling_api", __name__, url_prefix="/api/v1",
                description="Counselling engagements and sessions. Session notes are "
                "privileged: only the counsellors of the engagement read them.")

EngagementSchema = model_schema(
    CounsellingEngagement, "CounsellingEngagement",
    overrides={"co_counsellor_ids": fields.List(fields.UUID(), metadata={
        "description": "Tier: operational. Other counsellors on the engagement."})},
)
SessionSchema = model_schema(CounsellingSession, "CounsellingSession")


class CounsellingEngagementListSchema(Schema):
    items = fields.List(fields.Nested(EngagementSchema))
    next_cursor = fields.String(allow_none=True)


class CounsellingSessionListSchema(Schema):
    items = fields.List(fields.Nested(SessionSchema))
    next_cursor = fields.String(allow_none=True)


class CounsellingEngagementInput(Schema):
    counsellor_id = fields.UUID(required=True)
    started_on = fields.Date(required=True)
    co_counsellor_ids = fields.List(fields.UUID())


class CounsellingEngagementPatch(Schema):
    started_on = fields.Date()
    co_counsellor_ids = fields.List(fields.UUID())


class CounsellingEngagementEnd(Schema):
    on = fields.Date(required=True, metadata={"description": "The day the engagement ended."})


class CounsellingSessionInput(Schema):
    engagement_id = fields.UUID(metadata={
        "description": "Needed only when the caller is on several open engagements."})
    held_on = fields.Date(required=True)
    duration_minutes = fields.Integer(required=True, metadata={"minimum": 1, "maximum": 600})
    modality = fields.String(required=True)
    language = fields.String(allow_none=True)
    interpreter_used = fields.Boolean()
    attended = fields.Boolean(metadata={"description": "false records a no-show."})
    notes = fields.String(allow_none=True)


class CounsellingSessionPatch(Schema):
    held_on = fields.Date()
    duration_minutes = fields.Integer(metadata={"minimum": 1, "maximum": 600})
    modality = fields.String()
    language = fields.String(allow_none=True)
    interpreter_used = fields.Boolean()
    attended = fields.Boolean()
    notes = fields.String(allow_none=True)


def _conflict(exc: service.Conflict):
    return problem(409, str(exc))


# --- engagements ---------------------------------------------------------------------------------


@blp.route("/survivors/<uuid:survivor_id>/counselling-engagements")
class SurvivorEngagements(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CounsellingEngagementListSchema)
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    def get(self, args, survivor_id):
        """The survivor's counselling engagements, latest started first."""
        survivor = survivors.get_for(current_user, survivor_id)
        try:
            rows, next_cursor = service.engagements_page(current_user, survivor, args["limit"],
                                                         args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": service.present_engagements(current_user, survivor, rows),
                "next_cursor": next_cursor}

    @blp.doc(**_body(CounsellingEngagementInput))
    @blp.response(201, EngagementSchema)
    @blp.alt_response(403, schema="Problem", description="The caller may not start engagements")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(409, schema="Problem",
                      description="The counsellor already has an open engagement, or the case "
                      "is closed")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self, survivor_id):
        """Start an engagement of a counsellor with the survivor (caseworkers, supervisors)."""
        survivor = survivors.get_for(current_user, survivor_id)
        data = _json_object()
        try:
            engagement = service.start_engagement(current_user, survivor, data)
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return _conflict(exc)
        return service.view_engagement(current_user, engagement)


@blp.route("/counselling-engagements/<uuid:engagement_id>")
class EngagementItem(MethodView):
    @blp.response(200, EngagementSchema)
    @blp.alt_response(404, schema="Problem", description="No such engagement in the caller's "
                      "scope")
    def get(self, engagement_id):
        """One engagement."""
        engagement = service.get_engagement(current_user, engagement_id)
        return service.view_engagement(current_user, engagement)

    @blp.doc(**_body(CounsellingEngagementPatch))
    @blp.response(200, EngagementSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such engagement in the caller's "
                      "scope")
    @blp.alt_response(409, schema="Problem", description="The engagement has ended")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, engagement_id):
        """Change the start date or the co-counsellors of an open engagement."""
        engagement = service.get_engagement(current_user, engagement_id)
        data = _json_object()
        try:
            service.update_engagement(current_user, engagement, data)
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return _conflict(exc)
        return service.view_engagement(current_user, engagement)


@blp.route("/counselling-engagements/<uuid:engagement_id>/end", methods=["POST"])
@blp.doc(**_body(CounsellingEngagementEnd))
@blp.response(200, EngagementSchema)
@blp.alt_response(403, schema="Problem", description="The caller may not end engagements")
@blp.alt_response(404, schema="Problem", description="No such engagement in the caller's scope")
@blp.alt_response(409, schema="Problem", description="The engagement has ended already")
@blp.alt_response(422, schema="Problem", description="Invalid date")
def end_engagement(engagement_id):
    """End an engagement on a day: no session can be added to it afterwards."""
    engagement = service.get_engagement(current_user, engagement_id)
    data = _json_object()
    unknown = sorted(set(data) - {"on"})
    if unknown:
        return problem(422, "Some fields are not valid.",
                       errors={name: ["Unknown field."] for name in unknown})
    try:
        service.end_engagement(current_user, engagement, data.get("on"))
    except service.ValidationFailed as exc:
        return _invalid(exc)
    except service.Conflict as exc:
        return _conflict(exc)
    return service.view_engagement(current_user, engagement)


# --- sessions ------------------------------------------------------------------------------------


@blp.route("/survivors/<uuid:survivor_id>/counselling-sessions")
class SurvivorSessions(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CounsellingSessionListSchema)
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    def get(self, args, survivor_id):
        """The survivor's sessions, latest first; notes only for the engagement's
        counsellors."""
        survivor = survivors.get_for(current_user, survivor_id)
        try:
            rows, next_cursor = service.sessions_page(current_user, survivor, args["limit"],
                                                      args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": service.present_sessions(current_user, survivor, rows),
                "next_cursor": next_cursor}

    @blp.doc(**_body(CounsellingSessionInput))
    @blp.response(201, SessionSchema)
    @blp.alt_response(403, schema="Problem",
                      description="Not a counsellor of an open engagement, or a field set by "
                      "the system")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(409, schema="Problem", description="No open engagement to record it on")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self, survivor_id):
        """Record a session (attended=false for a no-show) on the caller's open engagement."""
        survivor = survivors.get_for(current_user, survivor_id)
        data = _json_object()
        try:
            session = service.record_session(current_user, survivor, data)
        except service.ValidationFailed as exc:
            return _invalid(exc)
        except service.Conflict as exc:
            return _conflict(exc)
        return service.view_session(current_user, session)


@blp.route("/counselling-sessions/<uuid:session_id>")
class SessionItem(MethodView):
    @blp.response(200, SessionSchema)
    @blp.alt_response(404, schema="Problem", description="No such session in the caller's scope")
    def get(self, session_id):
        """One session; notes only for the engagement's counsellors."""
        session = service.get_session(current_user, session_id)
        return service.view_session(current_user, session)

    @blp.doc(**_body(CounsellingSessionPatch))
    @blp.response(200, SessionSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such session in the caller's scope")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, session_id):
        """Change some fields; refused whole if any named field may not be written."""
        session = service.get_session(current_user, session_id)
        data = _json_object()
        try:
            service.update_session(current_user, session, data)
        except service.ValidationFailed as exc:
            return _invalid(exc)
        return service.view_session(current_user, session)
