"""/api/v1 support plan routes: /survivors/{id}/plan-items and /plan-items/{id}."""

from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..api.errors import problem
from ..api.io import invalid as _invalid
from ..api.io import json_object as _json_object
from ..api.pagination import InvalidCursor, PageArgs
from ..api.schemas import model_schema
from ..survivors import service as survivors
from . import service
from .models import PlanItem

blp = Blueprint("plans_api", __name__, url_prefix="/api/v1",
                description="Support plan items (HTCDS spl_Type). Overdue items appear in "
                            "GET /api/v1/me/alerts for their assignee.")

PlanItemSchema = model_schema(PlanItem, "PlanItem")


class PlanItemListSchema(Schema):
    items = fields.List(fields.Nested(PlanItemSchema))
    next_cursor = fields.String(allow_none=True)


BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/PlanItem"}}}}}


@blp.route("/survivors/<uuid:survivor_id>/plan-items")
class SurvivorPlanItems(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, PlanItemListSchema)
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    def get(self, args, survivor_id):
        """The survivor's support plan by due date; unreadable fields are absent."""
        survivor = survivors.get_for(current_user, survivor_id)
        try:
            items, next_cursor = service.items_page(current_user, survivor, args["limit"],
                                                    args["cursor"])
        except InvalidCursor as exc:
            return problem(400, str(exc), errors={"cursor": [str(exc)]})
        return {"items": items, "next_cursor": next_cursor}

    @blp.doc(**BODY)
    @blp.response(201, PlanItemSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such survivor in the caller's scope")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def post(self, survivor_id):
        """Add an item: {"type", "due_on", "objective"?, "assignee_id"? (default: the lead
        caseworker), "done_on"?}."""
        survivor = survivors.get_for(current_user, survivor_id)
        data = _json_object()
        try:
            item = service.create_item(current_user, survivor, data)
        except survivors.ValidationFailed as exc:
            return _invalid(exc)
        return service.view_item(current_user, item)


@blp.route("/plan-items/<uuid:item_id>")
class PlanItemResource(MethodView):
    @blp.response(200, PlanItemSchema)
    @blp.alt_response(404, schema="Problem", description="No such item in the caller's scope")
    def get(self, item_id):
        """One plan item."""
        return service.view_item(current_user, service.get_item_for(current_user, item_id))

    @blp.doc(**BODY)
    @blp.response(200, PlanItemSchema)
    @blp.alt_response(403, schema="Problem", description="A field the caller may not write")
    @blp.alt_response(404, schema="Problem", description="No such item in the caller's scope")
    @blp.alt_response(422, schema="Problem", description="Invalid fields")
    def patch(self, item_id):
        """Change some fields (e.g. {"done_on": "2026-03-01"}); refused whole if any named
        field may not be written."""
        item = service.get_item_for(current_user, item_id)
        data = _json_object()
        try:
            service.update_item(current_user, item, data)
        except survivors.ValidationFailed as exc:
            return _invalid(exc)
        return service.view_item(current_user, item)
