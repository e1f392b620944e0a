"""Consent pages: a survivor's consent log, recording consent, withdrawing it."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import access
from ..extensions import db
from ..i18n import register_labels
from ..referrals.models import Partner
from ..survivors import service as survivors
from ..survivors.views import service_links
from . import service, texts
from .forms import ConsentForm, WithdrawForm
from .labels import FIELD_LABELS
from .models import Consent

bp = Blueprint("consent", __name__)
register_labels({k: v for k, v in FIELD_LABELS.items()
                 if k not in ("status", "notes", "language", "purpose")})
# Names other records use with another meaning: the consent's own, for its timeline events.
register_labels({f"consent.{k}": FIELD_LABELS[k]
                 for k in ("status", "notes", "language", "purpose")})


def _form(survivor, formdata=None):
    writable = access.writable_fields(current_user, Consent, survivor=survivor)
    partners = list(db.session.scalars(select(Partner).order_by(Partner.name)))
    form = ConsentForm(formdata=formdata, writable=writable, partners=partners,
                       versions=service.known_versions())
    if formdata is None:
        for name, value in (("status", "granted"), ("method", "written"),
                            ("form_version", texts.CURRENT_VERSION),
                            ("language", survivor.primary_language)):
            if name in form and value:
                form[name].data = value
    return form


def _render_log(survivor, form=None, withdraw_errors=None, status=200):
    records = service.log_for(current_user, survivor)
    can_record = access.allowed(current_user, "consent.record", survivor)
    if can_record and form is None:
        form = _form(survivor)
    in_force = service.in_force_ids(records)
    withdrawn = service.withdrawn_ids(records)
    rows = [(c, access.present(current_user, c)) for c in records]
    columns = [name for name in ("recorded_at", "purpose", "scope", "status", "method",
                                 "language", "interpreter", "form_version", "expires_on",
                                 "recorded_by", "notes")
               if name in access.readable_fields(current_user, Consent, survivor=survivor)]
    return render_template(
        "consent/log.html", survivor=survivor, rows=rows, columns=columns, labels=FIELD_LABELS,
        form=form if can_record else None, can_record=can_record, in_force=in_force,
        withdrawn=withdrawn, withdraw_form=WithdrawForm(formdata=None),
        withdraw_errors=withdraw_errors or {}, service_links=service_links(survivor),
        today=date.today(),
    ), status


@bp.route("/survivors/<uuid:survivor_id>/consents", methods=["GET", "POST"])
def survivor_consents(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    if request.method == "GET":
        return _render_log(survivor)
    access.require(current_user, "consent.record", survivor)
    form = _form(survivor, formdata=request.form)
    if form.validate():
        try:
            service.record(current_user, survivor, form.changes())
        except service.ValidationFailed as exc:
            for name, messages in exc.errors.items():
                if name in form:
                    form[name].errors = list(form[name].errors) + messages
                else:
                    form.form_errors.extend(messages)
        else:
            flash(_("Consent recorded."), "success")
            return redirect(url_for(".survivor_consents", survivor_id=survivor.id))
    return _render_log(survivor, form=form, status=422)


@bp.route("/consents/<uuid:consent_id>/withdraw", methods=["POST"])
def withdraw(consent_id):
    consent = service.get_for(current_user, consent_id, "consent.record")
    survivor = consent.survivor
    form = WithdrawForm()
    if not form.validate():
        return _render_log(survivor, withdraw_errors={consent.id: [
            str(m) for msgs in form.errors.values() for m in msgs]}, status=422)
    try:
        service.withdraw(current_user, consent, form.reason.data, form.method.data or None)
    except service.ValidationFailed as exc:
        return _render_log(survivor, withdraw_errors={consent.id: [
            m for msgs in exc.errors.values() for m in msgs]}, status=422)
    except service.Conflict as exc:
        return _render_log(survivor, withdraw_errors={consent.id: [str(exc)]}, status=409)
    flash(_("Consent withdrawn. It no longer allows sharing, from now on."), "success")
    return redirect(url_for(".survivor_consents", survivor_id=survivor.id))


@bp.route("/consents/<uuid:consent_id>/receipt.pdf")
def receipt(consent_id):
    """A printable receipt of one consent record, for the survivor, in their language."""
    from flask import Response

    from ..referrals.letters import consent_receipt_pdf

    consent = service.get_for(current_user, consent_id)
    pdf = consent_receipt_pdf(current_user, consent)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="consent-{consent.id}.pdf"'})
