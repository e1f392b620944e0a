"""The guards every view, API route, export and letter calls.

Load, then authorise, then act: a view loads the record, asks ``require`` (which answers
404 for a record outside the caller's scope, so its existence is not revealed), and then
reads through ``present`` or writes only ``writable_fields``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from flask import g, has_app_context, has_request_context, request, session
from flask_babel import gettext as _
from sqlalchemy import Boolean, and_, bindparam, exists, false, or_, select, union, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from werkzeug.exceptions import Forbidden, NotFound

from ..extensions import db, execute_without_objects
from .fields import field_specs
from .policy import READ, WRITE, may_break_glass, permissions


class ForbiddenFields(Forbidden):
    """A write named fields the caller may not write; nothing was changed."""

    def __init__(self, fields: Iterable[str]):
        self.fields = sorted(fields)
        super().__init__(_("You may not change: %(fields)s.", fields=", ".join(self.fields)))


def _real(user):
    """The user behind Flask-Login's ``current_user``. The proxy looks the user up again on
    every attribute read; a list asks the policy a few hundred questions a page, each
    reading the user's id, role and team, so each guard unwraps it once on entry."""
    unwrap = getattr(user, "_get_current_object", None)
    return unwrap() if unwrap is not None else user


def _survivor_model():
    from ..survivors.models import Survivor

    return Survivor


def _cache(name: str) -> dict:
    if not has_app_context():
        return {}
    return g.setdefault(name, {})


def relationship(user, survivor) -> str:
    """``assigned``, ``team`` or ``none``: how ``user`` stands to ``survivor``."""
    user = _real(user)
    if survivor is None or not getattr(user, "is_authenticated", False) or not user.active:
        return "none"
    cache = _cache("_access_relationships")
    key = (user.id, survivor.id)
    if key not in cache:
        cache[key] = _compute_relationship(user, survivor)
    return cache[key]


def _compute_relationship(user, survivor) -> str:
    if user.role in ("caseworker", "counsellor") and user.id in survivor.assigned_user_ids():
        return "assigned"
    if user.role == "counsellor" and survivor.id in _open_engagement_survivor_ids(user):
        return "assigned"
    if user.role == "supervisor" and user.team_id is not None:
        staff = [survivor.lead_caseworker, *survivor.collaborators]
        if any(member.team_id == user.team_id for member in staff if member is not None):
            return "team"
    return "none"


def forget(survivor) -> None:
    """Drop cached relationships of ``survivor`` (after its assignment changed)."""
    for name in ("_access_relationships", "_access_break_glass"):
        cache = _cache(name)
        for key in [k for k in cache if k[1] == survivor.id]:
            del cache[key]
    _cache("_access_open_engagements").clear()
    _cache("_access_open_grants").clear()


def _engaged_counsellor_clause(user_id, engagement=None):
    """SQL condition on counselling engagements (``engagement``: the entity or an alias of
    it): open, with ``user_id`` among its counsellors."""
    from ..counselling.models import CounsellingEngagement, engagement_co_counsellors

    engagement = engagement if engagement is not None else CounsellingEngagement
    co = engagement_co_counsellors.c
    return and_(
        engagement.ended_on.is_(None),
        or_(
            engagement.counsellor_id == user_id,
            exists().where(co.engagement_id == engagement.id, co.user_id == user_id),
        ),
    )


def _open_engagement_survivor_ids(user) -> set[uuid.UUID]:
    """Survivors with whom the counsellor ``user`` holds an open engagement (counsellor or
    co-counsellor), looked up once per request whatever the number of survivors."""
    from ..counselling.models import CounsellingEngagement

    cache = _cache("_access_open_engagements")
    if user.id not in cache:
        cache[user.id] = set(db.session.scalars(
            select(CounsellingEngagement.survivor_id).where(_engaged_counsellor_clause(user.id))
        ))
    return cache[user.id]


# The key of the login session (or API token) in the Flask session cookie; a break-glass grant
# carries its digest and opens nothing in any other session of the same user.
SESSION_KEY = "_cw_access_session"


def new_access_session() -> None:
    """Start a new access session (at login): break-glass grants of earlier ones stay shut."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)


def access_session_digest() -> str:
    """SHA-256 of what identifies the caller's session: the bearer token in use on the API,
    the login session on pages, and (no request: CLI, jobs) the application context."""
    token = g.get("api_token") if has_app_context() else None
    if token is not None:
        return token_session_digest(token.id)
    if has_request_context() and not request.path.startswith("/api/"):
        if SESSION_KEY not in session:
            new_access_session()
        key = f"web:{session[SESSION_KEY]}"
    else:
        if "_access_context_key" not in g:
            g._access_context_key = secrets.token_urlsafe(32)
        key = f"context:{g._access_context_key}"
    return hashlib.sha256(key.encode()).hexdigest()


def token_session_digest(token_id: uuid.UUID) -> str:
    return hashlib.sha256(f"token:{token_id}".encode()).hexdigest()


def end_break_glass(user, digest: str | None = None) -> None:
    """Shut the grants of one session (default: the caller's) at logout or token revocation."""
    from .models import BreakGlassGrant

    now = datetime.now(UTC)
    db.session.execute(
        update(BreakGlassGrant)
        .where(BreakGlassGrant.user_id == user.id,
               BreakGlassGrant.session_digest == (digest or access_session_digest()),
               BreakGlassGrant.expires_at > now)
        .values(expires_at=now)
    )
    _cache("_access_break_glass").clear()
    _cache("_access_open_grants").clear()


def break_glass_active(user, survivor) -> bool:
    user = _real(user)
    if survivor is None or not getattr(user, "is_authenticated", False):
        return False
    cache = _cache("_access_break_glass")
    key = (user.id, survivor.id)
    if key not in cache:
        preload_break_glass(user, [survivor.id])
    return cache.get(key, False)


def preload_break_glass(user, survivor_ids: Iterable[uuid.UUID]) -> None:
    """Whether the glass is broken, for many survivors at once (a list's)."""
    user = _real(user)
    cache = _cache("_access_break_glass")
    open_ids = _open_grant_survivor_ids(user) if user.role == "supervisor" else frozenset()
    for sid in survivor_ids:
        cache[(user.id, sid)] = sid in open_ids


@cache
def _open_grants_statement():
    from .models import BreakGlassGrant

    return select(BreakGlassGrant.survivor_id).where(
        BreakGlassGrant.user_id == bindparam("user_id"),
        BreakGlassGrant.session_digest == bindparam("session_digest"),
        BreakGlassGrant.expires_at > bindparam("now"),
    )


def _open_grant_survivor_ids(user) -> frozenset[uuid.UUID]:
    """The survivors whose glass ``user`` broke in this session, still open: one query a
    request, however many survivors are asked about (a supervisor holds a few grants at
    most; asking for a list's fifty ids instead sent fifty parameters on every page)."""
    grants = _cache("_access_open_grants")
    if user.id not in grants:
        grants[user.id] = frozenset(execute_without_objects(_open_grants_statement(), {
            "user_id": user.id, "session_digest": access_session_digest(),
            "now": datetime.now(UTC)}).scalars())
    return grants[user.id]


def _is_class(obj) -> bool:
    return isinstance(obj, type)


def _granted(user, obj, permission: str, survivor=None) -> frozenset[str]:
    """Fields of ``obj`` granted ``permission`` (shared: callers copy it to change it).

    ``obj`` is a record, or a model class for a record about to be created — for a survivor
    (its creator becomes lead caseworker) or, with ``survivor`` given, for a service record
    of that survivor.
    """
    model = obj if _is_class(obj) else type(obj)
    if _is_class(obj) and survivor is None:
        rel = "assigned" if user.role == "caseworker" else "none"
        glass = False
    else:
        survivor = survivor if _is_class(obj) else _owning_survivor(obj)
        rel = relationship(user, survivor)
        glass = may_break_glass(user.role, rel) and break_glass_active(user, survivor)
    # Privileged fields (counselling notes) belong to a narrower circle than the survivor's
    # assigned staff: the people a record names (e.g. the counsellors of one engagement).
    circle = None
    if not _is_class(obj) and hasattr(obj, "privileged_user_ids"):
        circle = obj.privileged_user_ids()
    if circle is not None:
        return frozenset(
            name
            for name, spec in field_specs(model).items()
            if permission in permissions(user.role, rel, spec.tier, glass)
            and (spec.tier != "privileged" or user.id in circle)
        )
    # Lists ask the same question for every row: answer it once per request.
    cache = _cache("_access_granted")
    key = (model, user.role, rel, glass, permission)
    if key not in cache:
        cache[key] = frozenset(
            name for name, spec in field_specs(model).items()
            if permission in permissions(user.role, rel, spec.tier, glass)
        )
    return cache[key]


def _owning_survivor(obj):
    return obj if isinstance(obj, _survivor_model()) else getattr(obj, "survivor", None)


def readable_fields(user, obj, survivor=None) -> set[str]:
    user = _real(user)
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(_granted(user, obj, READ, survivor))


def writable_fields(user, obj, survivor=None) -> set[str]:
    """Fields ``user`` may set on ``obj``: a record, or a model class for a new record
    (of ``survivor``, for service records)."""
    user = _real(user)
    if not getattr(user, "is_authenticated", False):
        return set()
    model = obj if _is_class(obj) else type(obj)
    specs = field_specs(model)
    return {name for name in _granted(user, obj, WRITE, survivor) if not specs[name].read_only}


def present(user, obj, only: Iterable[str] | None = None) -> dict[str, Any]:
    """The redacted view of ``obj``: readable fields only, unreadable ones absent.

    ``only`` narrows it to the fields a surface shows (a list's columns), so that the
    columns it did not load are never touched and the audit names what was shown.
    """
    user = _real(user)
    if not getattr(user, "is_authenticated", False):
        return {}
    readable = _granted(user, obj, READ)  # (a list presents fifty: no copy of it each)
    specs = field_specs(type(obj))
    names = specs if only is None else [name for name in only if name in specs]
    return {name: getattr(obj, name) for name in names if name in readable}


def check_write(user, obj, names: Iterable[str], survivor=None) -> None:
    """Refuse, whole, a write naming any field ``user`` may not write."""
    user = _real(user)
    forbidden = set(names) - writable_fields(user, obj, survivor)
    if forbidden:
        from ..audit import record_denial

        owner = survivor if _is_class(obj) else _owning_survivor(obj)
        record_denial(user, "survivor.write_denied", owner, sorted(forbidden))
        raise ForbiddenFields(forbidden)


# --- actions -------------------------------------------------------------------------------


def _can_read(user, survivor) -> bool:
    return bool(readable_fields(user, survivor))


def _can_close(user, survivor) -> bool:
    return "status" in writable_fields(user, survivor)


def _can_break_glass(user, survivor) -> bool:
    return may_break_glass(user.role, relationship(user, survivor))


def _can_see_access_log(user, survivor) -> bool:
    rel = relationship(user, survivor)
    return (user.role, rel) in {("caseworker", "assigned"), ("supervisor", "team")}


def _reads_reference(user, _) -> bool:
    return user.role in ("caseworker", "counsellor", "supervisor", "admin")


def _writes_reference(user, _) -> bool:
    return user.role == "admin"


def _reads_programme(user, programme) -> bool:
    """Staff and admins read every funded programme; a donor, only those it funds.

    ``programme`` None asks whether the user may read any (the list, filtered for donors)."""
    if _reads_reference(user, programme):
        return True
    if user.role != "donor":
        return False
    return programme is None or user.id in programme.donor_ids


ACTIONS = {
    "survivor.create": lambda user, _: user.role == "caseworker",
    "survivor.list": lambda user, _: user.role in ("caseworker", "counsellor", "supervisor"),
    "survivor.read": _can_read,
    "survivor.update": lambda user, s: bool(writable_fields(user, s)),
    "survivor.close": _can_close,
    "survivor.break_glass": _can_break_glass,
    "survivor.access_log": _can_see_access_log,
    # Consent log and referrals (obj: the survivor, or one of their records). Anyone who may
    # read the survivor reads the log (fields as the policy says); the survivor's assigned
    # caseworkers record consent and run referrals; the team's supervisor approves them.
    "consent.read": lambda user, obj: _can_read(user, _owning_survivor(obj)),
    "consent.record": lambda user, obj: user.role == "caseworker"
    and relationship(user, _owning_survivor(obj)) == "assigned",
    "referral.read": lambda user, obj: _can_read(user, _owning_survivor(obj)),
    "referral.manage": lambda user, obj: user.role == "caseworker"
    and relationship(user, _owning_survivor(obj)) == "assigned",
    "referral.approve": lambda user, obj: user.role == "supervisor"
    and relationship(user, _owning_survivor(obj)) == "team",
    # Supervision (obj: None for the page, or a survivor / one of their records): the team's
    # supervisor moves cases and decides on closure requests.
    "supervision.reassign": lambda user, obj: user.role == "supervisor"
    and (obj is None or relationship(user, _owning_survivor(obj)) == "team"),
    "closure.decide": lambda user, obj: user.role == "supervisor"
    and (obj is None or relationship(user, _owning_survivor(obj)) == "team"),
    # Erasure on request and subject access (obj: the survivor, or one of their records): the
    # assigned caseworker records the survivor's request, the team's supervisor decides; both
    # download the deletion certificate and produce the survivor's own data export.
    "erasure.request": lambda user, obj: user.role == "caseworker"
    and relationship(user, _owning_survivor(obj)) == "assigned",
    "erasure.decide": lambda user, obj: user.role == "supervisor"
    and (obj is None or relationship(user, _owning_survivor(obj)) == "team"),
    "erasure.certificate": lambda user, obj: _can_see_access_log(user, _owning_survivor(obj)),
    "survivor.subject_access": lambda user, obj: _can_export_own_data(user,
                                                                      _owning_survivor(obj)),
    # Reference data about organisations, not survivors (partners, shelters and their beds,
    # training programmes): staff read it, admins keep it.
    "reference.read": _reads_reference,
    "reference.write": _writes_reference,
    "partners.read": _reads_reference,
    "partners.write": _writes_reference,
    # Funded programmes (obj: None for the list, or a programme): reference data too, and a
    # donor reads the programmes it funds.
    "programmes.read": _reads_programme,
    "programmes.write": _writes_reference,
    "policy.view": lambda user, _: user.role == "admin",
    # Staff who connect other software; donors read reports only (DONOR_ENDPOINTS).
    "api.reference": lambda user, _: user.role in ("caseworker", "counsellor", "supervisor",
                                                   "admin"),
    "users.manage": lambda user, _: user.role == "admin",
    # Spreadsheet import of survivors (casework/imports): admins, for a named caseworker.
    "survivor.import": lambda user, _: user.role == "admin",
    # The team audit (supervisors, their team's events) and the chain check (also admins).
    "team_audit.read": lambda user, _: user.role == "supervisor" and user.team_id is not None,
    "audit.verify": lambda user, _: user.role in ("supervisor", "admin"),
    # Donor impact reports (obj: None for lists and drafting, or a report): supervisors draft
    # and publish them; a donor reads the published reports of the programmes they fund.
    # The HTCDS de-identified export is for supervisors.
    "reports.read": lambda user, report: _reads_report(user, report),
    "reports.write": lambda user, _: user.role == "supervisor",
    "reports.htcds_export": lambda user, _: user.role == "supervisor",
}


def _can_export_own_data(user, survivor) -> bool:
    """The survivor's own data carries their identifying fields: only someone the policy lets
    read those (the assigned caseworker; a team supervisor once they have broken the glass)."""
    if survivor is None or not _can_see_access_log(user, survivor):
        return False
    from .fields import fields_in_tier

    return set(fields_in_tier(type(survivor), "identifying")) <= readable_fields(user, survivor)


def _reads_report(user, report) -> bool:
    if user.role == "supervisor":
        return True
    if user.role != "donor":
        return False
    if report is None:
        return True
    if not report.is_published or report.programme_id is None:
        return False
    from ..programmes.models import programme_donors

    return db.session.scalar(select(exists().where(
        programme_donors.c.programme_id == report.programme_id,
        programme_donors.c.user_id == user.id))) or False


def allowed(user, action: str, obj=None) -> bool:
    user = _real(user)
    if not getattr(user, "is_authenticated", False) or not user.active:
        return False
    return bool(ACTIONS[action](user, obj))


def require(user, action: str, obj=None) -> None:
    """Raise 404 (record out of scope) or 403 unless ``user`` may do ``action`` on ``obj``."""
    if allowed(user, action, obj):
        return
    from ..audit import record_denial

    survivor = _owning_survivor(obj) if obj is not None and not _is_class(obj) else None
    record_denial(user, f"{action}.denied", survivor)
    if survivor is not None and not _can_read(user, survivor):
        raise NotFound()
    raise Forbidden()


# The relationship that ``scope_clause`` selects survivors by, per role.
_SCOPE_RELATIONSHIP = {"caseworker": "assigned", "counsellor": "assigned", "supervisor": "team"}


def note_in_scope(user, survivors: Iterable) -> None:
    """Survivors just selected through ``scope_clause(user)`` stand in the relationship that
    clause selects by: remember it rather than recompute it row by row (lists)."""
    user = _real(user)
    rel = _SCOPE_RELATIONSHIP.get(getattr(user, "role", None))
    if rel is None or not getattr(user, "is_authenticated", False) or not user.active:
        return
    cache = _cache("_access_relationships")
    for survivor in survivors:
        cache[(user.id, survivor.id)] = rel


class AmongIds(ColumnElement):
    """``column`` among the ids a SELECT gives. PostgreSQL: ``column = ANY(ARRAY(select))``,
    so the ids are collected first and each row is then found by its index; elsewhere
    ``column IN (select)``. (For ``IN`` PostgreSQL may instead scan the whole table and hash
    the ids, which is right for a list walked in an index's order, wrong for a count over a
    team's few thousand survivors: 55 → 12 ms for a supervisor's referral alerts at 100,000.)"""

    type = Boolean()
    inherit_cache = False
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("ids", InternalTraversal.dp_clauseelement)]

    def __init__(self, column, ids):
        self.column = column
        self.ids = ids


@compiles(AmongIds)
def _among_ids(element, compiler, **kw):
    return f"{compiler.process(element.column, **kw)} IN ({compiler.process(element.ids, **kw)})"


@compiles(AmongIds, "postgresql")
def _among_ids_postgresql(element, compiler, **kw):
    return (f"{compiler.process(element.column, **kw)} = "
            f"ANY(ARRAY({compiler.process(element.ids, **kw)}))")


def scope_among(user, survivor_id):
    """SQL condition: ``survivor_id`` (a column naming a survivor, in a query that also
    joins ``survivors``) is of a survivor ``user`` has a relationship to — as
    ``scope_clause``, but for a supervisor the team's survivors are looked up first and
    each row then by its survivor index (``AmongIds``): for counts over a table by team."""
    if (getattr(user, "role", None) != "supervisor" or user.team_id is None
            or not getattr(user, "is_authenticated", False) or not user.active):
        return scope_clause(user)
    led, collaboration, members = _scope_tables()
    team = select(members.c.id).where(members.c.team_id == user.team_id)
    return AmongIds(survivor_id, union(
        select(led.c.id).where(AmongIds(led.c.lead_caseworker_id, team)),
        select(collaboration.c.survivor_id).where(AmongIds(collaboration.c.user_id, team))))


@cache
def _scope_tables():
    """Second names for the tables a scope looks its ids up in (survivors, collaborators,
    team members), so that its subqueries never correlate with the outer query. Made once:
    an alias copies each of its table's columns when first used (half a millisecond for
    the survivors' on every list), and it holds nothing of any one query."""
    from ..auth.models import User
    from ..survivors.models import survivor_collaborators

    return (_survivor_model().__table__.alias("scope_led"),
            survivor_collaborators.alias("scope_collaboration"),
            User.__table__.alias("scope_team"))


@cache
def _scope_engagement():
    """A second name for counselling engagements (as ``_scope_tables``)."""
    from sqlalchemy.orm import aliased

    from ..counselling.models import CounsellingEngagement

    return aliased(CounsellingEngagement, name="scope_engagement")


def scope_clause(user):
    """SQL condition selecting exactly the survivors ``user`` has a relationship to.

    Written as ``survivors.id IN (ids as lead UNION ids as collaborator ...)``: each branch
    is an index lookup, so the database starts from the user's few hundred cases instead of
    walking every survivor in page order and testing each one (an OR of EXISTS cannot use
    an index: 80 ms for a caseworker's first page at 100,000 survivors, 1 ms this way).
    """
    from ..auth.models import User

    Survivor = _survivor_model()
    if not getattr(user, "is_authenticated", False) or not user.active:
        return false()
    led, collaboration, _members = _scope_tables()
    if user.role in ("caseworker", "counsellor"):
        branches = [
            select(led.c.id).where(led.c.lead_caseworker_id == user.id),
            select(collaboration.c.survivor_id).where(collaboration.c.user_id == user.id),
        ]
        if user.role == "counsellor":  # or holding an open counselling engagement
            engagement = _scope_engagement()
            branches.append(select(engagement.survivor_id)
                            .where(_engaged_counsellor_clause(user.id, engagement)))
        return Survivor.id.in_(union(*branches))
    if user.role == "supervisor" and user.team_id is not None:
        # A team holds a few percent of all survivors: walking a list's index in its order
        # and keeping the team's rows (a hashed set of ids) beats collecting the team's
        # thousands of ids first, which the union above would make the database do.
        team_member = select(User.id).where(User.team_id == user.team_id)
        return or_(
            Survivor.lead_caseworker_id.in_(team_member),
            Survivor.id.in_(select(collaboration.c.survivor_id)
                            .where(collaboration.c.user_id.in_(team_member))),
        )
    return false()
