"""Erasure on request (with a deletion certificate), the retention run and subject access.

* **Erasure on request.** The assigned caseworker records that the survivor asks to be erased
  (``request_erasure``); a supervisor of the team approves (``approve``: in the same unit of
  work the survivor is erased by ``erase.erase``, a certificate is rendered and stored, the
  event ``survivor.erased`` is audited) or refuses with a comment (``refuse``).
* **Retention.** ``run_retention`` anonymises, with the same routine, closed cases whose
  closure is older than the organisation's ``retention_years_after_closure`` (else config
  ``RETENTION_YEARS_AFTER_CLOSURE``; neither set: nothing is due). A dry run lists and counts
  without changing anything. Erased cases are never picked again, so a second run does nothing.
* **Subject access.** ``subject_access`` gathers everything held about the survivor: the record,
  every record about them, letters (metadata), consents and the access log. Privileged fields
  (counselling session notes) are left out and listed as withheld: a counsellor's notes are
  disclosed by the counsellor after a harm review, not by whoever produces the export (the
  caseworker and the supervisor may not read them under the policy either).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from flask import current_app
from flask_babel import format_date, format_datetime, format_decimal, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from .. import access, audit
from ..access.fields import field_specs
from ..audit.labels import action_label
from ..audit.models import AuditEvent
from ..extensions import db
from ..survivors.models import CLOSED_STATUSES, Survivor
from ..survivors.service import Conflict, ValidationFailed, _clean_text
from . import erase as eraser
from .models import ErasureRequest

MAX_TEXT = 2000
INBOX_LIMIT = 200
RETENTION_ACTOR = "retention"


# --- erasure requests --------------------------------------------------------------------------


def _text(name: str, value, message) -> str:
    try:
        text = _clean_text("closure_reason", value) if isinstance(value, str) else None
    except ValueError as exc:
        raise ValidationFailed({name: [exc.args[0]]}) from None
    if value is not None and not isinstance(value, str):
        raise ValidationFailed({name: [_l("Give text.")]})
    if not text:
        raise ValidationFailed({name: [message]})
    return text


def _requested_on(value, today: date) -> date:
    if value is None or value == "":
        return today
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            raise ValidationFailed({"requested_on": [
                _l("Give the date as YYYY-MM-DD.")]}) from None
    if day > today:
        raise ValidationFailed({"requested_on": [_l("The date cannot be in the future.")]})
    return day


def pending_request(survivor) -> ErasureRequest | None:
    return db.session.scalar(select(ErasureRequest).where(
        ErasureRequest.survivor_id == survivor.id, ErasureRequest.status == "pending"))


def requests_of(survivor) -> list[ErasureRequest]:
    return list(db.session.scalars(
        select(ErasureRequest).where(ErasureRequest.survivor_id == survivor.id)
        .order_by(ErasureRequest.created_at.desc())))


def request_erasure(user, survivor, reason, requested_on=None) -> ErasureRequest:
    """The assigned caseworker records that the survivor asks to be erased."""
    access.require(user, "erasure.request", survivor)
    reason_clean = _text("reason", reason, _l("Say how and when the survivor asked."))
    day = _requested_on(requested_on, datetime.now(UTC).date())
    if survivor.erased_at is not None:
        raise Conflict(_l("This survivor's data was already erased."))
    if pending_request(survivor) is not None:
        raise Conflict(_l("A request to erase this survivor is already waiting for approval."))
    request = ErasureRequest(survivor_id=survivor.id, survivor=survivor, requested_by=user.id,
                             requested_on=day, reason=reason_clean, status="pending")
    try:
        with db.session.begin_nested():
            db.session.add(request)
            db.session.flush()
    except IntegrityError:
        raise Conflict(_l("A request to erase this survivor is already waiting for approval.")) \
            from None
    audit.record(user, "erasure.requested", survivor, fields=["requested_on", "reason"])
    return request


def load(request_id) -> ErasureRequest | None:
    try:
        key = request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
    except ValueError:
        return None
    return db.session.get(ErasureRequest, key)


def get_for(user, request_id, action: str = "survivor.read") -> ErasureRequest:
    """Load, then authorise (404 outside the caller's scope, 403 without the right)."""
    request = load(request_id)
    if request is None:
        raise NotFound()
    access.require(user, action, request)
    return request


def record_view(user, request: ErasureRequest) -> dict:
    shown = access.present(user, request)
    audit.record(user, "erasure.viewed", request.survivor, fields=shown.keys())
    return shown


def _check_pending(request: ErasureRequest) -> None:
    if request.status != "pending":
        raise Conflict(_l("This request was already decided (%(status)s).",
                          status=request.status))


def approve(user, request: ErasureRequest) -> eraser.ErasureCounts:
    """Erase the survivor, in this unit of work, and store the deletion certificate."""
    access.require(user, "erasure.decide", request)
    _check_pending(request)
    survivor = request.survivor
    if survivor.erased_at is not None:  # pragma: no cover - a pending request blocks retention
        raise Conflict(_l("This survivor's data was already erased."))
    now = datetime.now(UTC)
    request.status, request.decided_by, request.decided_at = "approved", user.id, now
    request.erased_at, request.updated_at = now, now
    db.session.flush()
    counts = eraser.erase(survivor, now)
    request.certificate = certificate_pdf(request, user.role, counts)
    db.session.flush()
    audit.record(user, "survivor.erased", survivor, fields=sorted(
        category for category, n in counts.as_dict().items() if n), reason="on request")
    return counts


def refuse(user, request: ErasureRequest, comment) -> ErasureRequest:
    access.require(user, "erasure.decide", request)
    text = _text("comment", comment, _l("Say why the survivor's data must be kept."))
    _check_pending(request)
    now = datetime.now(UTC)
    request.status, request.decided_by, request.decided_at = "refused", user.id, now
    request.comment, request.updated_at = text, now
    db.session.flush()
    audit.record(user, "erasure.refused", request.survivor,
                 fields=["status", "decided_by", "decided_at", "comment"])
    return request


def inbox(user) -> list[ErasureRequest]:
    """Pending erasure requests of the supervisor's team, oldest first."""
    access.require(user, "erasure.decide")
    return list(db.session.scalars(
        select(ErasureRequest).join(Survivor, ErasureRequest.survivor_id == Survivor.id)
        .where(ErasureRequest.status == "pending", access.scope_clause(user))
        .order_by(ErasureRequest.created_at, ErasureRequest.id).limit(INBOX_LIMIT)))


def certificate_for(user, request: ErasureRequest) -> bytes:
    access.require(user, "erasure.certificate", request)
    if request.status != "approved" or request.certificate is None:
        raise NotFound()
    audit.record(user, "erasure.certificate_downloaded", request.survivor,
                 fields=["certificate"])
    return request.certificate


# --- the certificate ---------------------------------------------------------------------------


def _organisation() -> str:
    from ..referrals.service import organisation_name

    return organisation_name()


def certificate_pdf(request: ErasureRequest, approver_role: str,
                    counts: eraser.ErasureCounts) -> bytes:
    """The deletion certificate: case number, dates, the approver's role, what was destroyed
    by category and what was kept. No identifying value of anyone."""
    from ..referrals.letters.render import render_pdf

    context = {
        "organisation": _organisation(),
        "certificate_id": str(request.id),
        "case_number": request.survivor.case_number,
        "requested_on": format_date(request.requested_on, "long"),
        "approved_on": format_datetime(request.decided_at, "long"),
        "erased_on": format_datetime(request.erased_at, "long"),
        "approver": _approver(approver_role),
        "destroyed": [(eraser.CATEGORY_LABELS[category], count)
                      for category, count in counts.as_dict().items()],
        "kept": [str(item) for item in eraser.KEPT],
        **_letter_i18n(),
    }
    return render_pdf("erasure_certificate.html", context)


def _letter_i18n() -> dict:
    """What the letters' sandboxed templates need to speak the user's language: gettext,
    ngettext, Babel's numbers and the document's language and direction."""
    from flask_babel import get_locale

    from ..referrals.letters.catalogue import direction

    locale = str(get_locale() or "en")
    return {"_": _, "ngettext": ngettext, "number": format_decimal,
            "lang": locale.replace("_", "-"), "dir": direction(locale.split("_")[0])}


def _approver(role: str) -> str:
    """Who approved, by role only (a whole phrase each: roles do not slot into sentences)."""
    return {"supervisor": _("a supervisor of the team"),
            "caseworker": _("a caseworker of the team"),
            "counsellor": _("a counsellor of the team")}.get(role, role)




# --- retention ---------------------------------------------------------------------------------


def retention_years() -> int | None:
    from ..auth.models import Organisation

    org = db.session.scalar(select(Organisation).limit(1))
    if org is not None and org.retention_years_after_closure is not None:
        return org.retention_years_after_closure
    value = current_app.config.get("RETENTION_YEARS_AFTER_CLOSURE")
    return int(value) if value is not None else None


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


@dataclass
class RetentionReport:
    years: int | None
    cutoff: datetime | None
    dry_run: bool
    cases: list[tuple[str, datetime]] = field(default_factory=list)
    counts: eraser.ErasureCounts = field(default_factory=eraser.ErasureCounts)


def due_for_retention(cutoff: datetime) -> list[Survivor]:
    return list(db.session.scalars(
        select(Survivor).where(Survivor.status.in_(CLOSED_STATUSES),
                               Survivor.closed_at.is_not(None), Survivor.closed_at < cutoff,
                               Survivor.erased_at.is_(None))
        .order_by(Survivor.closed_at, Survivor.case_number)))


def run_retention(*, dry_run: bool, now: datetime | None = None) -> RetentionReport:
    """Anonymise (or, dry run, list) closed cases past the retention period; audited. The
    caller commits."""
    now = now or datetime.now(UTC)
    years = retention_years()
    if years is None:
        return RetentionReport(None, None, dry_run)
    cutoff = _years_before(now, years)
    report = RetentionReport(years, cutoff, dry_run)
    for survivor in due_for_retention(cutoff):
        counts = eraser.erase(survivor, now, apply=not dry_run)
        report.cases.append((survivor.case_number, survivor.closed_at))
        report.counts.merge(counts)
        if not dry_run:
            audit.record(None, "survivor.erased", survivor, actor_username=RETENTION_ACTOR,
                         fields=sorted(c for c, n in counts.as_dict().items() if n),
                         reason=f"retention: closed more than {years} years ago")
    summary = [f"{category}: {n}" for category, n in report.counts.as_dict().items()]
    audit.record(None, "retention.dry_run" if dry_run else "retention.run",
                 actor_username=RETENTION_ACTOR, fields=[],
                 reason=f"{len(report.cases)} case(s) closed before {cutoff:%Y-%m-%d}; "
                        + "; ".join(summary))
    return report


# --- subject access ----------------------------------------------------------------------------

WITHHELD_TIERS = ("privileged",)
def N_(text: str) -> str:
    """Marks ``text`` for the catalogue; it is translated where it is shown (the PDF), the
    JSON export keeps the English."""
    return text


WITHHELD_WHY = N_("Counselling notes are withheld from this export: the counsellor discloses "
                  "them on request after checking that disclosure would not cause harm.")

# Headings of the subject access PDF: the records about the survivor, by table.
RECORD_TITLES = {
    "plan_items": _l("Care plan items"),
    "placements": _l("Shelter placements"),
    "counselling_engagements": _l("Counselling engagements"),
    "counselling_sessions": _l("Counselling sessions"),
    "training_enrolments": _l("Training enrolments"),
    "legal_matters": _l("Legal matters"),
    "legal_hearings": _l("Legal hearings"),
    "referrals": _l("Referrals"),
    "consents": _l("Consents"),
    "closure_requests": _l("Closure requests"),
    "erasure_requests": _l("Erasure requests"),
    "reassignments": _l("Reassignments"),
}
LETTER_LABELS = {
    "reference": _l("Reference"),
    "referral_id": _l("Referral"),
    "issued_at": _l("Issued on"),
    "language": _l("Language"),
    "sha256": _l("SHA-256 fingerprint"),
    "revoked_at": _l("Withdrawn on"),
    "revocation": _l("Reason for withdrawal"),
}


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fields_of(obj, withheld: list[str]) -> dict:
    shown = {}
    for name, spec in field_specs(type(obj)).items():
        if spec.tier in WITHHELD_TIERS:
            if getattr(obj, name) not in (None, ""):
                withheld.append(name)
            continue
        shown[name] = _plain(getattr(obj, name))
    return shown


def _records_about(survivor) -> list[tuple[str, list]]:
    groups = []
    for model, key, _column in eraser.erasable_columns():
        if model is Survivor or not field_specs(model):
            continue
        rows = list(db.session.scalars(select(model).where(getattr(model, key) == survivor.id)))
        if rows:
            groups.append((model.__tablename__, rows))
    return groups


def subject_access(user, survivor) -> dict:
    """Everything held about ``survivor`` (their own data), audited."""
    from ..referrals.models import Referral, ReferralLetter

    access.require(user, "survivor.subject_access", survivor)
    withheld: dict[str, dict] = {}
    record_fields: list[str] = []
    data = {
        "generated_at": _plain(datetime.now(UTC)),
        "organisation": _organisation(),
        "case_number": survivor.case_number,
        "survivor": _fields_of(survivor, record_fields),
        "records": {},
    }
    for table, rows in _records_about(survivor):
        items = []
        for row in rows:
            names: list[str] = []
            items.append(_fields_of(row, names))
            if names:
                entry = withheld.setdefault(table, {"fields": sorted(set(names)), "count": 0})
                entry["count"] += 1
        data["records"][table] = items
    letters = db.session.scalars(
        select(ReferralLetter).join(Referral, ReferralLetter.referral_id == Referral.id)
        .where(Referral.survivor_id == survivor.id).order_by(ReferralLetter.issued_at))
    data["letters"] = [{"reference": letter.reference, "referral_id": str(letter.referral_id),
                        "issued_at": _plain(letter.issued_at), "language": letter.language,
                        "sha256": letter.sha256, "revoked_at": _plain(letter.revoked_at),
                        "revocation": letter.revocation} for letter in letters]
    data["withheld"] = [{"record": table, **entry, "why": WITHHELD_WHY}
                        for table, entry in withheld.items()]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == survivor.id)
                                .order_by(AuditEvent.id))
    data["access_log"] = [{"at": _plain(e.occurred_at), "who": e.actor_username,
                           "action": e.action, "what": action_label(e.action),
                           "fields": list(e.fields or []), "channel": e.channel}
                          for e in events]
    audit.record(user, "survivor.subject_access_export", survivor,
                 fields=sorted(data["survivor"]))
    return data


def subject_access_json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode()


def subject_access_pdf(data: dict) -> bytes:
    from ..i18n import field_label
    from ..referrals.letters.render import render_pdf

    def rows(values: dict, labels=None):
        return [(str((labels or {}).get(name) or field_label(name)), _show(value))
                for name, value in values.items()]

    def title(table: str) -> str:
        return str(RECORD_TITLES.get(table) or table.replace("_", " ").capitalize())

    def when(value: str | None) -> str:
        return format_datetime(datetime.fromisoformat(value), "medium") if value else "—"

    context = {
        "organisation": data["organisation"],
        "case_number": data["case_number"],
        "generated_at": when(data["generated_at"]),
        "survivor": rows(data["survivor"]),
        "records": [(title(table), [rows(item) for item in items])
                    for table, items in data["records"].items()],
        "letters": [rows({**letter, "issued_at": when(letter["issued_at"]),
                          "revoked_at": when(letter["revoked_at"])}, LETTER_LABELS)
                    for letter in data["letters"]],
        "withheld": [{"record": title(entry["record"]),
                      "fields": [field_label(name) for name in entry["fields"]],
                      "count": entry["count"], "why": _(entry["why"])}
                     for entry in data["withheld"]],
        "access_log": [{**event, "at": when(event["at"])} for event in data["access_log"]],
        **_letter_i18n(),
    }
    return render_pdf("subject_access.html", context)



def _show(value) -> str:
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
