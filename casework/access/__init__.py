"""The one access policy (see policy.py) and the guards every surface calls."""

from .fields import FieldSpec, field_specs, fields_in_tier
from .guards import (
    ForbiddenFields,
    allowed,
    break_glass_active,
    check_write,
    forget,
    preload_break_glass,
    present,
    readable_fields,
    relationship,
    require,
    scope_clause,
    writable_fields,
)
from .policy import BREAK_GLASS, POLICY, RELATIONSHIPS, TIERS

__all__ = [
    "BREAK_GLASS",
    "POLICY",
    "RELATIONSHIPS",
    "TIERS",
    "FieldSpec",
    "ForbiddenFields",
    "allowed",
    "break_glass_active",
    "check_write",
    "field_specs",
    "fields_in_tier",
    "forget",
    "preload_break_glass",
    "present",
    "readable_fields",
    "relationship",
    "require",
    "scope_clause",
    "writable_fields",
]
