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


def register_filters(app: Flask) -> None:
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
