"""Schemas shared by every API resource, and the generator of record schemas.

Record schemas are built from the models' own columns and tier declarations, so the
OpenAPI document cannot drift from what the code stores and the policy guards.
"""

from __future__ import annotations

from datetime import UTC

from marshmallow import Schema, fields, validate
from sqlalchemy import JSON, Boolean, Date, Integer, String, Text, Uuid

from .. import crypto, vocab
from ..access.fields import field_specs
from ..models_base import UTCDateTime


class UTCTimestamp(fields.DateTime):
    """ISO 8601 in UTC with a ``Z``, as the API contract says."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ProblemSchema(Schema):
    """RFC 9457 problem details."""

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Forbidden"})
    status = fields.Integer(metadata={"example": 403})
    detail = fields.String(metadata={"example": "You may not change: narrative."})
    errors = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()),
        metadata={"description": "Field name → messages (400 and 422)."},
    )
    fields_ = fields.List(
        fields.String(), data_key="fields",
        metadata={"description": "Fields the caller may not write (403)."},
    )


def _field_for(model, name: str, spec, overrides: dict):
    if name in overrides:
        return overrides[name]
    column = model.__table__.columns.get(name)
    column_type = crypto.logical_type(column) if column is not None else None
    options: dict = {"dump_only": spec.read_only,
                     "metadata": {"description": f"Tier: {spec.tier}."},
                     # A nullable column answers null until it is set (closed_at, ...).
                     "allow_none": column is None or bool(column.nullable)}
    enum = list(vocab.resolve(spec.vocab).values) if spec.vocab else None
    if isinstance(column_type, Uuid):
        field = fields.UUID(**options)
    elif isinstance(column_type, UTCDateTime):
        field = UTCTimestamp(**options)
    elif isinstance(column_type, Date):
        field = fields.Date(**{**options, "allow_none": True})
    elif isinstance(column_type, Boolean):
        field = fields.Boolean(**options)
    elif isinstance(column_type, Integer):
        field = fields.Integer(**options)
    elif isinstance(column_type, JSON):
        inner = fields.String(validate=validate.OneOf(enum)) if enum else fields.String()
        field = fields.List(inner, **options)
    elif isinstance(column_type, String | Text):
        length = getattr(column_type, "length", None)
        validators = []
        if enum:
            validators.append(validate.OneOf(enum))
        elif length:
            validators.append(validate.Length(max=length))
        field = fields.String(validate=validators, **{**options, "allow_none": True})
    else:  # pragma: no cover - a new column type needs a mapping here
        raise TypeError(f"no API field for {model.__name__}.{name} ({column_type!r})")
    return field


def model_schema(model, schema_name: str, overrides: dict | None = None,
                 exclude: tuple[str, ...] = ()) -> type[Schema]:
    """A marshmallow schema with one field per tiered field of ``model``."""
    overrides = overrides or {}
    attrs = {
        name: _field_for(model, name, spec, overrides)
        for name, spec in field_specs(model).items()
        if name not in exclude
    }
    attrs["Meta"] = type("Meta", (), {"ordered": True})
    return type(schema_name, (Schema,), attrs)
