"""Synthetic counselling records for the demo: co.lina's engagements and sessions.

Everything is invented; the notes are stock phrases marked as synthetic.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from ..auth.models import User
from ..survivors.models import Survivor
from . import service

NOTE_OPENINGS = [
    "Synthetic demo note: we reviewed sleep and appetite since the last session.",
    "Synthetic demo note: grounding exercises practised; the client chose the breathing one.",
    "Synthetic demo note: talked through worries about the upcoming interview.",
    "Synthetic demo note: client described a calmer week and new routines at the shelter.",
    "Synthetic demo note: we mapped people the client trusts and ways to reach them.",
    "Synthetic demo note: psychoeducation on stress reactions; questions answered.",
]
NOTE_ENDINGS = [
    "Agreed to continue weekly.",
    "Homework: keep the short mood diary.",
    "No safety concerns raised today.",
    "Client asked to bring a friend next time; discussed what that would mean.",
    "Next session will focus on plans for work and training.",
]
MISSED_NOTES = [
    "Synthetic demo note: client did not come; the caseworker will check in.",
    "Synthetic demo note: no answer at the agreed time; message left.",
    None,
]
MODALITIES = ["in_person"] * 6 + ["phone"] * 2 + ["video"] * 2


def seed_demo(rng: random.Random, survivors: list[Survivor], users: dict[str, User]) -> None:
    """co.lina is engaged with about 30 survivors, with 2–6 sessions each (some missed);
    about a third of the engagements have ended."""
    counsellor = users["co.lina"]
    today = date.today()
    eligible = [s for s in survivors if (today - s.intake_date).days >= 50]
    for survivor in rng.sample(eligible, min(30, len(eligible))):
        lead = survivor.lead_caseworker
        latest_start = today - timedelta(days=35)
        span = (latest_start - survivor.intake_date).days
        started_on = survivor.intake_date + timedelta(days=rng.randint(3, max(3, min(span, 90))))
        started_on = min(started_on, latest_start)
        engagement = service.start_engagement(lead, survivor, {
            "counsellor_id": counsellor.id, "started_on": started_on})
        held_on = started_on
        last = None
        for _ in range(rng.randint(2, 6)):
            held_on = held_on + timedelta(days=rng.choice([6, 7, 7, 7, 8, 14]))
            if held_on > today:
                break
            attended = rng.random() > 0.15
            if attended:
                notes = f"{rng.choice(NOTE_OPENINGS)} {rng.choice(NOTE_ENDINGS)}"
            else:
                notes = rng.choice(MISSED_NOTES)
            language = survivor.primary_language if rng.random() < 0.7 else "en"
            service.record_session(counsellor, survivor, {
                "engagement_id": engagement.id,
                "held_on": held_on,
                "duration_minutes": rng.choice([45, 50, 50, 60, 60, 90]) if attended else 5,
                "modality": rng.choice(MODALITIES),
                "language": language,
                "interpreter_used": language not in ("en", None) and rng.random() < 0.6,
                "attended": attended,
                "notes": notes,
            })
            last = held_on
        if last is not None and rng.random() < 0.35 and last + timedelta(days=7) <= today:
            service.end_engagement(lead, engagement, last + timedelta(days=7))
