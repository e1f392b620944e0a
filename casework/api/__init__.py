"""The /api/v1 JSON API: flask-smorest blueprints, bearer tokens, problem+json errors."""

from __future__ import annotations

import http

from apispec import BasePlugin
from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from ..extensions import csrf
from .schemas import ProblemSchema

PROBLEM_JSON = "application/problem+json"


class CaseworkApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        # The app's own handler answers problem+json for /api/ (casework/web.py).
        pass

    def _register_responses(self):
        """The error responses every operation may give, documented as what they are:
        ``application/problem+json`` bodies (RFC 9457) of ``ProblemSchema``."""
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error, as RFC 9457 problem details.",
                    "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class ProblemContentPlugin(BasePlugin):
    """Documents every error response an operation declares (``alt_response(404, ...)``)
    with the content type it is served with: ``application/problem+json``."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content") if isinstance(response, dict) else None
                if str(status)[0] in "45" and content and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")


class ExamplesPlugin(BasePlugin):
    """Adds the request body examples of casework/api/examples.py to their operations."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        from .examples import REQUEST_EXAMPLES

        for method, operation in (operations or {}).items():
            example = REQUEST_EXAMPLES.get((path, method))
            content = operation.get("requestBody", {}).get("content", {})
            if example is not None and "application/json" in content:
                content["application/json"]["example"] = example


api = CaseworkApi(
    spec_kwargs={
        "info": {
            "description": "Casework JSON API. Every field a caller may not read is absent; "
            "a write naming a field the caller may not write is refused whole (403).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
    }
)


API_MODULES = (
    "casework.api.auth",
    "casework.survivors.api",
    "casework.referrals.api",
    "casework.shelters.api",
    "casework.counselling.api",
    "casework.training.api",
    "casework.legal.api",
    "casework.plans.api",
    "casework.me.api",
    "casework.consent.api",
    "casework.supervision.api",
    "casework.programmes.api",
    "casework.reports.api",
    "casework.retention.api",
)


def init_api(app: Flask) -> None:
    api.init_app(app)
    for plugin_class in (ProblemContentPlugin, ExamplesPlugin):
        if not any(isinstance(p, plugin_class) for p in api.spec.plugins):
            plugin = plugin_class()
            plugin.init_spec(api.spec)
            api.spec.plugins.append(plugin)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/token"}
    )
    import importlib

    for module in API_MODULES:
        blp = importlib.import_module(module).blp
        csrf.exempt(blp)  # bearer tokens, no cookies: nothing for CSRF to protect
        api.register_blueprint(blp)
