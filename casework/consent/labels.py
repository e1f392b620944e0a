"""On-screen labels of consent fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

FIELD_LABELS = {
    "purpose": _l("Purpose"),
    "partner_id": _l("Partner"),
    "scope": _l("May be shared"),
    "status": _l("Decision"),
    "method": _l("How given"),
    "language": _l("Language"),
    "interpreter": _l("Interpreter"),
    "notes": _l("Notes"),
    "form_version": _l("Consent text version"),
    "form_language": _l("Language of the text"),
    "form_sha256": _l("Fingerprint of the text (SHA-256)"),
    "expires_on": _l("Expires on"),
    "withdraws_id": _l("Withdraws"),
    "recorded_by": _l("Recorded by"),
    "recorded_at": _l("Recorded at"),
}
