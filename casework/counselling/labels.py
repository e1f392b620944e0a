"""What each counselling field is called on screen (translated through the catalogs)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

FIELD_LABELS = {
    "id": _l("Record id"),
    "survivor_id": _l("Survivor"),
    "created_at": _l("Recorded"),
    "updated_at": _l("Last updated"),
    # engagements
    "counsellor_id": _l("Counsellor"),
    "co_counsellor_ids": _l("Co-counsellors"),
    "started_on": _l("Started on"),
    "ended_on": _l("Ended on"),
    # sessions
    "engagement_id": _l("Engagement"),
    "held_on": _l("Date"),
    "duration_minutes": _l("Duration (minutes)"),
    "modality": _l("Modality"),
    "language": _l("Language"),
    "interpreter_used": _l("Interpreter used"),
    "attended": _l("Attended"),
    "notes": _l("Session notes"),
}


def _register() -> None:
    """Make the labels known to generic displays (the timeline)."""
    from ..i18n import register_labels

    distinct = ("counsellor_id", "co_counsellor_ids", "started_on", "ended_on", "held_on",
                "duration_minutes", "modality", "interpreter_used", "attended")
    register_labels({name: FIELD_LABELS[name] for name in distinct})
    register_labels({f"counselling_session.{name}": label
                     for name, label in FIELD_LABELS.items()})
    register_labels({f"counselling_engagement.{name}": label
                     for name, label in FIELD_LABELS.items()})


_register()
