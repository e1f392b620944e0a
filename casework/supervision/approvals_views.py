"""The approvals inbox: /supervision/approvals (supervisors of the team)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from .. import access
from ..extensions import db
from ..referrals import service as referrals
from ..retention.service import inbox as erasure_inbox
from ..survivors.service import Conflict, ValidationFailed
from . import approvals as service
from .views import bp


class DecisionForm(FlaskForm):
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])


def _render(errors: dict | None = None, status: int = 200):
    referral_rows, closure_rows = service.inbox(current_user)
    return render_template(
        "supervision/approvals.html",
        referrals=[(r, access.present(current_user, r)) for r in referral_rows],
        closures=[(c, access.present(current_user, c)) for c in closure_rows],
        erasures=[(e, access.present(current_user, e)) for e in erasure_inbox(current_user)],
        form=DecisionForm(), errors=errors or {}), status


@bp.route("/approvals")
def approvals():
    return _render()


def _decide(kind: str, record_id, decision: str):
    form = DecisionForm()
    key = f"{kind}-{record_id}-{decision}"
    if not form.validate_on_submit():
        return _render({key: [str(m) for msgs in form.errors.values() for m in msgs]}, 422)
    comment = form.comment.data or None
    try:
        if kind == "referral":
            referral = referrals.get_for(current_user, record_id, "referral.approve")
            referrals.act(current_user, referral, decision, comment if decision == "return"
                          else None)
            case = referral.survivor.case_number
        else:
            request = service.get_for(current_user, record_id, "closure.decide")
            if decision == "approve":
                service.approve(current_user, request)
            else:
                service.return_request(current_user, request, comment)
            case = request.survivor.case_number
    except ValidationFailed as exc:
        db.session.rollback()
        return _render({key: [m for msgs in exc.errors.values() for m in msgs]}, 422)
    except Conflict as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return _render(status=409)
    messages = {
        ("referral", "approve"): _("Approved the referral of %(case)s.", case=case),
        ("referral", "return"): _("Returned the referral of %(case)s to draft.", case=case),
        ("closure", "approve"): _("Approved: %(case)s is closed.", case=case),
        ("closure", "return"): _("Returned the request to close %(case)s.", case=case),
    }
    flash(messages[(kind, decision)], "success")
    return redirect(url_for(".approvals"))


def decide_referral(referral_id, decision):
    return _decide("referral", referral_id, decision)


def decide_closure(request_id, decision):
    return _decide("closure", request_id, decision)


# One rule per decision (url_for("supervision.decide_closure", request_id=..., decision=...)).
for _decision in ("approve", "return"):
    bp.add_url_rule(f"/approvals/referrals/<uuid:referral_id>/{_decision}", "decide_referral",
                    decide_referral, methods=["POST"], defaults={"decision": _decision})
    bp.add_url_rule(f"/approvals/closures/<uuid:request_id>/{_decision}", "decide_closure",
                    decide_closure, methods=["POST"], defaults={"decision": _decision})
