"""Support plan pages: a survivor's plan with its add form, and one item's edit form."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from .. import access, vocab
from ..survivors import service as survivors
from . import service
from .forms import PlanItemForm
from .labels import LABELS
from .models import PlanItem

bp = Blueprint("plans", __name__)
# The columns of the plan table, in order (each shown only when the caller may read it).
COLUMNS = ("type", "objective", "due_on", "done_on", "assignee_id")
NEW_ITEM_FIELDS = {"type", "objective", "due_on", "assignee_id"}
EDIT_FIELDS = {"type", "objective", "due_on", "done_on", "assignee_id"}


def _service_links(survivor):
    from ..survivors.views import service_links

    return service_links(survivor)


def _apply_errors(form, exc: survivors.ValidationFailed) -> None:
    for name, messages in exc.errors.items():
        if name in form:
            form[name].errors = list(form[name].errors) + messages
        else:
            form.form_errors.extend(messages)


def display_value(name: str, value, item: PlanItem) -> str:
    if value is None:
        return "—"
    if name == "type":
        return _(vocab.htcds(vocab.SUPPORT_PLAN_TYPE).label(value))
    if name == "assignee_id":
        return item.assignee.display_name
    if isinstance(value, date):
        return format_date(value, "medium")
    return str(value)


@bp.route("/survivors/<uuid:survivor_id>/plan", methods=["GET", "POST"])
def survivor_plan(survivor_id):
    survivor = survivors.get_for(current_user, survivor_id)
    writable = access.writable_fields(current_user, PlanItem, survivor=survivor)
    can_add = {"type", "due_on"} <= writable
    if request.method == "POST" and not can_add:
        access.check_write(current_user, PlanItem, ["type", "due_on"], survivor=survivor)
    form = None
    if can_add:
        form = PlanItemForm(keep=writable & NEW_ITEM_FIELDS,
                            assignees=service.assignee_choices(survivor))
        if request.method == "GET" and "assignee_id" in form:
            form.assignee_id.data = str(survivor.lead_caseworker_id)
    status = 200
    if form is not None and form.validate_on_submit():
        try:
            service.create_item(current_user, survivor, form.changes())
        except survivors.ValidationFailed as exc:
            _apply_errors(form, exc)
        else:
            flash(_("Added to the support plan of %(case)s.", case=survivor.case_number),
                  "success")
            return redirect(url_for(".survivor_plan", survivor_id=survivor.id))
    if form is not None and form.errors:
        status = 422
    today = date.today()
    rows = []
    readable: set[str] = set()
    for item, shown in service.items_for(current_user, survivor):
        readable |= set(shown)
        rows.append({
            "item": item,
            "cells": {name: display_value(name, shown[name], item)
                      for name in COLUMNS if name in shown},
            "overdue": "due_on" in shown and "done_on" in shown
            and service.is_overdue(item, today),
            "can_edit": bool(access.writable_fields(current_user, item) & EDIT_FIELDS),
            "can_mark_done": "done_on" in access.writable_fields(current_user, item)
            and item.done_on is None,
        })
    columns = [(name, str(LABELS[name])) for name in COLUMNS if name in readable]
    return render_template("plans/survivor.html", survivor=survivor, rows=rows,
                           columns=columns, form=form,
                           service_links=_service_links(survivor)), status


class _Values:
    def __init__(self, item: PlanItem):
        self._item = item

    def __getattr__(self, name):
        value = getattr(self._item, name)
        return str(value) if name == "assignee_id" else value


@bp.route("/plan-items/<uuid:item_id>", methods=["GET", "POST"])
def item(item_id):
    item = service.get_item_for(current_user, item_id)
    survivor = item.survivor
    writable = access.writable_fields(current_user, item) & EDIT_FIELDS
    if request.method == "POST" and not writable:
        access.check_write(current_user, item, ["done_on"])
    form = None
    if writable:
        assignees = service.assignee_choices(survivor)
        if item.assignee is not None and item.assignee not in assignees:
            assignees.append(item.assignee)  # keep the current assignee selectable
        form = PlanItemForm(obj=_Values(item) if request.method == "GET" else None,
                            keep=writable, assignees=assignees)
    status = 200
    if form is not None and form.validate_on_submit():
        try:
            changed = service.update_item(current_user, item, form.changes())
        except survivors.ValidationFailed as exc:
            _apply_errors(form, exc)
        else:
            flash(_("Saved.") if changed else _("Nothing was changed."),
                  "success" if changed else "info")
            return redirect(url_for(".survivor_plan", survivor_id=survivor.id))
    if form is not None and form.errors:
        status = 422
    shown = service.view_item(current_user, item)
    fields = [(name, str(LABELS[name]), display_value(name, value, item))
              for name, value in shown.items() if name not in ("id", "survivor_id")]
    return render_template("plans/item.html", item=item, survivor=survivor, fields=fields,
                           form=form, service_links=_service_links(survivor)), status


@bp.route("/plan-items/<uuid:item_id>/done", methods=["POST"])
def mark_done(item_id):
    item = service.get_item_for(current_user, item_id)
    changed = service.mark_done(current_user, item)
    if changed:
        flash(_("Marked done."), "success")
    return redirect(url_for(".survivor_plan", survivor_id=item.survivor_id))
