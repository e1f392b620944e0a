"""What each enrolment field is called on screen (translated through the catalogs)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..i18n import register_labels

LABELS = {
    "id": _l("Record id"),
    "survivor_id": _l("Survivor"),
    "created_at": _l("Recorded"),
    "updated_at": _l("Last updated"),
    "programme_id": _l("Programme"),
    "status": _l("Status"),
    "enrolled_on": _l("Enrolled on"),
    "completed_on": _l("Completed on"),
    "withdrawn_on": _l("Withdrew on"),
    "attendance_rate": _l("Attendance (%)"),
    "certified": _l("Certified"),
    "employed_at_3_months": _l("Employed 3 months after"),
    "employed_at_6_months": _l("Employed 6 months after"),
    "withdraw_reason": _l("Reason for withdrawal"),
}

# For generic displays (the timeline): "enrolment.<field>", and the field alone where
# no other record is likely to use the name.
register_labels({f"enrolment.{name}": label for name, label in LABELS.items()})
register_labels({name: LABELS[name] for name in (
    "programme_id", "enrolled_on", "completed_on", "withdrawn_on", "attendance_rate", "certified",
    "employed_at_3_months", "employed_at_6_months", "withdraw_reason")})
