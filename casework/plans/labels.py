"""What each support plan field is called on screen (translated through the catalogs)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..i18n import register_labels

LABELS = {
    "id": _l("Record id"),
    "survivor_id": _l("Survivor"),
    "created_at": _l("Added"),
    "updated_at": _l("Last updated"),
    "type": _l("Type of support"),
    "objective": _l("Objective"),
    "due_on": _l("Due on"),
    "done_on": _l("Done on"),
    "assignee_id": _l("Assignee"),
}

# For generic displays (the timeline): "plan_item.<field>", and the field alone where
# no other record is likely to use the name.
register_labels({f"plan_item.{name}": label for name, label in LABELS.items()})
register_labels({name: LABELS[name] for name in ("objective", "due_on", "done_on", "assignee_id")})
