"""What each legal-aid field is called on screen (translated through the catalogs)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

MATTER_LABELS = {
    "id": _l("Record id"),
    "survivor_id": _l("Survivor"),
    "created_at": _l("Recorded"),
    "updated_at": _l("Last updated"),
    "kind": _l("Kind of matter"),
    "status": _l("Status"),
    "partner_id": _l("Legal-aid partner"),
    "opened_on": _l("Opened on"),
    "next_hearing_on": _l("Next hearing"),
    "outcome": _l("Outcome"),
    "notes": _l("Notes"),
}
HEARING_LABELS = {
    "id": _l("Record id"),
    "survivor_id": _l("Survivor"),
    "created_at": _l("Recorded"),
    "updated_at": _l("Last updated"),
    "matter_id": _l("Legal matter"),
    "scheduled_on": _l("Date"),
    "kind": _l("Kind of hearing"),
    "notes": _l("Notes"),
}


def _register() -> None:
    """Make the labels known to generic displays (the timeline)."""
    from ..i18n import register_labels

    register_labels({name: MATTER_LABELS[name] for name in ("opened_on", "next_hearing_on",
                                                            "outcome")})
    register_labels({"scheduled_on": HEARING_LABELS["scheduled_on"]})
    register_labels({f"legal_matter.{name}": label for name, label in MATTER_LABELS.items()})
    register_labels({f"legal_hearing.{name}": label for name, label in HEARING_LABELS.items()})


_register()
