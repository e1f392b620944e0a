"""Referral pages: a survivor's referrals, one referral with its actions and letter, and the
public letter verification page."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import access
from ..consent import service as consent_service
from ..extensions import db, limiter
from ..i18n import register_labels
from ..survivors import service as survivors
from ..survivors.views import service_links
from . import service
from . import service as partner_service
from .forms import ActionForm, ReferralForm, VerifyForm
from .labels import FIELD_LABELS
from .models import Partner, Referral

bp = Blueprint("referrals", __name__)
register_labels({k: v for k, v in FIELD_LABELS.items()
                 if k not in ("id", "status", "language", "survivor_id", "partner_id",
                              "reference", "created_at", "updated_at", "created_by")})
# Fields of the referral page, in order (each shown only if the user may read it).
PAGE_FIELDS = ("status", "partner_id", "service", "language", "reason", "reference",
               "issued_at", "created_by", "created_at", "submitted_at", "approved_by",
               "approved_at", "responded_at", "decline_reason", "completed_at", "withdrawn_at",
               "withdraw_reason", "returned_by", "returned_at", "return_comment", "updated_at")


def _partners():
    return list(db.session.scalars(select(Partner).order_by(Partner.name)))


def _form(obj_or_model, survivor, formdata=None, data=None):
    writable = access.writable_fields(current_user, obj_or_model, survivor=survivor) \
        if isinstance(obj_or_model, type) else access.writable_fields(current_user, obj_or_model)
    return ReferralForm(formdata=formdata, data=data, writable=writable, partners=_partners())


def _apply_errors(form, exc):
    for name, messages in exc.errors.items():
        if name in form:
            form[name].errors = list(form[name].errors) + messages
        else:
            form.form_errors.extend(messages)


def _render_list(survivor, form=None, status=200):
    referrals = service.for_survivor(current_user, survivor)
    can_create = access.allowed(current_user, "referral.manage", survivor)
    if can_create and form is None:
        form = _form(Referral, survivor, data={"language": service.default_language(survivor)})
    rows = [(r, access.present(current_user, r)) for r in referrals]
    return render_template("referrals/list.html", survivor=survivor, rows=rows,
                           form=form if can_create else None, labels=FIELD_LABELS,
                           service_links=service_links(survivor)), status


@bp.route("/survivors/<uuid:survivor_id>/referrals", methods=["GET", "POST"])
def survivor_referrals(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    if request.method == "GET":
        return _render_list(survivor)
    access.require(current_user, "referral.manage", survivor)
    form = _form(Referral, survivor, formdata=request.form)
    if form.validate():
        try:
            referral = service.create_referral(current_user, survivor, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        else:
            flash(_("Referral drafted. Submit it when it is ready."), "success")
            return redirect(url_for(".view", referral_id=referral.id))
    return _render_list(survivor, form=form, status=422)


def _render_view(referral, *, error=None, action_errors=None, status=200):
    shown = service.record_view(current_user, referral)
    survivor = referral.survivor
    actions = service.available_actions(current_user, referral)
    sharing = None
    if "partner_id" in shown:
        sharing = consent_service.sharing_scope(survivor, referral.partner_id)
    can_edit = referral.status == "draft" and access.allowed(current_user, "referral.manage",
                                                             referral)
    return render_template(
        "referrals/view.html", referral=referral, survivor=survivor, shown=shown,
        fields=[name for name in PAGE_FIELDS if name in shown], labels=FIELD_LABELS,
        actions=actions, action_labels=service.ACTION_LABELS, needs_reason=service.NEEDS_REASON,
        action_form=ActionForm(formdata=None), error=error, action_errors=action_errors or {},
        sharing=sharing, need_approval=service.need_approval(), can_edit=can_edit,
        service_links=service_links(survivor),
        can_read_letter=referral.letter is not None and "reference" in shown,
    ), status


@bp.route("/referrals/<uuid:referral_id>")
def view(referral_id):
    return _render_view(service.get_for(current_user, referral_id))


@bp.route("/referrals/<uuid:referral_id>/edit", methods=["GET", "POST"])
def edit(referral_id):
    referral = service.get_for(current_user, referral_id, "referral.manage")
    if referral.status != "draft":
        flash(_("Only a draft can be changed."), "info")
        return redirect(url_for(".view", referral_id=referral.id))
    if request.method == "GET":
        form = _form(referral, referral.survivor, data={
            "partner_id": str(referral.partner_id), "service": referral.service,
            "language": referral.language, "reason": referral.reason})
        return render_template("referrals/edit.html", referral=referral, form=form,
                               survivor=referral.survivor)
    form = _form(referral, referral.survivor, formdata=request.form)
    if form.validate():
        try:
            service.update_draft(current_user, referral, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        else:
            flash(_("Saved the draft."), "success")
            return redirect(url_for(".view", referral_id=referral.id))
    return render_template("referrals/edit.html", referral=referral, form=form,
                           survivor=referral.survivor), 422


def act(referral_id, action):
    referral = service.get_for(current_user, referral_id)
    form = ActionForm()
    if not form.validate():
        return _render_view(referral, action_errors={action: [
            str(m) for msgs in form.errors.values() for m in msgs]}, status=422)
    try:
        service.act(current_user, referral, action, form.reason.data or None)
    except service.ValidationFailed as exc:
        db.session.rollback()
        return _render_view(service.get_for(current_user, referral_id), action_errors={
            action: [m for msgs in exc.errors.values() for m in msgs]}, status=422)
    except service.Conflict as exc:
        db.session.rollback()
        return _render_view(service.get_for(current_user, referral_id), error=str(exc),
                            status=409)
    flash(_("Done: %(action)s.", action=service.ACTION_LABELS[action]), "success")
    return redirect(url_for(".view", referral_id=referral.id))


# One rule per action (url_for("referrals.act", referral_id=..., action="issue")).
for _action in service.ACTIONS:
    bp.add_url_rule(f"/referrals/<uuid:referral_id>/{_action}", "act", act, methods=["POST"],
                    defaults={"action": _action})


@bp.route("/referrals/<uuid:referral_id>/letter.pdf")
def letter(referral_id):
    referral = service.get_for(current_user, referral_id)
    pdf = service.letter_pdf(current_user, referral)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{referral.reference}.pdf"'})


def _verify_limit() -> str:
    return current_app.config.get("LETTER_VERIFY_LIMIT", "30 per minute")


@bp.route("/letters/verify/<string:reference>")
@limiter.limit(_verify_limit)
def verify_letter(reference):
    """Public: anyone holding a letter can check it. Says nothing about the survivor."""
    if len(reference) > 40:
        abort(404)
    form = VerifyForm(request.args)
    result = None
    if form.code.data:
        if not form.validate():
            abort(400)
        result = service.verify_letter(reference, form.code.data)
    return render_template("referrals/verify.html", reference=reference.upper()[:20],
                           form=form, result=result)


@bp.route("/referrals")
def index():
    """Referrals of the survivors in the caller's scope (supervisors: their team's), newest
    first, optionally of one status — e.g. those awaiting approval."""
    from ..api.pagination import InvalidCursor
    from .models import REFERRAL_STATUSES

    status = request.args.get("status") or None
    if status is not None and status not in REFERRAL_STATUSES:
        status = None
    filters = service.ReferralFilters(status=status)
    try:
        rows, next_cursor = service.list_page(current_user, filters, 50,
                                              request.args.get("cursor") or None)
    except InvalidCursor:
        abort(400, _("That page link is not valid; start from the first page."))
    return render_template("referrals/index.html",
                           rows=[(r, access.present(current_user, r)) for r in rows],
                           status=status, statuses=REFERRAL_STATUSES.choices(),
                           next_cursor=next_cursor, labels=FIELD_LABELS)


@bp.route("/partners/")
def partners():
    """The partner directory for staff: who offers what, in which languages, and who is full."""
    from .models import PARTNER_SERVICES

    wanted = request.args.get("service") or None
    if wanted is not None and wanted not in PARTNER_SERVICES:
        wanted = None
    items = partner_service.list_partners(current_user, wanted)
    return render_template("referrals/partners.html", partners=items, wanted=wanted,
                           services=PARTNER_SERVICES.choices())
