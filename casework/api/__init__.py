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


def init_api(app: Flask) -> None:
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/token"}
    )
    from ..survivors.api import blp as survivors_blp
    from .auth import blp as auth_blp

    for blp in (auth_blp, survivors_blp):
        csrf.exempt(blp)  # bearer tokens, no cookies: nothing for CSRF to protect
        api.register_blueprint(blp)
