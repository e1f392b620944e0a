"""The survivor timeline: every service event in order, each as far as the viewer may see.

Each service package contributes ``timeline_events(user, survivor)`` in its service module.
A provider loads its records for the survivor in a fixed number of queries (never one per
record) and presents each record through ``access.present`` — the timeline shows nothing the
record's own page would not.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from flask_babel import lazy_gettext as _l

from .. import access, audit

# "module:function" of each provider, in the order their events sort on equal dates.
PROVIDERS = (
    "casework.shelters.service:timeline_events",
    "casework.counselling.service:timeline_events",
    "casework.training.service:timeline_events",
    "casework.legal.service:timeline_events",
    "casework.plans.service:timeline_events",
    "casework.consent.service:timeline_events",
    "casework.referrals.service:timeline_events",
    "casework.supervision.service:timeline_events",
)


@dataclass
class TimelineEvent:
    at: date | datetime
    kind: str  # e.g. "placement.admitted"
    title: str  # translated, for people
    record_type: str  # e.g. "placement"
    record_id: uuid.UUID | None
    fields: dict[str, Any] = field(default_factory=dict)  # presented (policy-filtered) values
    url: str | None = None

    @property
    def sort_key(self) -> datetime:
        if isinstance(self.at, datetime):
            return self.at.astimezone(UTC)
        return datetime.combine(self.at, time.min, tzinfo=UTC)


def _providers():
    for path in PROVIDERS:
        module_name, _, function = path.partition(":")
        yield getattr(importlib.import_module(module_name), function)


def _case_events(user, survivor) -> list[TimelineEvent]:
    shown = access.present(user, survivor)
    events = []
    if "intake_date" in shown:
        events.append(TimelineEvent(shown["intake_date"], "case.intake", str(_l("Intake")),
                                    "survivor", survivor.id,
                                    {k: shown[k] for k in ("referral_source",) if k in shown}))
    if shown.get("closed_at"):
        events.append(TimelineEvent(shown["closed_at"], "case.closed", str(_l("Case closed")),
                                    "survivor", survivor.id,
                                    {k: shown[k] for k in ("status", "closure_reason")
                                     if k in shown}))
    return events


def timeline(user, survivor) -> list[TimelineEvent]:
    """Newest first. The caller has already been authorised to read ``survivor``."""
    events = _case_events(user, survivor)
    for provider in _providers():
        events.extend(provider(user, survivor))
    events.sort(key=lambda e: e.sort_key, reverse=True)
    audit.record(user, "survivor.timeline_viewed", survivor,
                 fields=sorted({f"{e.record_type}.{name}" for e in events for name in e.fields}))
    return events
