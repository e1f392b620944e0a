"""Pages: a survivor's erasure page (request, status, certificate), the supervisor's decisions
(from the approvals inbox) and the subject access export (PDF, JSON)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .. import access
from ..extensions import db
from ..survivors import service as survivors
from ..survivors.service import Conflict, ValidationFailed
from . import service

bp = Blueprint("retention", __name__)


class ErasureRequestForm(FlaskForm):
    requested_on = DateField(_l("The survivor asked on"), validators=[Optional()])
    reason = TextAreaField(_l("How the survivor asked, and anything the supervisor should know"),
                           validators=[DataRequired(), Length(max=service.MAX_TEXT)])


class RefusalForm(FlaskForm):
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=service.MAX_TEXT)])


@bp.app_context_processor
def _erasure_helpers():
    def erasure_links(survivor) -> dict:
        """What the survivor page offers about erasure and subject access to this user."""
        if not getattr(current_user, "is_authenticated", False) or survivor is None:
            return {}
        return {"erasure": access.allowed(current_user, "erasure.request", survivor)
                or access.allowed(current_user, "erasure.certificate", survivor),
                "subject_access": access.allowed(current_user, "survivor.subject_access",
                                                 survivor)}

    return {"erasure_links": erasure_links}


def _page(survivor, form, status=200):
    may_request = access.allowed(current_user, "erasure.request", survivor)
    return render_template("retention/erasure.html", survivor=survivor, form=form,
                           may_request=may_request, requests=service.requests_of(survivor),
                           pending=service.pending_request(survivor)), status


@bp.route("/survivors/<uuid:survivor_id>/erasure", methods=["GET", "POST"])
def erasure(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id, "erasure.certificate")
    form = ErasureRequestForm()
    if form.is_submitted():
        access.require(current_user, "erasure.request", survivor)
        if form.validate():
            try:
                service.request_erasure(current_user, survivor, form.reason.data,
                                        form.requested_on.data)
            except ValidationFailed as exc:
                for name, messages in exc.errors.items():
                    getattr(form, name).errors = list(map(str, messages))
            except Conflict as exc:
                db.session.rollback()
                flash(str(exc), "danger")
                return _page(survivor, form, 409)
            else:
                flash(_("The request to erase %(case)s was sent to your supervisor.",
                        case=survivor.case_number), "info")
                return redirect(url_for(".erasure", survivor_id=survivor.id))
        return _page(survivor, form, 422)
    return _page(survivor, form)


def _decide(request_id, decision):
    from ..supervision.approvals_views import _render

    form = RefusalForm()
    key = f"erasure-{request_id}-{decision}"
    if not form.validate_on_submit():
        return _render({key: [str(m) for msgs in form.errors.values() for m in msgs]}, 422)
    request = service.get_for(current_user, request_id, "erasure.decide")
    case = request.survivor.case_number
    try:
        if decision == "approve":
            service.approve(current_user, request)
        else:
            service.refuse(current_user, request, form.comment.data or None)
    except ValidationFailed as exc:
        db.session.rollback()
        return _render({key: [str(m) for msgs in exc.errors.values() for m in msgs]}, 422)
    except Conflict as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return _render(status=409)
    if decision == "approve":
        flash(_("Erased the identifying data of %(case)s. The deletion certificate is on the "
                "case's erasure page.", case=case), "success")
    else:
        flash(_("Refused the request to erase %(case)s.", case=case), "success")
    return redirect(url_for("supervision.approvals"))


for _decision in ("approve", "refuse"):
    bp.add_url_rule(f"/supervision/approvals/erasures/<uuid:request_id>/{_decision}",
                    "decide", _decide, methods=["POST"], defaults={"decision": _decision})


@bp.route("/erasure-requests/<uuid:request_id>/certificate.pdf")
def certificate(request_id):
    request = service.get_for(current_user, request_id, "erasure.certificate")
    pdf = service.certificate_for(current_user, request)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="deletion-certificate-'
                               f'{request.survivor.case_number}.pdf"'})


@bp.route("/survivors/<uuid:survivor_id>/subject-access.pdf", defaults={"kind": "pdf"})
@bp.route("/survivors/<uuid:survivor_id>/subject-access.json", defaults={"kind": "json"})
def subject_access(survivor_id, kind):
    survivor = survivors.get_for(current_user, survivor_id, "survivor.subject_access")
    data = service.subject_access(current_user, survivor)
    if kind == "json":
        body, mimetype = service.subject_access_json(data), "application/json"
    else:
        body, mimetype = service.subject_access_pdf(data), "application/pdf"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="subject-access-'
                               f'{survivor.case_number}.{kind}"'})
