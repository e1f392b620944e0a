"""The /api/v1 JSON API: flask-smorest blueprints, bearer tokens, problem+json errors."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from ..extensions import csrf
from .schemas import ProblemSchema


class CaseworkApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        # The app's own handler answers problem+json for /api/ (casework/web.py).
        pass


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
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/token"}
    )
    import importlib

    for module in API_MODULES:
        blp = importlib.import_module(module).blp
        csrf.exempt(blp)  # bearer tokens, no cookies: nothing for CSRF to protect
        api.register_blueprint(blp)
