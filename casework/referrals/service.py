"""Partner directory (staff read it, admins keep it up to date) and referrals to partners."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import NotFound

from .. import access, audit, vocab
from ..access.fields import field_specs
from ..extensions import db
from ..models_base import one_of
from ..survivors.models import Survivor
from ..survivors.service import _CONTROL, Conflict, ValidationFailed, _clean_text
from ..survivors.timeline import TimelineEvent
from .models import (
    AWAITING_PARTNER,
    LETTER_LANGUAGES,
    PARTNER_SERVICES,
    REFERRAL_STATUSES,
    Partner,
    Referral,
    ReferralLetter,
)

PARTNER_FIELDS = ("name", "services", "languages", "accepting_referrals", "contact_email",
                  "address")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX = {"name": 200, "contact_email": 254, "address": 500}


def _clean_list(value, vocabulary, name) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(_l("Give a list of values."))
    cleaned = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    unknown = [v for v in cleaned if v not in vocabulary]
    if unknown:
        raise ValueError(_l("Not allowed here: %(values)s.",
                            values=", ".join(v[:40] for v in unknown[:5])))
    return cleaned


def validate(data: dict, *, creating: bool) -> dict:
    errors: dict[str, list] = {}
    clean: dict = {}
    unknown = set(data) - set(PARTNER_FIELDS)
    for name in sorted(unknown):
        errors[name] = [_l("Unknown field.")]
    for name in PARTNER_FIELDS:
        if name not in data:
            continue
        value = data[name]
        try:
            if name == "services":
                clean[name] = _clean_list(value, PARTNER_SERVICES, name)
            elif name == "languages":
                clean[name] = _clean_list(value, vocab.languages(), name)
            elif name == "accepting_referrals":
                if not isinstance(value, bool):
                    raise ValueError(_l("Give true or false."))
                clean[name] = value
            else:
                text = _clean_text(name, value)
                if text and len(text) > MAX[name]:
                    raise ValueError(_l("Use at most %(n)d characters.", n=MAX[name]))
                if name == "contact_email" and text and not _EMAIL.match(text):
                    raise ValueError(_l("Enter an email address like name@example.org."))
                if name == "name" and not text:
                    raise ValueError(_l("Enter the partner's name."))
                clean[name] = text
        except ValueError as exc:
            errors.setdefault(name, []).append(exc.args[0])
    if creating and "name" not in data:
        errors.setdefault("name", []).append(_l("Enter the partner's name."))
    if errors:
        raise ValidationFailed(errors)
    return clean


def list_partners(user, service: str | None = None) -> list[Partner]:
    access.require(user, "partners.read")
    query = select(Partner).order_by(Partner.name)
    partners = list(db.session.scalars(query))
    if service:
        partners = [p for p in partners if p.offers(service)]
    return partners


def get(user, partner_id) -> Partner:
    access.require(user, "partners.read")
    try:
        key = partner_id if isinstance(partner_id, uuid.UUID) else uuid.UUID(str(partner_id))
    except ValueError:
        raise NotFound() from None
    partner = db.session.get(Partner, key)
    if partner is None:
        raise NotFound()
    return partner


def _check_unique_name(name: str, exclude: uuid.UUID | None = None) -> None:
    query = select(Partner.id).where(func.lower(Partner.name) == name.lower())
    if exclude is not None:
        query = query.where(Partner.id != exclude)
    if db.session.scalar(query):
        raise ValidationFailed({"name": [_l("A partner with this name exists already.")]})


def create(user, data: dict) -> Partner:
    access.require(user, "partners.write")
    clean = validate(data, creating=True)
    _check_unique_name(clean["name"])
    partner = Partner(**{"services": [], "languages": [], "accepting_referrals": True, **clean})
    db.session.add(partner)
    db.session.flush()
    audit.record(user, "partner.created", partner, fields=sorted(clean))
    return partner


def update(user, partner: Partner, data: dict) -> list[str]:
    access.require(user, "partners.write")
    clean = validate(data, creating=False)
    if "name" in clean:
        _check_unique_name(clean["name"], exclude=partner.id)
    changed = [name for name, value in clean.items() if getattr(partner, name) != value]
    for name in changed:
        setattr(partner, name, clean[name])
    if changed:
        audit.record(user, "partner.updated", partner, fields=changed)
    return changed


# =================================================================================================
# Referrals: draft → submit → (approve) → issue → accepted | declined → completed; withdrawn at
# any point before the end. Issuing asks the consent log (consent.service.sharing_scope) and
# nothing else whether the survivor agreed to share with this partner, and what.
# =================================================================================================

REFERRAL_INPUT = ("partner_id", "service", "reason", "language")
MAX_REASON = 5000
MAX_ANSWER = 2000
DEFAULT_RESPONSE_DAYS = 14
# Crockford's base32 without I, L, O, U: easy to read aloud and to type from paper.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class MissingConsent(Conflict):
    """Issuing needs a current referral_sharing consent for the partner; there is none."""

    def __init__(self, referral: Referral):
        self.partner_id = referral.partner_id
        self.purpose = "referral_sharing"
        super().__init__(_l(
            "No current consent of the survivor to share information with %(partner)s "
            "(purpose: referral sharing). Record it in the consent log before issuing; "
            "it may be missing, refused, withdrawn or expired.",
            partner=referral.partner.name))


# --- settings ------------------------------------------------------------------------------------


def need_approval() -> bool:
    """The organisation's setting; config REFERRALS_NEED_APPROVAL when there is no row."""
    from ..auth.models import Organisation

    org = db.session.scalar(select(Organisation).limit(1))
    if org is not None and org.referrals_need_approval is not None:
        return bool(org.referrals_need_approval)
    return bool(current_app.config.get("REFERRALS_NEED_APPROVAL", True))


def response_days() -> int:
    """Days a partner may take to answer before the referral raises an alert
    (config REFERRAL_RESPONSE_DAYS, default 14)."""
    return int(current_app.config.get("REFERRAL_RESPONSE_DAYS", DEFAULT_RESPONSE_DAYS))


def organisation_name() -> str:
    from ..auth.models import Organisation

    org = db.session.scalar(select(Organisation).limit(1))
    return org.name if org is not None else current_app.config.get("ORGANISATION_NAME",
                                                                   "Casework")


# --- reads ---------------------------------------------------------------------------------------


def load(referral_id) -> Referral | None:
    try:
        key = referral_id if isinstance(referral_id, uuid.UUID) else uuid.UUID(str(referral_id))
    except ValueError:
        return None
    return db.session.get(Referral, key)


def get_for(user, referral_id, action: str = "referral.read") -> Referral:
    """Load, then authorise (404 outside the caller's scope)."""
    referral = load(referral_id)
    if referral is None:
        raise NotFound()
    access.require(user, action, referral)
    return referral


def record_view(user, referral: Referral) -> dict:
    shown = access.present(user, referral)
    audit.record(user, "referral.viewed", referral.survivor, fields=shown.keys())
    return shown


def _with_relations(query):
    return query.options(selectinload(Referral.partner), selectinload(Referral.letter),
                         selectinload(Referral.creator), selectinload(Referral.approver))


def for_survivor(user, survivor) -> list[Referral]:
    """The survivor's referrals, newest first (audited as one read)."""
    access.require(user, "referral.read", survivor)
    rows = list(db.session.scalars(_with_relations(
        select(Referral).where(Referral.survivor_id == survivor.id)
        .order_by(Referral.created_at.desc(), Referral.id.desc()))))
    audit.record(user, "referral.viewed", survivor,
                 fields=sorted(access.readable_fields(user, Referral, survivor=survivor)))
    return rows


@dataclass
class ReferralFilters:
    survivor_id: uuid.UUID | None = None
    status: str | None = None
    partner_id: uuid.UUID | None = None


def list_page(user, filters: ReferralFilters, limit: int, cursor: str | None):
    """Referrals of the survivors in the caller's scope, newest first, keyset-paginated."""
    from ..consent import cursor as cursors

    access.require(user, "survivor.list")
    query = (select(Referral).join(Survivor, Referral.survivor_id == Survivor.id)
             .where(access.scope_clause(user))
             .options(selectinload(Referral.partner),
                      selectinload(Referral.survivor).selectinload(Survivor.collaborators),
                      selectinload(Referral.survivor).selectinload(Survivor.lead_caseworker)))
    if filters.survivor_id:
        query = query.where(Referral.survivor_id == filters.survivor_id)
    if filters.status:
        query = query.where(Referral.status == filters.status)
    if filters.partner_id:
        query = query.where(Referral.partner_id == filters.partner_id)
    rows, next_cursor = cursors.page(db.session, query, Referral.created_at, Referral.id,
                                     limit, cursor)
    seen = {}
    for referral in rows:
        seen.setdefault(referral.survivor_id, referral.survivor)
    access.preload_break_glass(user, list(seen))
    for survivor in seen.values():
        audit.record(user, "referral.viewed", survivor,
                     fields=sorted(access.readable_fields(user, Referral, survivor=survivor)))
    return rows, next_cursor


# --- validation ----------------------------------------------------------------------------------


def _text(value, limit: int) -> str | None:
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


def _partner(value) -> Partner:
    if value is None or value == "":
        raise ValueError(_l("Choose the partner to refer to."))
    try:
        key = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(_l("Not a partner id.")) from None
    partner = db.session.get(Partner, key)
    if partner is None:
        raise ValueError(_l("No partner has this id."))
    return partner


def _choice(value, vocabulary, message) -> str:
    if value is None or value == "":
        raise ValueError(message)
    if not isinstance(value, str) or _CONTROL.search(value) or value not in vocabulary:
        shown = value[:40] if isinstance(value, str) and not _CONTROL.search(value) else "?"
        raise ValueError(_l("“%(value)s” is not one of the allowed values.", value=shown))
    return value


def not_accepting_message(partner: Partner) -> str:
    return str(_l("%(partner)s is not accepting referrals at the moment (full). Choose another "
                  "partner, or wait until they accept referrals again.", partner=partner.name))


def validate_referral(data: dict, current: Referral | None = None) -> dict:
    """Check and normalise the fields of a new or draft referral; raise ValidationFailed."""
    errors: dict[str, list] = {}
    clean: dict = {}
    for name in REFERRAL_INPUT:
        if name not in data and current is not None:
            continue
        value = data.get(name)
        try:
            if name == "partner_id":
                partner = _partner(value)
                if not partner.accepting_referrals:
                    raise ValueError(not_accepting_message(partner))
                clean[name] = partner.id
            elif name == "service":
                clean[name] = _choice(value, PARTNER_SERVICES, _l("Choose the service."))
            elif name == "language":
                clean[name] = _choice(value, LETTER_LANGUAGES,
                                      _l("Choose the language of the letter."))
            else:
                text = _text(value, MAX_REASON)
                if not text:
                    raise ValueError(_l("Say why the survivor is referred."))
                clean[name] = text
        except ValueError as exc:
            errors.setdefault(name, []).append(exc.args[0])
    partner_id = clean.get("partner_id", current.partner_id if current else None)
    service_name = clean.get("service", current.service if current else None)
    if partner_id and service_name and "service" not in errors and (
            "partner_id" in clean or "service" in clean):
        partner = db.session.get(Partner, partner_id)
        if not partner.offers(service_name):
            errors.setdefault("service", []).append(_l(
                "%(partner)s does not offer %(service)s.", partner=partner.name,
                service=_l(PARTNER_SERVICES.label(service_name))))
    if errors:
        raise ValidationFailed(errors)
    return clean


def _reject_unknown(data: dict) -> None:
    unknown = set(data) - set(field_specs(Referral))
    if unknown:
        raise ValidationFailed({name: [_l("Unknown field.")] for name in sorted(unknown)})


def default_language(survivor) -> str:
    return survivor.primary_language if survivor.primary_language in LETTER_LANGUAGES else "en"


# --- writes --------------------------------------------------------------------------------------


def create_referral(user, survivor, data: dict) -> Referral:
    """A draft referral of ``survivor``."""
    access.require(user, "referral.manage", survivor)
    data = dict(data)
    if "language" not in data or data["language"] in (None, ""):
        data["language"] = default_language(survivor)
    _reject_unknown(data)
    access.check_write(user, Referral, data.keys(), survivor=survivor)
    clean = validate_referral(data)
    referral = Referral(survivor_id=survivor.id, survivor=survivor, status="draft",
                        created_by=user.id, **clean)
    db.session.add(referral)
    db.session.flush()
    audit.record(user, "referral.created", survivor, fields=sorted(clean))
    return referral


def update_draft(user, referral: Referral, data: dict) -> list[str]:
    access.require(user, "referral.manage", referral)
    _reject_unknown(data)
    access.check_write(user, referral, data.keys())
    if referral.status != "draft":
        raise Conflict(_l("Only a draft can be changed; this referral is %(status)s.",
                          status=_l(REFERRAL_STATUSES.label(referral.status)).lower()))
    clean = validate_referral(data, current=referral)
    changed = [name for name, value in clean.items() if getattr(referral, name) != value]
    for name in changed:
        setattr(referral, name, clean[name])
    if changed:
        referral.updated_at = datetime.now(UTC)
        audit.record(user, "referral.updated", referral.survivor, fields=changed)
    return changed


# The state machine: action -> (statuses it applies to, the guard action it needs).
TRANSITIONS = {
    "submit": (("draft",), "referral.manage"),
    "approve": (("awaiting_approval",), "referral.approve"),
    "return": (("awaiting_approval",), "referral.approve"),
    "issue": (("approved",), "referral.manage"),
    "accept": (("issued",), "referral.manage"),
    "decline": (("issued",), "referral.manage"),
    "complete": (("accepted",), "referral.manage"),
    "withdraw": (("draft", "awaiting_approval", "approved", "issued", "accepted"),
                 "referral.manage"),
}
ACTIONS = tuple(TRANSITIONS)
ACTION_LABELS = {
    "submit": _l("Submit"),
    "approve": _l("Approve"),
    "return": _l("Return with a comment"),
    "issue": _l("Issue the letter"),
    "accept": _l("Partner accepted"),
    "decline": _l("Partner declined"),
    "complete": _l("Completed"),
    "withdraw": _l("Withdraw"),
}
# Actions that need a reason (the partner's, or the caseworker's for withdrawing).
NEEDS_REASON = ("decline", "withdraw", "return")


def available_actions(user, referral: Referral) -> list[str]:
    """The actions ``user`` may take on ``referral`` now (for the page's buttons)."""
    return [name for name, (statuses, guard) in TRANSITIONS.items()
            if referral.status in statuses and access.allowed(user, guard, referral)]


def act(user, referral: Referral, action: str, reason=None) -> Referral:
    """Take ``action``; Conflict (nothing changed) if the referral's state does not allow it."""
    if action not in TRANSITIONS:
        raise NotFound()
    statuses, guard = TRANSITIONS[action]
    access.require(user, guard, referral)
    reason_clean = None
    if action in NEEDS_REASON:
        try:
            reason_clean = _text(reason, MAX_ANSWER)
        except ValueError as exc:
            raise ValidationFailed({"reason": [exc.args[0]]}) from None
        if not reason_clean:
            message = {"decline": _l("Record the partner's reason for declining."),
                       "return": _l("Say what the caseworker should change.")}.get(
                action, _l("Say why the referral is withdrawn."))
            raise ValidationFailed({"reason": [message]})
    elif reason not in (None, ""):
        raise ValidationFailed({"reason": [_l("This action takes no reason.")]})
    if referral.status not in statuses:
        raise Conflict(_l("A referral that is %(status)s cannot be %(action)s.",
                          status=_l(REFERRAL_STATUSES.label(referral.status)).lower(),
                          action=_PAST[action]))
    now = datetime.now(UTC)
    fields: list[str] = ["status"]
    if action == "submit":
        _require_accepting(referral)
        referral.submitted_at = now
        referral.status = "awaiting_approval" if need_approval() else "approved"
        fields.append("submitted_at")
    elif action == "approve":
        if referral.created_by == user.id:
            raise Conflict(_l("You cannot approve a referral you drafted."))
        referral.status = "approved"
        referral.approved_by, referral.approved_at = user.id, now
        fields += ["approved_by", "approved_at"]
    elif action == "return":  # back to draft, with the supervisor's comment
        referral.status = "draft"
        referral.returned_by, referral.returned_at = user.id, now
        referral.return_comment = reason_clean
        fields += ["returned_by", "returned_at", "return_comment"]
    elif action == "issue":
        _require_accepting(referral)
        _issue(user, referral, now)
        fields += ["reference", "issued_at"]
    elif action in ("accept", "decline"):
        referral.status = "accepted" if action == "accept" else "declined"
        referral.responded_at = now
        referral.decline_reason = reason_clean
        fields += ["responded_at"] + (["decline_reason"] if reason_clean else [])
    elif action == "complete":
        referral.status = "completed"
        referral.completed_at = now
        fields.append("completed_at")
    elif action == "withdraw":
        referral.status = "withdrawn"
        referral.withdrawn_at, referral.withdraw_reason = now, reason_clean
        fields += ["withdrawn_at", "withdraw_reason"]
        if referral.letter is not None and referral.letter.revoked_at is None:
            referral.letter.revoked_at, referral.letter.revocation = now, "referral_withdrawn"
    referral.updated_at = now
    db.session.flush()
    audit.record(user, f"referral.{_EVENT[action]}", referral.survivor, fields=fields,
                 reason=reason_clean if action == "return" else None)
    return referral


_PAST = {"submit": _l("submitted"), "approve": _l("approved"), "return": _l("returned"),
         "issue": _l("issued"),
         "accept": _l("accepted"), "decline": _l("declined"), "complete": _l("completed"),
         "withdraw": _l("withdrawn")}
_EVENT = {"submit": "submitted", "approve": "approved", "return": "returned",
          "issue": "issued",
          "accept": "accepted", "decline": "declined", "complete": "completed",
          "withdraw": "withdrawn"}


def _require_accepting(referral: Referral) -> None:
    if not referral.partner.accepting_referrals:
        raise Conflict(not_accepting_message(referral.partner))


def _random_code(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_reference() -> str:
    return f"RF-{_random_code(4)}-{_random_code(4)}"


def new_verification_code() -> str:
    return f"{_random_code(4)}-{_random_code(4)}"


def normalise_code(code: str) -> str:
    """Codes are read from paper: ignore case, spaces and dashes; O means 0, I and L mean 1."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    cleaned = cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))
    return f"{cleaned[:4]}-{cleaned[4:]}" if len(cleaned) == 8 else cleaned


def code_digest(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def _issue(user, referral: Referral, now: datetime) -> None:
    """Check the consent, then render, encrypt and store the letter; the referral is issued."""
    from ..consent import service as consent

    grant = consent.current_consent(referral.survivor_id, "referral_sharing",
                                    referral.partner_id, on=now.date())
    if grant is None:
        raise MissingConsent(referral)
    for _attempt in range(5):
        reference = new_reference()
        if not db.session.scalar(select(Referral.id).where(Referral.reference == reference)):
            break
    referral.reference = reference
    referral.issued_at = now
    referral.status = "issued"
    from .letters import issue_letter

    issue_letter(user, referral, grant, now)


def letter_pdf(user, referral: Referral) -> bytes:
    """The letter exactly as issued (decrypted, its SHA-256 checked), audited."""
    from .. import crypto
    from .letters import letter_aad

    letter = referral.letter
    if letter is None or not letter.size:  # size 0: destroyed when the survivor was erased
        raise NotFound()
    pdf = crypto.decrypt(letter.pdf, letter_aad(letter))
    if hashlib.sha256(pdf).hexdigest() != letter.sha256:  # pragma: no cover - tampering
        raise RuntimeError("stored letter does not match its SHA-256")
    audit.record(user, "referral.letter_downloaded", referral.survivor, fields=["letter"])
    return pdf


def on_consent_withdrawn(user, withdrawal) -> None:
    """A referral-sharing consent was withdrawn: letters issued to that partner for that
    survivor show as withdrawn on the verification page from now on."""
    letters = db.session.scalars(
        select(ReferralLetter).join(Referral)
        .where(Referral.survivor_id == withdrawal.survivor_id,
               Referral.partner_id == withdrawal.partner_id,
               ReferralLetter.revoked_at.is_(None))
    )
    for letter in letters:
        letter.revoked_at, letter.revocation = withdrawal.recorded_at, "consent_withdrawn"


@dataclass(frozen=True)
class Verification:
    valid: bool  # a letter with this reference and code was issued
    reference: str
    organisation: str | None = None
    issued_on: date | None = None
    status: str | None = None  # "valid" | "withdrawn" (consent) | "revoked" (referral)
    revoked_on: date | None = None

    @property
    def revoked(self) -> bool:
        return self.status in ("withdrawn", "revoked")


def verify_letter(reference: str, code: str | None) -> Verification:
    """What anyone may learn of a letter: issued or not, by whom, when, revoked or not —
    nothing about the survivor. Audited either way."""
    reference = (reference or "").strip().upper()[:20]
    code = (code or "")[:40]
    letter = None
    if reference and not _CONTROL.search(reference + code):
        letter = db.session.scalar(select(ReferralLetter)
                                   .where(ReferralLetter.reference == reference))
    matches = letter is not None and code and secrets.compare_digest(
        letter.code_sha256, code_digest(code))
    if not matches:
        audit.record(None, "letter.verify_failed", actor_username="public",
                     subject_type="referral_letter",
                     subject_id=letter.id if letter is not None else None)
        return Verification(False, reference)
    audit.record(None, "letter.verified", actor_username="public",
                 subject_type="referral_letter", subject_id=letter.id)
    status = {"consent_withdrawn": "withdrawn", "referral_withdrawn": "revoked"}.get(
        letter.revocation, "valid")
    return Verification(True, reference, letter.organisation, letter.issued_at.date(), status,
                        letter.revoked_at.date() if letter.revoked_at else None)


# --- alerts and timeline ---------------------------------------------------------------------------

AWAITING_PARTNER_ALERT = "referral.awaiting_partner"
AWAITING_APPROVAL_ALERT = "referral.awaiting_approval"


def _alert_conditions(user, today: date):
    """SQL conditions of each alert kind for ``user`` (empty: none of that kind)."""
    cutoff = datetime.combine(today - timedelta(days=response_days()), datetime.min.time(),
                              tzinfo=UTC)
    open_case = Survivor.open_case()
    conditions = {}
    if user.role == "caseworker":
        conditions[AWAITING_PARTNER_ALERT] = and_(
            one_of(Referral.status, AWAITING_PARTNER), Referral.issued_at < cutoff,
            or_(Survivor.lead_caseworker_id == user.id, Referral.created_by == user.id),
            open_case, access.scope_clause(user))
    elif user.role == "supervisor":
        team = access.scope_among(user, Referral.survivor_id)
        conditions[AWAITING_PARTNER_ALERT] = and_(
            one_of(Referral.status, AWAITING_PARTNER), Referral.issued_at < cutoff, open_case, team)
        conditions[AWAITING_APPROVAL_ALERT] = and_(
            Referral.status == "awaiting_approval", open_case, team)
    return conditions


def alert_count_query(user, today: date):
    """SELECT of how many referral alerts ``user`` has (None: their role has none)."""
    conditions = _alert_conditions(user, today)
    if not conditions:
        return None
    return (select(func.count()).select_from(Referral).join(Survivor)
            .where(or_(*conditions.values())))


def alert_count(user, today: date | None = None) -> int:
    """How many referral alerts ``user`` has (one SELECT)."""
    if not getattr(user, "is_authenticated", False) or not user.active:
        return 0
    query = alert_count_query(user, today or date.today())
    return (db.session.scalar(query) or 0) if query is not None else 0


def alerts_for(user, today: date | None = None, *, audit_read: bool = True) -> list:
    """Referral alerts of ``user`` as ``casework.me.service.Alert`` (one query):

    * ``referral.awaiting_partner``: issued more than REFERRAL_RESPONSE_DAYS ago and still
      unanswered — for the survivor's lead caseworker (or the referral's author) and the
      team's supervisor; ``due_on`` is the day the answer was due.
    * ``referral.awaiting_approval``: waiting for a supervisor of the team; ``due_on`` is the
      day it was submitted.
    Alerts name survivors by case number only; each survivor is audited as seen in a list.
    """
    from ..me.service import Alert

    if not getattr(user, "is_authenticated", False) or not user.active:
        return []
    today = today or date.today()
    conditions = _alert_conditions(user, today)
    if not conditions:
        return []
    rows = db.session.execute(
        select(Referral, Survivor).join(Survivor, Referral.survivor_id == Survivor.id)
        .where(or_(*conditions.values()))
        .options(joinedload(Referral.partner), joinedload(Survivor.lead_caseworker))
    )
    days = response_days()
    alerts, survivors = [], {}
    for referral, survivor in rows:
        survivors[survivor.id] = survivor
        if referral.status == "awaiting_approval":
            due = (referral.submitted_at or referral.created_at).date()
            alerts.append(Alert(AWAITING_APPROVAL_ALERT, due, survivor.case_number,
                                survivor.id, referral.id,
                                str(_l("Referral to %(partner)s waits for your approval.",
                                       partner=referral.partner.name))))
        else:
            due = referral.issued_at.date() + timedelta(days=days)
            alerts.append(Alert(AWAITING_PARTNER_ALERT, due, survivor.case_number,
                                survivor.id, referral.id,
                                str(_l("%(partner)s has not answered referral %(reference)s "
                                       "(issued %(days)d days ago).",
                                       partner=referral.partner.name,
                                       reference=referral.reference,
                                       days=(today - referral.issued_at.date()).days))))
    alerts.sort(key=lambda a: (a.due_on, a.case_number, a.kind))
    if audit_read:
        for survivor in survivors.values():
            audit.record(user, "survivor.listed", survivor, fields=["case_number"])
    return alerts


TIMELINE_TITLES = {
    "draft": _l("Referral drafted"),
    "awaiting_approval": _l("Referral submitted for approval"),
    "approved": _l("Referral approved"),
    "issued": _l("Referral letter issued"),
    "accepted": _l("Referral accepted by the partner"),
    "declined": _l("Referral declined by the partner"),
    "completed": _l("Referral completed"),
    "withdrawn": _l("Referral withdrawn"),
}


def timeline_events(user, survivor) -> list[TimelineEvent]:
    """One event per referral (its latest state), in two queries whatever their number."""
    if not access.allowed(user, "referral.read", survivor):
        return []
    referrals = db.session.scalars(
        select(Referral).where(Referral.survivor_id == survivor.id)
        .options(selectinload(Referral.partner)))
    events = []
    for referral in referrals:
        fields = access.present(user, referral)
        at = (referral.completed_at or referral.responded_at or referral.withdrawn_at
              or referral.issued_at or referral.approved_at or referral.submitted_at
              or referral.created_at)
        title = str(TIMELINE_TITLES[referral.status])
        if "partner_id" in fields:
            title += f": {referral.partner.name}"
        events.append(TimelineEvent(
            at=at, kind=f"referral.{referral.status}", title=title, record_type="referral",
            record_id=referral.id, fields=fields,
            url=url_for("referrals.view", referral_id=referral.id)))
    return events
