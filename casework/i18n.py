"""Formatting of values for people: vocabulary labels, dates in the user's locale and zone."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from functools import cache

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


def _programme_names(programme_ids) -> str:
    """The names of funded programmes, in the order given."""
    from .extensions import db
    from .programmes.models import Programme

    names = []
    for programme_id in programme_ids:
        programme = db.session.get(Programme, programme_id)
        names.append(programme.name if programme else _("(unknown programme)"))
    return ", ".join(names)


def format_value(name: str, value) -> str:
    """How a survivor field's value reads on a page."""
    from .survivors.models import Survivor

    if value is None or value == []:
        return "—"
    if name == "programme_ids":
        return _programme_names(value)
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
    """The label of a field, by ``record_type.field`` first, then by the bare field name."""
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


# Fields a generic display leaves out: internal ids and bookkeeping timestamps.
_NOT_SHOWN = frozenset({"id", "survivor_id", "created_at", "updated_at"})


@cache
def _models_by_record_type() -> dict[str, type]:
    """``placement`` → Placement, ``plan_item`` → PlanItem, for every mapped model."""
    from .extensions import db

    return {re.sub(r"(?<!^)(?=[A-Z])", "_", mapper.class_.__name__).lower(): mapper.class_
            for mapper in db.Model.registry.mappers}


def record_field(record_type: str, name: str, value) -> tuple[str, str] | None:
    """(label, shown value) of one presented field of a record, or None to leave it out."""
    if name in _NOT_SHOWN or value is None or value == [] or value == "":
        return None
    model = _models_by_record_type().get(record_type)
    spec = field_specs(model).get(name) if model is not None else None
    if spec is not None and spec.vocab and isinstance(value, str | list):
        vocabulary = vocab.resolve(spec.vocab)
        values = value if isinstance(value, list) else [value]
        shown = ", ".join(_(vocabulary.label(v)) for v in values)
    else:
        shown = display_value(name, value)
    if shown is None:
        return None
    return field_label(f"{record_type}.{name}"), shown


def register_filters(app: Flask) -> None:
    app.jinja_env.globals["record_field"] = record_field
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
