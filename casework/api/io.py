"""Reading request bodies and answering validation failures, the same way on every route."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from .errors import problem


def json_object() -> dict:
    """The request's JSON object; 400 for anything else (no body, broken JSON, a list)."""
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("Send a JSON object with Content-Type: application/json.")
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    return data


def invalid(exc):
    """422 problem+json naming every field a service refused (``ValidationFailed``)."""
    return problem(422, "Some fields are not valid.", errors=exc.errors)


def request_body(schema) -> dict:
    """OpenAPI documentation of a JSON request body (the service validates every value)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": schema}}}}
