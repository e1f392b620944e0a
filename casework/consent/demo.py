"""Demo consent records: synthetic, created through the service like real ones."""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select

from ..extensions import db
from ..referrals.models import Partner
from . import service

# Invented organisations; created if no demo seeding made them already.
DEMO_PARTNERS = [
    ("Harbourlight Legal Aid (demo)", ["legal_aid"], ["en", "es", "fr"]),
    ("Riverside Safe House (demo)", ["shelter", "counselling"], ["en", "th", "vi"]),
    ("New Skills Workshop (demo)", ["vocational_training"], ["en", "vi", "ar"]),
    ("Community Health Point (demo)", ["health", "counselling"], ["en", "ar", "th"]),
]


def demo_partners() -> list[Partner]:
    """The demo partners, created on first use (also used by the referrals demo)."""
    existing = {p.name: p for p in db.session.scalars(select(Partner))}
    partners = []
    for name, services, languages in DEMO_PARTNERS:
        partner = existing.get(name)
        if partner is None:
            partner = Partner(name=name, services=services, languages=languages,
                              accepting_referrals=True,
                              contact_email=f"intake@{name.split()[0].lower()}.example")
            db.session.add(partner)
        partners.append(partner)
    db.session.flush()
    return partners


def seed_demo(rng: random.Random, survivors, users) -> None:
    partners = demo_partners()
    languages = ["en", "es", "fr", "ar", "th", "vi"]
    for survivor in survivors:
        lead = survivor.lead_caseworker
        minor = survivor.age_band in service.MINOR_AGE_BANDS
        method = "guardian" if minor else rng.choice(["written", "written", "verbal"])
        language = survivor.primary_language if survivor.primary_language in languages \
            else rng.choice(languages)
        interpreter = None if language == "en" or rng.random() < 0.5 else "Demo Interpreter"
        service.record(lead, survivor, {
            "purpose": "data_processing", "status": "granted", "method": method,
            "language": language, "interpreter": interpreter})
        if rng.random() < 0.3:
            service.record(lead, survivor, {
                "purpose": "anonymised_statistics",
                "status": rng.choice(["granted", "granted", "refused"]),
                "method": method, "language": language})
        if rng.random() < 0.6:
            partner = rng.choice(partners)
            scope = sorted(rng.sample(["identity", "contact", "demographics",
                                       "trafficking_context", "service_history"],
                                      rng.randint(1, 4)))
            grant = service.record(lead, survivor, {
                "purpose": "referral_sharing", "partner_id": partner.id, "scope": scope,
                "status": "granted", "method": method, "language": language,
                "interpreter": interpreter,
                "expires_on": date.today() + timedelta(days=rng.randint(60, 365))})
            if rng.random() < 0.1:
                service.withdraw(lead, grant, "Demo: the survivor changed her mind.")
