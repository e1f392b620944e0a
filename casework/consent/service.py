"""The consent log's logic, and THE question everyone asks of it: ``sharing_scope``.

Nothing else in Casework decides whether survivor data may go to a partner: referrals,
letters and anything later (exports to partners) call ``sharing_scope``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from .. import access, audit, vocab
from ..access.fields import field_specs
from ..extensions import db
from ..referrals.models import Partner
from ..survivors.service import _CONTROL, Conflict, ValidationFailed
from ..survivors.timeline import TimelineEvent
from . import texts
from .models import METHODS, PURPOSES, SCOPES, Consent, ConsentForm

MAX_TEXT = {"interpreter": 120, "notes": 2000, "reason": 2000}
LONGEST_VALIDITY = timedelta(days=3660)  # ten years
MINOR_AGE_BANDS = ("0-11", "12-17")
# The fields a new consent takes (everything else is set by the system).
INPUT_FIELDS = ("purpose", "partner_id", "scope", "status", "method", "language", "interpreter",
                "notes", "form_version", "expires_on")

__all__ = ["Conflict", "ValidationFailed", "current_consent", "sharing_scope"]


# --- THE question ------------------------------------------------------------------------------


def current_consent(survivor_id, purpose: str, partner_id=None, *,
                    on: date | None = None) -> Consent | None:
    """The grant in force for ``purpose`` (and partner) on ``on`` (default today), or None.

    The latest decision counts: a later refusal or withdrawal ends an earlier grant at once,
    and an expired grant does not revive an older one.
    """
    on = on or date.today()
    query = select(Consent).where(Consent.survivor_id == survivor_id,
                                  Consent.purpose == purpose)
    if partner_id is None:
        query = query.where(Consent.partner_id.is_(None))
    else:
        query = query.where(Consent.partner_id == partner_id)
    latest = db.session.scalar(
        query.order_by(Consent.recorded_at.desc(), Consent.status.desc()).limit(1)
    )
    if latest is None or not latest.in_force_on(on):
        return None
    withdrawn = db.session.scalar(select(exists().where(Consent.withdraws_id == latest.id)))
    return None if withdrawn else latest


def sharing_scope(survivor, partner, *, on: date | None = None) -> set[str] | None:
    """May data about ``survivor`` be shared with ``partner`` on ``on`` (default today)?

    None: no. Otherwise the scope groups (``consent_scope`` values) that may be shared; the
    letter renderer maps groups to survivor fields (casework/referrals/letters).
    """
    survivor_id = getattr(survivor, "id", survivor)
    partner_id = getattr(partner, "id", partner)
    consent = current_consent(survivor_id, "referral_sharing", partner_id, on=on)
    if consent is None:
        return None
    return set(consent.scope or [])


# --- consent texts -----------------------------------------------------------------------------


def form_for(version: str, language: str) -> ConsentForm:
    """The stored text of ``version`` in ``language`` (English when there is none), stored
    from the shipped texts on first use and never changed afterwards."""
    if not texts.available(version, language):
        language = texts.FALLBACK_LANGUAGE
    query = select(ConsentForm).where(ConsentForm.version == version,
                                      ConsentForm.language == language)
    form = db.session.scalar(query)
    if form is not None:
        return form
    if not texts.available(version, language):
        raise ValidationFailed({"form_version": [_l("No consent text has this version.")]})
    text = texts.TEXTS[version][language]
    try:
        with db.session.begin_nested():
            form = ConsentForm(version=version, language=language, text=text,
                               sha256=ConsentForm.digest(text))
            db.session.add(form)
    except IntegrityError:  # stored by a concurrent request in the meantime
        form = db.session.scalar(query)
    return form


def known_versions() -> list[str]:
    stored = set(db.session.scalars(select(ConsentForm.version).distinct()))
    return sorted(stored | set(texts.TEXTS))


# --- reads -------------------------------------------------------------------------------------


def load(consent_id) -> Consent | None:
    try:
        key = consent_id if isinstance(consent_id, uuid.UUID) else uuid.UUID(str(consent_id))
    except ValueError:
        return None
    return db.session.get(Consent, key)


def get_for(user, consent_id, action: str = "consent.read") -> Consent:
    """Load, then authorise (404 outside the caller's scope)."""
    consent = load(consent_id)
    if consent is None:
        raise NotFound()
    access.require(user, action, consent)
    return consent


def _log_query(survivor):
    return (select(Consent).where(Consent.survivor_id == survivor.id)
            .options(selectinload(Consent.partner), selectinload(Consent.recorder)))


def log_for(user, survivor) -> list[Consent]:
    """The survivor's whole consent log, newest first (audited as one read)."""
    access.require(user, "consent.read", survivor)
    rows = list(db.session.scalars(
        _log_query(survivor).order_by(Consent.recorded_at.desc(), Consent.id.desc())))
    audit.record(user, "consent.viewed", survivor, fields=_shown_fields(user, survivor))
    return rows


def log_page(user, survivor, limit: int, cursor: str | None):
    from . import cursor as cursors

    access.require(user, "consent.read", survivor)
    rows, next_cursor = cursors.page(db.session, _log_query(survivor), Consent.recorded_at,
                                     Consent.id, limit, cursor)
    audit.record(user, "consent.viewed", survivor, fields=_shown_fields(user, survivor))
    return rows, next_cursor


def _shown_fields(user, survivor) -> list[str]:
    return sorted(access.readable_fields(user, Consent, survivor=survivor))


def record_view(user, consent: Consent) -> dict:
    shown = access.present(user, consent)
    audit.record(user, "consent.viewed", consent.survivor, fields=shown.keys())
    return shown


def withdrawn_ids(records: list[Consent]) -> set[uuid.UUID]:
    """Ids of the grants among ``records`` that a withdrawal among them withdraws."""
    return {c.withdraws_id for c in records if c.withdraws_id is not None}


def in_force_ids(records: list[Consent], on: date | None = None) -> set[uuid.UUID]:
    """Ids of the grants that are the current decision of their purpose (and partner)."""
    on = on or date.today()
    seen: set = set()
    current = set()
    withdrawn = withdrawn_ids(records)
    for consent in sorted(records, key=lambda c: (c.recorded_at, c.status), reverse=True):
        key = (consent.purpose, consent.partner_id)
        if key in seen:
            continue
        seen.add(key)
        if consent.in_force_on(on) and consent.id not in withdrawn:
            current.add(consent.id)
    return current


# --- validation --------------------------------------------------------------------------------


def _text(name: str, value, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(_l("Enter text."))
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError(_l("Remove the control characters from this text."))
    if len(value) > limit:
        raise ValueError(_l("Use at most %(n)d characters.", n=limit))
    return value or None


def _choice(value, vocabulary, required_message) -> str:
    if value is None or value == "":
        raise ValueError(required_message)
    if not isinstance(value, str) or _CONTROL.search(value):
        raise ValueError(_l("Choose one of the allowed values."))
    if value not in vocabulary:
        raise ValueError(_l("“%(value)s” is not one of the allowed values.", value=value[:40]))
    return value


def _date(value, today: date) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValueError(_l("Enter a date as YYYY-MM-DD.")) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(_l("Enter a date as YYYY-MM-DD."))
    if value < today:
        raise ValueError(_l("This date has passed: a consent cannot expire before it is given."))
    if value > today + LONGEST_VALIDITY:
        raise ValueError(_l("Choose an expiry within ten years."))
    return value


def _partner(value) -> Partner:
    if value is None or value == "":
        raise ValueError(_l("Choose the partner this consent is for."))
    try:
        key = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(_l("Not a partner id.")) from None
    partner = db.session.get(Partner, key)
    if partner is None:
        raise ValueError(_l("No partner has this id."))
    return partner


def _scope(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(_l("Give a list of values."))
    cleaned = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    unknown = [v for v in cleaned if v not in SCOPES]
    if unknown:
        raise ValueError(_l("Not allowed here: %(values)s.",
                            values=", ".join(v[:40] for v in unknown[:5])))
    return [v for v in SCOPES.values if v in cleaned]  # canonical order


def validate(data: dict, survivor, *, today: date | None = None) -> dict:
    """Check and normalise a new consent (field -> value); raise ValidationFailed."""
    today = today or date.today()
    errors: dict[str, list] = {}
    clean: dict = {}

    def attempt(name, fn):
        try:
            clean[name] = fn()
        except ValueError as exc:
            errors.setdefault(name, []).append(exc.args[0])

    attempt("purpose", lambda: _choice(data.get("purpose"), PURPOSES,
                                       _l("Choose what the consent is for.")))
    attempt("status", lambda: _choice(data.get("status"), ("granted", "refused"),
                                      _l("Choose granted or refused (withdraw a grant with "
                                         "its Withdraw button).")))
    attempt("method", lambda: _choice(data.get("method"), METHODS,
                                      _l("Choose how consent was given.")))
    attempt("language", lambda: _choice(data.get("language"), vocab.languages(),
                                        _l("Choose the language consent was given in.")))
    attempt("scope", lambda: _scope(data.get("scope")))
    attempt("interpreter", lambda: _text("interpreter", data.get("interpreter"),
                                         MAX_TEXT["interpreter"]))
    attempt("notes", lambda: _text("notes", data.get("notes"), MAX_TEXT["notes"]))
    attempt("expires_on", lambda: _date(data.get("expires_on"), today))
    version = data.get("form_version") or texts.CURRENT_VERSION
    if not isinstance(version, str) or version not in known_versions():
        errors.setdefault("form_version", []).append(_l("No consent text has this version."))
    else:
        clean["form_version"] = version

    purpose = clean.get("purpose")
    if purpose == "referral_sharing":
        attempt("partner_id", lambda: _partner(data.get("partner_id")).id)
    elif data.get("partner_id") not in (None, ""):
        errors.setdefault("partner_id", []).append(
            _l("Name a partner only for consent to share with a partner."))
    status = clean.get("status")
    if status == "refused" and clean.get("scope"):
        errors.setdefault("scope", []).append(_l("A refusal shares nothing: leave the scope "
                                                 "empty."))
    if status == "refused" and clean.get("expires_on"):
        errors.setdefault("expires_on", []).append(_l("A refusal does not expire."))
    if status == "granted" and purpose == "referral_sharing" and "scope" in clean \
            and not clean["scope"]:
        errors.setdefault("scope", []).append(_l("Choose what may be shared with the partner."))
    if clean.get("method") and clean["method"] != "guardian" \
            and survivor.age_band in MINOR_AGE_BANDS:
        errors.setdefault("method", []).append(
            _l("The survivor is a minor: record the consent of their guardian."))
    if errors:
        raise ValidationFailed(errors)
    return clean


def _reject_unknown(data: dict) -> None:
    unknown = set(data) - set(field_specs(Consent))
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in sorted(unknown)})


# --- writes ------------------------------------------------------------------------------------


def record(user, survivor, data: dict) -> Consent:
    """Append a consent decision (granted or refused) to the survivor's log."""
    access.require(user, "consent.record", survivor)
    _reject_unknown(data)
    access.check_write(user, Consent, data.keys(), survivor=survivor)
    clean = validate(data, survivor)
    form = form_for(clean["form_version"], clean["language"])
    consent = Consent(
        survivor_id=survivor.id, survivor=survivor, purpose=clean["purpose"],
        partner_id=clean.get("partner_id"), scope=clean["scope"], status=clean["status"],
        method=clean["method"], language=clean["language"], interpreter=clean["interpreter"],
        notes=clean["notes"], form_id=form.id, form=form, form_version=form.version,
        form_language=form.language, form_sha256=form.sha256, expires_on=clean["expires_on"],
        recorded_by=user.id, recorded_at=datetime.now(UTC),
    )
    db.session.add(consent)
    db.session.flush()
    audit.record(user, "consent.recorded", survivor,
                 fields=sorted(name for name in INPUT_FIELDS if data.get(name) not in (None, "")))
    return consent


def withdraw(user, consent: Consent, reason, method=None) -> Consent:
    """Append the withdrawal of a grant; it takes effect at once."""
    access.require(user, "consent.record", consent)
    errors: dict[str, list] = {}
    try:
        reason_clean = _text("reason", reason, MAX_TEXT["reason"])
        if not reason_clean:
            raise ValueError(_l("Note the survivor's reason (or “not given”)."))
    except ValueError as exc:
        errors["reason"] = [exc.args[0]]
    try:
        method_clean = _choice(method or "verbal", METHODS, _l("Choose how it was withdrawn."))
    except ValueError as exc:
        errors["method"] = [exc.args[0]]
    if errors:
        raise ValidationFailed(errors)
    if consent.status != "granted":
        raise Conflict(_l("Only a granted consent can be withdrawn."))
    if db.session.scalar(select(exists().where(Consent.withdraws_id == consent.id))):
        raise Conflict(_l("This consent has already been withdrawn."))
    withdrawal = Consent(
        survivor_id=consent.survivor_id, survivor=consent.survivor, purpose=consent.purpose,
        partner_id=consent.partner_id, scope=list(consent.scope or []), status="withdrawn",
        method=method_clean, language=consent.language, interpreter=None, notes=reason_clean,
        form_id=consent.form_id, form_version=consent.form_version,
        form_language=consent.form_language, form_sha256=consent.form_sha256,
        expires_on=None, withdraws_id=consent.id, recorded_by=user.id,
        recorded_at=max(datetime.now(UTC), consent.recorded_at + timedelta(microseconds=1)),
    )
    try:
        with db.session.begin_nested():
            db.session.add(withdrawal)
    except IntegrityError:  # a concurrent withdrawal of the same grant
        raise Conflict(_l("This consent has already been withdrawn.")) from None
    audit.record(user, "consent.withdrawn", consent.survivor, fields=["status", "notes"],
                 reason=None)
    if consent.purpose == "referral_sharing":
        from ..referrals import service as referrals

        referrals.on_consent_withdrawn(user, withdrawal)
    return withdrawal


# --- timeline ----------------------------------------------------------------------------------

TIMELINE_TITLES = {
    "granted": _l("Consent granted"),
    "refused": _l("Consent refused"),
    "withdrawn": _l("Consent withdrawn"),
}


def timeline_events(user, survivor) -> list[TimelineEvent]:
    """One event per consent record, in one query whatever their number."""
    if not access.allowed(user, "consent.read", survivor):
        return []
    records = db.session.scalars(
        select(Consent).where(Consent.survivor_id == survivor.id)
        .options(selectinload(Consent.partner))
    )
    url = url_for("consent.survivor_consents", survivor_id=survivor.id)
    events = []
    for consent in records:
        fields = access.present(user, consent)
        title = str(TIMELINE_TITLES[consent.status])
        if "purpose" in fields:
            title += ": " + PURPOSES.display(consent.purpose)
            if consent.partner is not None and "partner_id" in fields:
                title += f" ({consent.partner.name})"
        events.append(TimelineEvent(
            at=consent.recorded_at, kind=f"consent.{consent.status}", title=title,
            record_type="consent", record_id=consent.id, fields=fields,
            url=f"{url}#consent-{consent.id}"))
    return events
