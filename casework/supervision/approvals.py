"""Approvals: referrals awaiting a supervisor's approval (casework/referrals/service.py
``approve`` and ``return``) and closure requests.

When the organisation asks for it (``Organisation.closures_need_approval``; config
``CLOSURES_NEED_APPROVAL`` when there is no organisation row), a caseworker's close action
creates a ``ClosureRequest`` instead of closing the case. A supervisor of the team approves
it (the case closes with the requested status and reason) or returns it with a comment. One
pending request per survivor (a partial unique index). Requests are never deleted: they are
the case's history of closure decisions, shown on its timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from .. import access, audit
from ..extensions import db
from ..survivors.models import Survivor
from ..survivors.service import Conflict, ValidationFailed, _clean_text
from ..survivors.timeline import TimelineEvent
from .models import ClosureRequest, Reassignment

MAX_COMMENT = 2000
INBOX_LIMIT = 200


def closures_need_approval() -> bool:
    """The organisation's setting; config CLOSURES_NEED_APPROVAL when there is no row."""
    from ..auth.models import Organisation

    org = db.session.scalar(select(Organisation).limit(1))
    if org is not None and org.closures_need_approval is not None:
        return bool(org.closures_need_approval)
    return bool(current_app.config.get("CLOSURES_NEED_APPROVAL", False))


def close_needs_request(user) -> bool:
    """Whether ``user``'s close action becomes a request (supervisors decide, they close)."""
    return user.role != "supervisor" and closures_need_approval()


def pending_request(survivor) -> ClosureRequest | None:
    return db.session.scalar(select(ClosureRequest).where(
        ClosureRequest.survivor_id == survivor.id, ClosureRequest.status == "pending"))


def returned_condition(user_id):
    """SQL condition: the returned closure requests of the user ``user_id`` (an id or a bound
    parameter) that they have not seen yet."""
    return (ClosureRequest.requested_by == user_id, ClosureRequest.status == "returned",
            ClosureRequest.acknowledged_at.is_(None))


# Built once: it runs on every survivor page.
_CLOSURE_STATE = select(ClosureRequest).where(
    ClosureRequest.survivor_id == bindparam("survivor_id"),
    or_(ClosureRequest.status == "pending", and_(*returned_condition(bindparam("user_id")))))


def closure_state(user, survivor) -> tuple[ClosureRequest | None, ClosureRequest | None]:
    """The survivor's pending closure request, and ``user``'s latest returned request for
    it that they have not seen (both in one SELECT)."""
    rows = list(db.session.scalars(_CLOSURE_STATE,
                                   {"survivor_id": survivor.id, "user_id": user.id}))
    pending = next((r for r in rows if r.status == "pending"), None)
    returned = [r for r in rows if r.status == "returned"]
    return pending, max(returned, key=lambda r: r.decided_at) if returned else None


def acknowledge_returns(user, survivor) -> int:
    """The requester opened the case: the alerts of their returned requests are done."""
    result = db.session.execute(
        update(ClosureRequest)
        .where(ClosureRequest.survivor_id == survivor.id, *returned_condition(user.id))
        .values(acknowledged_at=datetime.now(UTC)))
    return result.rowcount or 0


def request_closure(user, survivor, status: str, reason: str) -> ClosureRequest:
    """A pending request to close ``survivor`` (the caller was authorised to close it and
    ``status``/``reason`` are already checked by survivors.service.close)."""
    if pending_request(survivor) is not None:
        raise Conflict(_l("A request to close this case is already waiting for approval."))
    request = ClosureRequest(survivor_id=survivor.id, survivor=survivor, requested_by=user.id,
                             requested_status=status, reason=reason, status="pending")
    try:
        with db.session.begin_nested():
            db.session.add(request)
            db.session.flush()
    except IntegrityError:  # another request came first (partial unique index)
        raise Conflict(_l("A request to close this case is already waiting for approval.")) \
            from None
    audit.record(user, "closure.requested", survivor,
                 fields=["requested_status", "reason", "status"])
    return request


def load(request_id) -> ClosureRequest | None:
    try:
        key = request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
    except ValueError:
        return None
    return db.session.get(ClosureRequest, key)


def get_for(user, request_id, action: str = "survivor.read") -> ClosureRequest:
    """Load, then authorise (404 outside the caller's scope, 403 without the right)."""
    request = load(request_id)
    if request is None:
        raise NotFound()
    access.require(user, action, request)
    return request


def record_view(user, request: ClosureRequest) -> dict:
    shown = access.present(user, request)
    audit.record(user, "closure.viewed", request.survivor, fields=shown.keys())
    return shown


def _check_pending(request: ClosureRequest) -> None:
    if request.status != "pending":
        raise Conflict(_l("This request was already decided (%(status)s).",
                          status=request.status))


def approve(user, request: ClosureRequest) -> ClosureRequest:
    """Close the case with the requested status and reason; the request is approved."""
    from ..survivors import service as survivors

    access.require(user, "closure.decide", request)
    _check_pending(request)
    survivor = request.survivor
    if survivor.is_closed:
        raise Conflict(_l("This case is already closed."))
    access.require(user, "survivor.close", survivor)
    survivors.close_now(user, survivor, request.requested_status, request.reason)
    now = datetime.now(UTC)
    request.status, request.decided_by, request.decided_at = "approved", user.id, now
    request.updated_at = now
    db.session.flush()
    audit.record(user, "closure.approved", survivor, fields=["status", "decided_by",
                                                             "decided_at"])
    return request


def return_request(user, request: ClosureRequest, comment) -> ClosureRequest:
    """Send the request back with a comment; the case stays open."""
    access.require(user, "closure.decide", request)
    try:
        text = _clean_text("closure_reason", comment) if comment is not None else None
    except ValueError as exc:
        raise ValidationFailed({"comment": [exc.args[0]]}) from None
    if not text:
        raise ValidationFailed({"comment": [_l("Say what should happen before closing.")]})
    _check_pending(request)
    now = datetime.now(UTC)
    request.status, request.decided_by, request.decided_at = "returned", user.id, now
    request.comment, request.updated_at = text, now
    db.session.flush()
    audit.record(user, "closure.returned", request.survivor,
                 fields=["status", "decided_by", "decided_at", "comment"])
    return request


# --- the inbox -----------------------------------------------------------------------------------


def inbox(user):
    """(referrals awaiting approval, pending closure requests) of the supervisor's team,
    oldest first, in two queries; each survivor listed is audited as seen in a list."""
    from ..referrals.models import Referral

    access.require(user, "closure.decide")
    scope = access.scope_clause(user)
    open_case = Survivor.open_case()
    referrals = list(db.session.scalars(
        select(Referral).join(Survivor, Referral.survivor_id == Survivor.id)
        .where(Referral.status == "awaiting_approval", open_case, scope)
        .order_by(Referral.submitted_at, Referral.id).limit(INBOX_LIMIT)
        .options(selectinload(Referral.partner), selectinload(Referral.creator),
                 selectinload(Referral.survivor).selectinload(Survivor.lead_caseworker),
                 selectinload(Referral.survivor).selectinload(Survivor.collaborators))))
    closures = list(db.session.scalars(
        select(ClosureRequest).join(Survivor, ClosureRequest.survivor_id == Survivor.id)
        .where(ClosureRequest.status == "pending", scope)
        .order_by(ClosureRequest.created_at, ClosureRequest.id).limit(INBOX_LIMIT)
        .options(selectinload(ClosureRequest.requester),
                 selectinload(ClosureRequest.survivor).selectinload(Survivor.lead_caseworker),
                 selectinload(ClosureRequest.survivor).selectinload(Survivor.collaborators))))
    seen = {r.survivor_id: r.survivor for r in [*referrals, *closures]}
    access.preload_break_glass(user, list(seen))
    for survivor in seen.values():
        audit.record(user, "survivor.listed", survivor, fields=["case_number"])
    return referrals, closures


# --- the case's history (timeline) ---------------------------------------------------------------

CLOSURE_TITLES = {
    "requested": _l("Closure requested"),
    "approved": _l("Closure approved"),
    "returned": _l("Closure request returned"),
}


def timeline_events(user, survivor) -> list[TimelineEvent]:
    """Closure requests and their decisions, referrals returned to draft and reassignments
    of ``survivor``: three queries whatever their number, each as the viewer may see it."""
    from ..referrals.models import Referral

    if not access.allowed(user, "survivor.read", survivor):
        return []
    events: list[TimelineEvent] = []
    for request in db.session.scalars(select(ClosureRequest)
                                      .where(ClosureRequest.survivor_id == survivor.id)):
        request.survivor = survivor
        fields = access.present(user, request)
        events.append(TimelineEvent(request.created_at, "closure.requested",
                                    str(CLOSURE_TITLES["requested"]), "closure_request",
                                    request.id, {k: v for k, v in fields.items()
                                                 if k in ("requested_status", "reason")}))
        if request.decided_at is not None:
            events.append(TimelineEvent(request.decided_at, f"closure.{request.status}",
                                        str(CLOSURE_TITLES[request.status]), "closure_request",
                                        request.id, {k: v for k, v in fields.items()
                                                     if k in ("status", "decided_by",
                                                              "comment")}))
    if access.allowed(user, "referral.read", survivor):
        for referral in db.session.scalars(select(Referral).where(
                Referral.survivor_id == survivor.id, Referral.returned_at.is_not(None))):
            fields = access.present(user, referral)
            events.append(TimelineEvent(
                referral.returned_at, "referral.returned",
                str(_l("Referral returned to draft by the supervisor")), "referral",
                referral.id, {k: v for k, v in fields.items()
                              if k in ("returned_by", "return_comment")},
                url=url_for("referrals.view", referral_id=referral.id)))
    for move in db.session.scalars(select(Reassignment)
                                   .where(Reassignment.survivor_id == survivor.id)):
        move.survivor = survivor
        fields = access.present(user, move)
        events.append(TimelineEvent(move.at, "case.reassigned",
                                    str(_l("Case moved to another lead caseworker")),
                                    "reassignment", move.id,
                                    {k: v for k, v in fields.items()
                                     if k in ("from_user_id", "to_user_id", "reason")}))
    return events
