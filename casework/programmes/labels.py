"""On-screen labels of programme fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

FIELD_LABELS = {
    "id": _l("Id"),
    "name": _l("Name"),
    "donor_ids": _l("Funded by (donors)"),
    "starts_on": _l("Starts on"),
    "ends_on": _l("Ends on"),
}
