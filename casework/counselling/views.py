"""Counselling pages: a survivor's engagements and sessions, and a counsellor's own sessions."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import false, select

from .. import access
from ..api.pagination import InvalidCursor
from ..auth.models import User
from ..extensions import db
from ..survivors import service as survivors
from ..survivors.views import service_links
from . import service
from .forms import EndEngagementForm, EngagementForm, SessionForm
from .labels import FIELD_LABELS
from .models import CounsellingEngagement, CounsellingSession

bp = Blueprint("counselling", __name__)
PAGE_SIZE = 50


def _apply_errors(form, exc: service.ValidationFailed) -> None:
    for name, messages in exc.errors.items():
        if name in form:
            form[name].errors = list(form[name].errors) + messages
        else:
            form.form_errors.extend(messages)


def _counsellor_choices(user, keep: list[User] = ()) -> list[tuple[str, str]]:
    """Active counsellors of the user's team (and any already on the engagement)."""
    query = select(User).where(User.active.is_(True), User.role == "counsellor")
    query = query.where(User.team_id == user.team_id if user.team_id else false())
    users = list(db.session.scalars(query.order_by(User.display_name)))
    known = {u.id for u in users}
    users += [u for u in keep if u.id not in known]
    return [(str(u.id), u.display_name) for u in users]


def _to_survivor_page(survivor_id, anchor: str | None = None):
    return redirect(url_for(".survivor_sessions", survivor_id=survivor_id, _anchor=anchor))


# --- the survivor's counselling page --------------------------------------------------------------


@bp.route("/survivors/<uuid:survivor_id>/counselling")
def survivor_sessions(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    try:
        sessions, next_cursor = service.sessions_page(
            current_user, survivor, PAGE_SIZE, request.args.get("cursor") or None)
    except InvalidCursor:
        abort(400, _("That page link is not valid; start from the first page."))
    engagements = service.engagements_for(current_user, survivor)
    shown_engagements = list(zip(engagements, service.present_engagements(
        current_user, survivor, engagements), strict=True))
    shown_sessions = list(zip(sessions, service.present_sessions(current_user, survivor,
                                                                sessions), strict=True))
    return render_template(
        "counselling/survivor.html",
        survivor=survivor,
        service_links=service_links(survivor),
        engagements=[(e, shown, service.may_manage(current_user, e) and e.is_open)
                     for e, shown in shown_engagements],
        sessions=[(s, shown, bool(access.writable_fields(current_user, s)))
                  for s, shown in shown_sessions],
        show_notes=any("notes" in shown for _s, shown in shown_sessions),
        next_cursor=next_cursor,
        can_start=service.may_start_engagement(current_user, survivor),
        can_record=service.may_record(current_user, survivor)
        and bool(service.open_engagements_of(current_user, survivor, engagements)),
        labels=FIELD_LABELS,
    )


# --- engagements ---------------------------------------------------------------------------------


@bp.route("/survivors/<uuid:survivor_id>/counselling/engagements/new", methods=["GET", "POST"])
def new_engagement(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    if not service.may_start_engagement(current_user, survivor):
        if survivor.is_closed:
            flash(_("This case is closed: no new engagement can start."), "warning")
            return _to_survivor_page(survivor.id)
        abort(403)
    writable = access.writable_fields(current_user, CounsellingEngagement, survivor=survivor)
    form = EngagementForm(allowed=writable, counsellors=_counsellor_choices(current_user))
    if request.method == "GET" and "started_on" in form:
        form.started_on.data = date.today()
    if form.validate_on_submit():
        try:
            engagement = service.start_engagement(current_user, survivor, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Started an engagement with %(name)s.",
                    name=engagement.counsellor.display_name), "success")
            return _to_survivor_page(survivor.id, f"engagement-{engagement.id}")
    status = 422 if form.errors or form.form_errors else 200
    return render_template("counselling/engagement_form.html", form=form, survivor=survivor,
                           engagement=None, service_links=service_links(survivor)), status


@bp.route("/counselling/engagements/<uuid:engagement_id>/edit", methods=["GET", "POST"])
def edit_engagement(engagement_id):
    engagement = service.get_engagement(current_user, engagement_id)
    survivor = engagement.survivor
    if not service.may_manage(current_user, engagement):
        abort(403)
    if not engagement.is_open:
        flash(_("This engagement has ended and can no longer change."), "warning")
        return _to_survivor_page(survivor.id, f"engagement-{engagement.id}")
    # The counsellor of an engagement never changes: it is shown, not offered.
    writable = access.writable_fields(current_user, engagement) - {"counsellor_id"}
    form = EngagementForm(
        allowed=writable,
        counsellors=[c for c in _counsellor_choices(current_user, engagement.co_counsellors)
                     if c[0] != str(engagement.counsellor_id)],
    )
    if request.method == "GET":
        if "started_on" in form:
            form.started_on.data = engagement.started_on
        if "co_counsellor_ids" in form:
            form.co_counsellor_ids.data = [str(v) for v in engagement.co_counsellor_ids]
    if form.validate_on_submit():
        try:
            changed = service.update_engagement(current_user, engagement, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Saved the engagement.") if changed else _("Nothing was changed."),
                  "success" if changed else "info")
            return _to_survivor_page(survivor.id, f"engagement-{engagement.id}")
    status = 422 if form.errors or form.form_errors else 200
    return render_template("counselling/engagement_form.html", form=form, survivor=survivor,
                           engagement=engagement, service_links=service_links(survivor)), status


@bp.route("/counselling/engagements/<uuid:engagement_id>/end", methods=["GET", "POST"])
def end_engagement(engagement_id):
    engagement = service.get_engagement(current_user, engagement_id)
    survivor = engagement.survivor
    if not service.may_manage(current_user, engagement):
        abort(403)
    form = EndEngagementForm()
    if request.method == "GET":
        form.on.data = date.today()
    if form.validate_on_submit():
        try:
            service.end_engagement(current_user, engagement, form.on.data)
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Ended the engagement with %(name)s.",
                    name=engagement.counsellor.display_name), "success")
            return _to_survivor_page(survivor.id, f"engagement-{engagement.id}")
    status = 422 if form.errors or form.form_errors else 200
    return render_template("counselling/end_form.html", form=form, survivor=survivor,
                           engagement=engagement, service_links=service_links(survivor)), status


# --- sessions ------------------------------------------------------------------------------------


@bp.route("/survivors/<uuid:survivor_id>/counselling/sessions/new", methods=["GET", "POST"])
def new_session(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    if not service.may_record(current_user, survivor):
        abort(403)
    engagements = service.open_engagements_of(current_user, survivor)
    if not engagements:
        flash(_("You have no open counselling engagement with this survivor. Ask the "
                "caseworker to start one."), "warning")
        return _to_survivor_page(survivor.id)
    allowed = set(service.SESSION_FACTS)
    allowed |= access.writable_fields(current_user, CounsellingSession, survivor=survivor)
    form = SessionForm(allowed=allowed & set(service.SESSION_INPUT))
    if request.method == "GET":
        form.held_on.data = date.today()
        form.attended.data = True
        form.language.data = survivor.primary_language or ""
    if form.validate_on_submit():
        data = form.changes()
        if len(engagements) > 1:
            data["engagement_id"] = request.form.get("engagement_id") or None
        try:
            session = service.record_session(current_user, survivor, data)
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        except service.Conflict as exc:
            form.form_errors.append(str(exc))
        else:
            flash(_("Recorded the session of %(day)s.", day=format_date(session.held_on)),
                  "success")
            return _to_survivor_page(survivor.id, f"session-{session.id}")
    status = 422 if form.errors or form.form_errors else 200
    return render_template("counselling/session_form.html", form=form, survivor=survivor,
                           session=None, shown=None, labels=FIELD_LABELS,
                           engagements=engagements,
                           service_links=service_links(survivor)), status


@bp.route("/counselling/sessions/<uuid:session_id>/edit", methods=["GET", "POST"])
def edit_session(session_id):
    session = service.get_session(current_user, session_id)
    survivor = session.survivor
    writable = access.writable_fields(current_user, session)
    if not writable:
        abort(403)
    form = SessionForm(obj=None if request.method == "POST" else _FormData(session),
                       allowed=writable)
    if form.validate_on_submit():
        try:
            changed = service.update_session(current_user, session, form.changes())
        except service.ValidationFailed as exc:
            _apply_errors(form, exc)
        else:
            flash(_("Saved the session.") if changed else _("Nothing was changed."),
                  "success" if changed else "info")
            return _to_survivor_page(survivor.id, f"session-{session.id}")
    shown = service.view_session(current_user, session)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("counselling/session_form.html", form=form, survivor=survivor,
                           session=session, shown=shown, labels=FIELD_LABELS, engagements=[],
                           service_links=service_links(survivor)), status


class _FormData:
    """The session's values in the shapes the form fields take."""

    def __init__(self, session: CounsellingSession):
        self._session = session

    def __getattr__(self, name):
        value = getattr(self._session, name)
        if name == "language":
            return value or ""
        return value


# --- a counsellor's own sessions ------------------------------------------------------------------


@bp.route("/counselling/")
def my_sessions():
    if current_user.role != "counsellor":
        abort(403)
    rows = service.my_sessions(current_user)
    return render_template("counselling/mine.html", rows=rows, labels=FIELD_LABELS)
