"""Demo referrals: synthetic, through the service like real ones, at every stage of the loop.
Runs after the consent demo (referrals are issued only where consent is in force)."""

from __future__ import annotations

import random

from ..consent import service as consent
from ..consent.demo import demo_partners
from . import service

REASONS = [
    "Needs independent legal advice on her residence status (synthetic demo text).",
    "Asked for a safe place to stay while the case is open (synthetic demo text).",
    "Would like vocational training to find work (synthetic demo text).",
    "Needs a health check and follow-up care (synthetic demo text).",
    "Asked for counselling in her own language (synthetic demo text).",
]
# How far each demo referral goes: the actions taken after drafting.
STAGES = [
    [],
    ["submit"],
    ["submit", "approve"],
    ["submit", "approve", "issue"],
    ["submit", "approve", "issue", "accept"],
    ["submit", "approve", "issue", "accept", "complete"],
    ["submit", "approve", "issue", "decline"],
    ["submit", "withdraw"],
]
MAX_ISSUED = 20  # each issued letter is rendered: keep seeding quick


def seed_demo(rng: random.Random, survivors, users) -> None:
    partners = {p.id: p for p in demo_partners()}
    supervisor = users["sup.rosa"]
    issued = 0
    for survivor in survivors:
        if rng.random() < 0.5:
            continue
        lead = survivor.lead_caseworker
        grant = next((consent.current_consent(survivor.id, "referral_sharing", pid)
                      for pid in partners
                      if consent.current_consent(survivor.id, "referral_sharing", pid)), None)
        partner = partners[grant.partner_id] if grant else rng.choice(list(partners.values()))
        referral = service.create_referral(lead, survivor, {
            "partner_id": partner.id, "service": partner.services[0],
            "reason": rng.choice(REASONS)})
        stage = rng.choice(STAGES)
        if "issue" in stage and (grant is None or issued >= MAX_ISSUED):
            stage = stage[:stage.index("issue")]
        for action in stage:
            actor = supervisor if action == "approve" else lead
            reason = None
            if action == "decline":
                reason = "Demo: no places this month."
            elif action == "withdraw":
                reason = "Demo: the survivor chose another service."
            service.act(actor, referral, action, reason)
            if action == "issue":
                issued += 1
