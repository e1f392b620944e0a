"""Synthetic legal matters for the demo, with hearings and outcomes.

The legal-aid partners created here are invented organisations marked "(demo)".
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from ..auth.models import User
from ..referrals import service as partners
from ..survivors.models import Survivor
from . import service

DEMO_PARTNERS = [
    {"name": "Lantern Legal Clinic (demo)", "services": ["legal_aid"],
     "languages": ["en", "vi", "th"], "accepting_referrals": True,
     "contact_email": "intake@lantern-legal.example.org",
     "address": "12 Example Lane, Demo City"},
    {"name": "Harbour Rights Advocates (demo)", "services": ["legal_aid", "other"],
     "languages": ["en", "es", "tl"], "accepting_referrals": True,
     "contact_email": "cases@harbour-rights.example.org",
     "address": "3 Sample Quay, Demo City"},
]
KINDS = ["immigration"] * 4 + ["criminal_witness"] * 3 + ["civil_compensation"] * 2 + \
    ["labour_claim"] * 3 + ["identity_documents"] * 3 + ["other"]
HEARINGS_FOR = {
    "immigration": ["interview", "hearing", "decision"],
    "criminal_witness": ["preliminary", "trial", "trial"],
    "civil_compensation": ["mediation", "hearing", "decision"],
    "labour_claim": ["mediation", "hearing", "decision"],
    "identity_documents": ["interview", "decision"],
    "other": ["hearing"],
}
NOTES = [
    "Synthetic demo note: documents gathered with the partner; translation pending.",
    "Synthetic demo note: survivor prepared for giving evidence with a support person.",
    "Synthetic demo note: the partner asked for pay slips and the employment contract.",
    "Synthetic demo note: application lodged; acknowledgement received.",
    None,
]
# (status, outcome) pairs a demo matter ends in, weighted.
ENDINGS = [("open", "pending")] * 4 + [("awaiting_hearing", "pending")] * 6 + \
    [("decided", "granted")] * 3 + [("decided", "denied")] + [("decided", "settled")] * 2 + \
    [("closed", "granted")] * 2 + [("closed", "withdrawn"), ("closed", "settled")]


def _legal_aid_partners(admin: User):
    found = service.legal_aid_partners()
    if found:
        return found
    return [partners.create(admin, dict(data)) for data in DEMO_PARTNERS]


def seed_demo(rng: random.Random, survivors: list[Survivor], users: dict[str, User]) -> None:
    """About 25 legal matters, each with its partner, 0–3 hearings (past and upcoming) and
    an outcome once decided."""
    legal_partners = _legal_aid_partners(users["admin"])
    today = date.today()
    eligible = [s for s in survivors if (today - s.intake_date).days >= 30]
    for survivor in rng.sample(eligible, min(25, len(eligible))):
        lead = survivor.lead_caseworker
        kind = rng.choice(KINDS)
        span = (today - survivor.intake_date).days
        opened_on = survivor.intake_date + timedelta(days=rng.randint(0, max(0, span - 20)))
        status, outcome = rng.choice(ENDINGS)
        matter = service.open_matter(lead, survivor, {
            "kind": kind,
            "partner_id": rng.choice(legal_partners).id,
            "opened_on": opened_on,
            "notes": rng.choice(NOTES),
        })
        on = opened_on
        for hearing_kind in HEARINGS_FOR[kind][:rng.randint(0, 3)]:
            on = on + timedelta(days=rng.randint(20, 120))
            if status in ("decided", "closed") and on > today:
                break
            service.add_hearing(lead, matter, {
                "scheduled_on": on, "kind": hearing_kind,
                "notes": "Synthetic demo note: survivor accompanied by the caseworker."
                if on <= today and rng.random() < 0.5 else None,
            })
        if status != "open":
            service.update_matter(lead, matter, {"status": status, "outcome": outcome})
