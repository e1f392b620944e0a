"""RFC 9457 problem details for every API error."""

from __future__ import annotations

from flask import jsonify
from werkzeug.http import HTTP_STATUS_CODES

PROBLEM_TYPE = "about:blank"


def problem(status: int, detail: str | None = None, *, title: str | None = None,
            errors: dict | None = None, fields: list[str] | None = None,
            extra: dict | None = None):
    body = {
        "type": PROBLEM_TYPE,
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": str(detail) if detail else HTTP_STATUS_CODES.get(status, "Error"),
    }
    if errors:
        body["errors"] = errors
    if fields:
        body["fields"] = list(fields)
    if extra:
        body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def flatten_messages(messages) -> dict[str, list[str]]:
    """Webargs/marshmallow messages ({"json": {"field": [...]}}) as {"field": [...]}."""
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "querystring", "form",
                                                        "headers", "view_args", "path"}:
        merged: dict = {}
        for part in messages.values():
            merged.update(flatten_messages(part))
        return merged
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(value, dict):
                for sub_key, sub_value in flatten_messages(value).items():
                    out[f"{key}.{sub_key}"] = sub_value
            elif isinstance(value, list):
                out[str(key)] = [str(v) for v in value]
            else:
                out[str(key)] = [str(value)]
    elif isinstance(messages, list):
        out["_schema"] = [str(v) for v in messages]
    return out
