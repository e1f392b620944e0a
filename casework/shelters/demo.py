"""Synthetic demo shelters and placements (invented names; no real shelters or places).

Three shelters with 8–12 beds each, some beds restricted; about forty of the demo survivors
placed through the service functions: a history of discharged stays (a few with transfers)
and the current occupants, some with an expected discharge date.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from ..extensions import db
from ..referrals.models import Partner
from ..survivors.service import Conflict, ValidationFailed
from . import service

SHELTERS = [
    # name, beds, restrictions by bed number (1-based), run by a partner if one offers shelter
    ("Harbour House (demo)", 10,
     {**{n: ["women_only", "adults_only"] for n in range(1, 9)},
      1: ["women_only", "adults_only", "wheelchair_accessible"],
      9: ["wheelchair_accessible"]}, False),
    ("Lantern Court (demo)", 8,
     {n: ["minors_only"] for n in range(1, 5)}, True),
    ("Willow Rise (demo)", 12,
     {**{n: ["men_only"] for n in range(1, 7)}, 12: ["wheelchair_accessible"]}, False),
]
DISCHARGE_REASONS = [
    "Went on to independent housing with support.",
    "Returned to family after a safety assessment.",
    "Referred to a partner's long-term programme.",
    "Left voluntarily; follow-up arranged.",
    "Went on to supported accommodation nearer work.",
]
HISTORY = 14  # survivors with a past, discharged stay
CURRENT = 26  # survivors in a shelter today


def seed_demo(rng: random.Random, survivors: list, users: dict) -> None:
    admin = users["admin"]
    today = date.today()
    partners = db.session.scalars(select(Partner).order_by(Partner.name))
    partner = next((p for p in partners if p.offers("shelter")), None)
    shelters = []
    for name, count, restrictions, by_partner in SHELTERS:
        shelters.append(service.create_shelter(admin, {
            "name": name,
            "partner_id": str(partner.id) if by_partner and partner is not None else None,
            "beds": [{"label": f"{name[0]}{n}", "restrictions": restrictions.get(n, [])}
                     for n in range(1, count + 1)],
        }))
    beds = [(s, b) for s in shelters for b in s.beds]
    free_from = {b.id: date.min for _, b in beds}  # when each bed's last past stay ended

    candidates = [s for s in survivors if not s.is_closed]
    rng.shuffle(candidates)
    placed = 0
    # --- the past: discharged stays, in beds that were free then ------------------------------
    for survivor in candidates[:]:
        if placed >= HISTORY:
            break
        earliest = max(today - timedelta(days=330), survivor.intake_date)
        latest = today - timedelta(days=150)
        if earliest > latest:
            continue
        admitted = earliest + timedelta(days=rng.randint(0, (latest - earliest).days))
        stay = rng.randint(10, 90)
        suitable = [(s, b) for s, b in beds if free_from[b.id] <= admitted
                    and not service.restriction_conflicts(b, survivor)]
        if not suitable:
            continue
        shelter, bed = rng.choice(suitable)
        actor = survivor.lead_caseworker
        placement = service.admit(actor, survivor, {
            "shelter_id": str(shelter.id), "bed_id": str(bed.id),
            "admitted_on": admitted.isoformat()}, today=today)
        end = admitted + timedelta(days=stay)
        if rng.random() < 0.25:  # moved once on the way
            moved_on = admitted + timedelta(days=stay // 2)
            others = [(s, b) for s, b in beds if b.id != bed.id and free_from[b.id] <= moved_on
                      and not service.restriction_conflicts(b, survivor)]
            if others:
                free_from[bed.id] = moved_on
                _, bed = rng.choice(others)
                placement = service.transfer(actor, placement, {
                    "bed_id": str(bed.id), "on": moved_on.isoformat()}, today=today)
        service.discharge(actor, placement, {
            "on": end.isoformat(), "reason": rng.choice(DISCHARGE_REASONS)}, today=today)
        free_from[bed.id] = end
        candidates.remove(survivor)
        placed += 1

    # --- today: current occupants, each in the first free bed that suits ------------------------
    current = 0
    for survivor in candidates:
        if current >= CURRENT:
            break
        earliest = max(today - timedelta(days=60), survivor.intake_date)
        if earliest > today:
            continue
        admitted = earliest + timedelta(days=rng.randint(0, (today - earliest).days))
        data = {"shelter_id": str(rng.choice(shelters).id), "admitted_on": admitted.isoformat()}
        if rng.random() < 0.6:
            data["expected_discharge_on"] = (today + timedelta(days=rng.randint(3, 90))).isoformat()
        try:
            service.admit(survivor.lead_caseworker, survivor, data, today=today)
        except (Conflict, ValidationFailed):
            continue  # that shelter has no free bed that suits: leave this survivor unplaced
        current += 1
