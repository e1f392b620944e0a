"""/api-reference: the JSON API's reference for the people who integrate with it.

Rendered on the server from the same OpenAPI 3.1 document ``/api/v1/openapi.json`` serves
(generated from the code's schemas by flask-smorest), so the page cannot drift from the API.
No JavaScript: operations are grouped by resource, each with its parameters, request body
fields, responses and examples; ``$ref`` references are resolved here.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from .. import access

bp = Blueprint("apidocs", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(document: dict, node):
    """``node`` with a top-level ``$ref`` replaced by what it points at."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        target = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node, seen = target, seen + 1
    return node


def _type_of(document: dict, schema: dict) -> str:
    """A short human description of a JSON schema's type: ``string (date)``, ``list of
    string``, ``Survivor``, ``one of: a, b``."""
    if not schema:
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kinds = schema.get("type", "object")
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null"]
    kind = kinds[0] if kinds else "null"
    if kind == "array":
        return "list of " + _type_of(document, schema.get("items", {}))
    text = kind + (f" ({schema['format']})" if "format" in schema else "")
    return text


def _fields(document: dict, schema: dict | None) -> list[dict]:
    """The properties of an object schema as rows for a table."""
    schema = _resolve(document, schema or {})
    if schema.get("type") == "array":
        schema = _resolve(document, schema.get("items", {}))
    rows = []
    required = set(schema.get("required", []))
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if "$ref" in prop else _resolve(document, prop)
        enum = [v for v in prop.get("enum", []) if v is not None]
        items = _resolve(document, prop.get("items", {})) if prop.get("type") == "array" \
            or "array" in (prop.get("type") or []) else {}
        enum = enum or [v for v in items.get("enum", []) if v is not None]
        rows.append({
            "name": name,
            "type": _type_of(document, prop),
            "required": name in required,
            "read_only": prop.get("readOnly", False),
            "nullable": "null" in (prop.get("type") or []) if isinstance(prop.get("type"),
                                                                          list) else False,
            "enum": enum,
            "description": prop.get("description", ""),
            "example": prop.get("example"),
        })
    return rows


def _body_schema(document: dict, holder: dict | None) -> tuple[str | None, dict | None]:
    holder = _resolve(document, holder or {})
    for content_type, media in (holder.get("content") or {}).items():
        return content_type, media.get("schema")
    return None, None


def _reference(document: dict) -> dict:
    """The document regrouped for the page: resources, their operations, the schemas."""
    tags = {tag["name"]: {"name": tag["name"], "description": tag.get("description", ""),
                          "operations": []} for tag in document.get("tags", [])}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            content_type, request_schema = _body_schema(document, operation.get("requestBody"))
            responses = []
            for status, response in operation.get("responses", {}).items():
                response_type, response_schema = _body_schema(document, response)
                responses.append({
                    "status": status,
                    "description": _resolve(document, response).get("description", ""),
                    "content_type": response_type,
                    "type": _type_of(document, response_schema or {}),
                })
            parameters = [_resolve(document, p) for p in item.get("parameters", [])
                          + operation.get("parameters", [])]
            entry = {
                "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                "method": method.upper(),
                "path": path,
                "summary": operation.get("summary", ""),
                "description": operation.get("description", ""),
                "public": operation.get("security") == [] or path.endswith("/openapi.json"),
                "parameters": [{
                    "name": p["name"], "in": p["in"], "required": p.get("required", False),
                    "type": _type_of(document, p.get("schema", {})),
                    "enum": [v for v in p.get("schema", {}).get("enum", []) if v is not None],
                    "description": p.get("description", ""),
                } for p in parameters],
                "request_type": content_type,
                "request_fields": _fields(document, request_schema),
                "responses": sorted(responses, key=lambda r: (r["status"] == "default",
                                                              r["status"])),
            }
            tag = (operation.get("tags") or ["other"])[0]
            tags.setdefault(tag, {"name": tag, "description": "", "operations": []})
            tags[tag]["operations"].append(entry)
    schemas = {name: _fields(document, schema)
               for name, schema in document.get("components", {}).get("schemas", {}).items()}
    return {
        "info": document.get("info", {}),
        "version": document.get("openapi"),
        "tags": [tag for tag in tags.values() if tag["operations"]],
        "schemas": dict(sorted(schemas.items())),
        "security": document.get("components", {}).get("securitySchemes", {}),
    }


@bp.route("/api-reference")
def reference():
    """Every operation of /api/v1, for staff who integrate other software with Casework."""
    access.require(current_user, "api.reference")
    # The document is fixed once the app has started: regrouped once per process.
    cached = current_app.extensions.get("casework.api_reference")
    if cached is None:
        from ..api import api

        cached = current_app.extensions["casework.api_reference"] = _reference(
            api.spec.to_dict())
    return render_template("apidocs/reference.html", ref=cached)
