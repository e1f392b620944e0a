"""The landing page: each role starts where its work is."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
from flask_login import current_user

bp = Blueprint("main", __name__)


@bp.route("/")
def home():
    if current_user.role in ("caseworker", "counsellor", "supervisor"):
        return redirect(url_for("survivors.caseload"))
    if current_user.role == "admin":
        return redirect(url_for("admin.policy"))
    if current_user.role == "donor":
        return redirect(url_for("reports.index"))
    abort(404)
