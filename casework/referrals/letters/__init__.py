"""Referral letters and consent receipts: what goes into them, and issuing them.

A letter carries the survivor fields of the consent's scope groups (``SCOPE_FIELDS``) that
the issuing user may also read under the access policy — nothing else about the survivor.
The scope comes from the consent log (``consent.service``), never from the referral.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime

from babel import Locale
from babel.dates import format_date
from flask import current_app, has_request_context, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import select

from ... import access, audit, crypto, vocab
from ...access.fields import field_specs
from ...extensions import db
from ...survivors.models import Survivor
from .catalogue import LANGUAGES, Catalogue, direction
from .render import render_pdf, text_direction

# Consent scope group -> survivor fields it lets a letter carry, in letter order.
# ``service_history`` is a summary (case opened, services through earlier referrals).
SCOPE_FIELDS: dict[str, tuple[str, ...]] = {
    "identity": ("first_name", "last_name", "known_as", "date_of_birth"),
    "contact": ("phone", "email", "address"),
    "demographics": ("gender", "age_band", "citizenship", "primary_language"),
    "trafficking_context": ("trafficking_status", "exploitation_types", "recruitment_methods"),
    "service_history": (),
}
SCOPE_ORDER = ("identity", "contact", "demographics", "trafficking_context", "service_history")


def letter_aad(letter) -> bytes:
    return crypto.aad("referral_letters", "pdf", letter.id)


def _locale(language: str) -> Locale:
    return Locale.parse(language)


def _list(values: list[str], language: str) -> str:
    return ("، " if language == "ar" else ", ").join(values)


def format_field(name: str, value, language: str) -> str:
    """A survivor field's value as the letter shows it, in the letter's language: dates,
    countries and languages from Babel's CLDR data, vocabulary labels from the catalogs
    (under ``force_locale(language)``, whatever the language of the user's pages)."""
    if value is None or value == []:
        return "—"
    if isinstance(value, date):
        return format_date(value, "long", locale=language)
    locale = _locale(language)
    if name == "age_band":
        with force_locale(language):
            return _(vocab.AGE_BANDS.label(value))
    if name == "citizenship":
        return _list([locale.territories.get(code, code) for code in value], language)
    if name == "primary_language":
        return locale.languages.get(value, value)
    spec = field_specs(Survivor).get(name)
    if spec is not None and spec.vocab:
        vocabulary = vocab.resolve(spec.vocab)
        with force_locale(language):
            if isinstance(value, list):
                return _list([_(vocabulary.label(v)) for v in value], language)
            return _(vocabulary.label(value))
    if isinstance(value, list):
        return _list([str(v) for v in value], language)
    return str(value)


def allowed_fields(user, survivor, scope: set[str]) -> list[str]:
    """Survivor fields a letter may carry: in the consent's scope AND readable by the user."""
    readable = access.readable_fields(user, survivor)
    return [name for group in SCOPE_ORDER if group in scope
            for name in SCOPE_FIELDS[group] if name in readable]


def _service_history(survivor, referral, t: Catalogue, language: str) -> str:
    from ..models import Referral

    earlier = db.session.scalars(
        select(Referral).where(Referral.survivor_id == survivor.id,
                               Referral.id != referral.id,
                               Referral.status.in_(("accepted", "completed")))
        .order_by(Referral.issued_at))
    items = [f"{t['s.' + r.service]} ({format_date(r.issued_at.date(), 'medium', locale=language)})"
             for r in earlier]
    parts = [t.format("history_opened",
                      date=format_date(survivor.intake_date, "long", locale=language))]
    parts.append(t.format("history_referrals", items=_list(items, language)) if items
                 else t["history_none"])
    return " ".join(parts)


def _fmt(t: Catalogue, key: str, **values) -> Markup:
    """A catalogue sentence with its values escaped and isolated for bidi (<bdi>)."""
    wrapped = {}
    for name, value in values.items():
        if isinstance(value, Markup):
            wrapped[name] = value
        else:
            wrapped[name] = Markup('<bdi dir="%s">%s</bdi>') % (text_direction(value), value)
    return escape(t[key]) % wrapped


def verification_url(reference: str) -> str:
    """Where a partner checks the letter: the configured public address if there is one
    (behind a proxy the request's own host may be internal), else the request's."""
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if not base and has_request_context():
        return url_for("referrals.verify_letter", reference=reference, _external=True)
    return f"{base}/letters/verify/{reference}"


def referral_context(user, referral, grant, *, code: str, today: date,
                     organisation: str) -> dict:
    """Everything the referral letter template shows (values formatted, nothing raw)."""
    language = referral.language
    t = Catalogue(language)
    survivor = referral.survivor
    scope = set(grant.scope or [])
    fields = []
    for name in allowed_fields(user, survivor, scope):
        fields.append((t["f." + name], format_field(name, getattr(survivor, name), language)))
    if "service_history" in scope:
        fields.append((t["f.service_history"],
                       _service_history(survivor, referral, t, language)))
    scope_text = _list([t["g." + g] for g in SCOPE_ORDER if g in scope], language)
    lead = survivor.lead_caseworker or user
    partner = referral.partner
    return {
        "lang": language,
        "dir": direction(language),
        "t": t,
        "organisation": organisation,
        "reference": referral.reference,
        "date": format_date(today, "long", locale=language),
        "partner": {"name": partner.name, "address": partner.address,
                    "email": partner.contact_email},
        "subject": t.format("subject", service=t["s." + referral.service]),
        "fields": fields,
        "reason": referral.reason or "—",
        "service": t["s." + referral.service],
        "caseworker": {"name": lead.display_name, "email": lead.email},
        "consent_statement": _fmt(
            t, "consent_statement", method=Markup(escape(t["m." + grant.method])),
            date=format_date(grant.recorded_at.date(), "long", locale=language),
            partner=partner.name, scope=scope_text),
        "consent_expires": _fmt(t, "consent_expires",
                                date=format_date(grant.expires_on, "long", locale=language))
        if grant.expires_on else None,
        "verify_text": _fmt(t, "verify_text",
                            url=Markup('<bdi dir="ltr">%s</bdi>') % verification_url(
                                referral.reference),
                            code=Markup('<bdi class="code" dir="ltr">%s</bdi>') % code),
    }


def issue_letter(user, referral, grant, now: datetime):
    """Render the letter, store it encrypted with its SHA-256; returns the ReferralLetter."""
    from ..models import ReferralLetter
    from ..service import code_digest, new_verification_code, organisation_name

    code = new_verification_code()
    organisation = organisation_name()
    context = referral_context(user, referral, grant, code=code, today=now.date(),
                               organisation=organisation)
    pdf = render_pdf("referral.html", context)
    letter = ReferralLetter(id=uuid.uuid4(), referral_id=referral.id,
                            reference=referral.reference, code_sha256=code_digest(code),
                            sha256=hashlib.sha256(pdf).hexdigest(), size=len(pdf),
                            organisation=organisation, language=referral.language,
                            consent_id=grant.id, issued_at=now)
    letter.pdf = crypto.encrypt(pdf, letter_aad(letter))
    referral.letter = letter
    db.session.add(letter)
    return letter


# --- consent receipts ----------------------------------------------------------------------------

RECEIPT_LANGUAGES = LANGUAGES


def receipt_language(consent) -> str:
    for language in (consent.language, consent.form_language):
        if language in RECEIPT_LANGUAGES:
            return language
    return "en"


def consent_receipt_pdf(user, consent) -> bytes:
    """A printable receipt of one consent record for the survivor, in their language where
    the catalogs have it (else in the language of the text they were shown, else
    English). Shows the consent record only, as the user may read it; audited."""
    from ...consent.models import SCOPES

    language = receipt_language(consent)
    t = Catalogue(language)
    shown = access.present(user, consent)
    withdrawn = None
    if consent.withdraws_id is not None:
        withdrawn = db.session.get(type(consent), consent.withdraws_id)
    form = consent.form
    rows = [(t["decision"], t["d." + consent.status]),
            (t["purpose"], t["p." + consent.purpose])]
    if consent.partner is not None and "partner_id" in shown:
        rows.append((t["partner"], consent.partner.name))
    if consent.scope and "scope" in shown:
        rows.append((t["scope"], _list([t["g." + g] for g in SCOPES.values
                                        if g in consent.scope], language)))
    if consent.status == "granted" and "expires_on" in shown:
        rows.append((t["expires"], format_date(consent.expires_on, "long", locale=language)
                     if consent.expires_on else t["no_expiry"]))
    if "method" in shown:
        rows.append((t["method"], t["m." + consent.method]))
    if consent.interpreter and "interpreter" in shown:
        rows.append((t["interpreter"], consent.interpreter))
    if consent.status == "withdrawn" and consent.notes and "notes" in shown:
        rows.append((t["withdrawn_reason"], consent.notes))
    rows.append((t["recorded_on"], format_date(consent.recorded_at.date(), "long",
                                               locale=language)))
    rows.append((t["recorded_by"], consent.recorder.display_name))
    context = {
        "lang": language, "dir": direction(language), "t": t,
        "organisation": _organisation(), "rows": rows,
        "case_number": consent.survivor.case_number,
        "form_heading": t.format("form_text", version=consent.form_version),
        "form_text": form.text if form is not None else "",
        "form_dir": direction(consent.form_language),
        "form_lang": consent.form_language,
        "fingerprint": consent.form_sha256,
        "withdrawn_on": format_date(withdrawn.recorded_at.date(), "long", locale=language)
        if withdrawn is not None else None,
    }
    pdf = render_pdf("consent_receipt.html", context)
    audit.record(user, "consent.receipt_printed", consent.survivor, fields=sorted(shown))
    return pdf


def _organisation() -> str:
    from ..service import organisation_name

    return organisation_name()
