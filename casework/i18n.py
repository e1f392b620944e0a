"""Formatting of values for people: vocabulary labels, dates in the user's locale and zone."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from flask import Flask
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

from . import vocab
from .access.fields import field_specs


def _user_name(user_id) -> str:
    from .auth.models import User
    from .extensions import db

    user = db.session.get(User, user_id)
    return user.display_name if user else _("(unknown user)")


def format_value(name: str, value) -> str:
    """How a survivor field's value reads on a page."""
    from .survivors.models import Survivor

    if value is None or value == []:
        return "—"
    if name.endswith("_ids"):
        return ", ".join(_user_name(v) for v in value)
    if name.endswith("_id") and isinstance(value, uuid.UUID):
        return _user_name(value)
    if isinstance(value, datetime):
        return format_datetime(value, "medium")
    if isinstance(value, date):
        return format_date(value, "medium")
    spec = field_specs(Survivor).get(name)
    if spec is not None and spec.vocab:
        vocabulary = vocab.resolve(spec.vocab)
        if isinstance(value, list):
            return ", ".join(_(vocabulary.label(v)) for v in value)
        return _(vocabulary.label(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


# Labels of fields of any record, for generic displays (timeline). Packages add theirs.
FIELD_LABELS: dict[str, object] = {}


def register_labels(labels: dict) -> None:
    FIELD_LABELS.update(labels)


def field_label(name: str) -> str:
    """The label of a field (``placement.bed_id`` or ``bed_id``)."""
    short = name.rsplit(".", 1)[-1]
    label = FIELD_LABELS.get(name) or FIELD_LABELS.get(short)
    return str(label) if label else short.replace("_", " ").capitalize()


# Fields that name a staff member; their values are shown as the person's name.
USER_FIELDS = frozenset({"lead_caseworker_id", "collaborator_ids", "counsellor_id",
                         "assignee_id", "recorded_by", "created_by", "approved_by"})


def _staff_name(user_id) -> str:
    """A staff member's name, looked up once per request whatever the number of records."""
    from flask import g, has_app_context

    from .auth.models import User
    from .extensions import db

    cache = g.setdefault("_staff_names", {}) if has_app_context() else {}
    if user_id not in cache:
        user = db.session.get(User, user_id)
        cache[user_id] = user.display_name if user else _("(unknown user)")
    return cache[user_id]


def display_value(name: str, value) -> str | None:
    """A field value for a generic display; None for internal ids not worth showing."""
    short = name.rsplit(".", 1)[-1]
    if short in USER_FIELDS and value:
        values = value if isinstance(value, list) else [value]
        return ", ".join(_staff_name(v) for v in values)
    if short == "id" or short.endswith("_id") or short.endswith("_ids"):
        return None  # references to other records are links, not text
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if value is None or value == []:
        return "—"
    if isinstance(value, datetime):
        return format_datetime(value, "medium")
    if isinstance(value, date):
        return format_date(value, "medium")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def register_filters(app: Flask) -> None:
    app.jinja_env.globals["timeline_label"] = field_label
    app.jinja_env.globals["timeline_value"] = display_value
    from .audit.labels import action_label

    app.jinja_env.filters["audit_action"] = action_label
    app.jinja_env.filters["field_value"] = lambda value, name: format_value(name, value)
    app.jinja_env.filters["date"] = lambda value: format_date(value, "medium") if value else "—"
    app.jinja_env.filters["datetime"] = (
        lambda value: format_datetime(value, "medium") if value else "—"
    )
    app.jinja_env.filters["vocab_label"] = lambda value, name: (
        _(vocab.resolve(name).label(value)) if value else "—"
    )
