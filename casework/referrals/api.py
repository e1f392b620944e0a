"""/api/v1/partners (and, later, referrals)."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("referrals_api", __name__, url_prefix="/api/v1", description="Partners.")
