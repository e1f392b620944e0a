"""Synthetic demo training: three programmes of invented providers, and about forty
enrolments with completions, certifications and employment outcomes."""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from ..extensions import db
from ..referrals.models import Partner
from . import service

DEMO_PROVIDERS = [
    ("Bright Skills Workshop (demo)", "training@bright-skills.example.org"),
    ("Harbour Kitchen Academy (demo)", "courses@harbour-kitchen.example.org"),
]
# (name, provider index, starts this many days ago, lasts days, places)
DEMO_PROGRAMMES = [
    ("Tailoring and garment repair (demo)", 0, 330, 90, 16),
    ("Commercial cooking basics (demo)", 1, 200, 60, 14),
    ("Digital skills for office work (demo)", 0, 30, 120, 16),
]


def _providers() -> list[Partner]:
    offering = [p for p in db.session.scalars(select(Partner).order_by(Partner.name))
                if p.offers(service.PROVIDER_SERVICE)]
    if offering:
        return offering
    partners = []
    for name, email in DEMO_PROVIDERS:
        partner = Partner(name=name, services=[service.PROVIDER_SERVICE], languages=["en"],
                          accepting_referrals=True, contact_email=email)
        db.session.add(partner)
        partners.append(partner)
    db.session.flush()
    return partners


def seed_demo(rng: random.Random, survivors: list, users: dict) -> None:
    today = date.today()
    admin = users["admin"]
    providers = _providers()
    programmes = []
    for name, provider, started, days, places in DEMO_PROGRAMMES:
        starts_on = today - timedelta(days=started)
        programmes.append(service.create_programme(admin, {
            "name": name, "provider_partner_id": providers[provider % len(providers)].id,
            "starts_on": starts_on, "ends_on": starts_on + timedelta(days=days),
            "capacity": places}))
    candidates = [s for s in survivors if s.intake_date < today - timedelta(days=30)]
    rng.shuffle(candidates)
    taken = {p.id: 0 for p in programmes}
    enrolled = 0
    for survivor in candidates:
        if enrolled >= 40:
            break
        open_to = [p for p in programmes
                   if survivor.intake_date <= p.ends_on and taken[p.id] < p.capacity]
        if not open_to:
            continue
        programme = rng.choice(open_to)
        taken[programme.id] += 1
        enrolled += 1
        lead = survivor.lead_caseworker
        enrolled_on = min(programme.starts_on - timedelta(days=rng.randint(0, 14)), today)
        enrolled_on = max(enrolled_on, survivor.intake_date)
        enrolment = service.enrol(lead, survivor, {
            "programme_id": programme.id, "enrolled_on": enrolled_on,
            "attendance_rate": rng.randint(55, 100)})
        if programme.ends_on >= today:
            continue  # still running
        if rng.random() < 0.15:
            left_on = programme.starts_on + timedelta(days=rng.randint(5, 30))
            service.withdraw(lead, enrolment, max(left_on, enrolled_on),
                             "Demo: moved to another city for family reasons.")
            continue
        service.complete(lead, enrolment, programme.ends_on, certified=rng.random() < 0.75)
        outcomes = {}
        for months, name in service.OUTCOME_FIELDS.items():
            if service.check_due_on(programme.ends_on, months) <= today and rng.random() < 0.7:
                outcomes[name] = rng.random() < 0.6
        if outcomes:
            service.update_enrolment(lead, enrolment, outcomes)
