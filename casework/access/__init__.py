"""The one access policy (see policy.py) and the guards every surface calls."""

from .fields import FieldSpec, field_specs, fields_in_tier
from .guards import (
    ForbiddenFields,
    access_session_digest,
    allowed,
    break_glass_active,
    check_write,
    end_break_glass,
    forget,
    new_access_session,
    preload_break_glass,
    present,
    readable_fields,
    relationship,
    require,
    scope_clause,
    token_session_digest,
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
    "access_session_digest",
    "allowed",
    "break_glass_active",
    "check_write",
    "end_break_glass",
    "field_specs",
    "fields_in_tier",
    "forget",
    "new_access_session",
    "preload_break_glass",
    "present",
    "readable_fields",
    "relationship",
    "require",
    "scope_clause",
    "token_session_digest",
    "writable_fields",
]
