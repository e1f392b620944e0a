"""Synthetic demo data (Faker). Never real people, places or cases."""

from __future__ import annotations

import importlib
import random
from datetime import date, timedelta

from faker import Faker
from sqlalchemy import select

from . import vocab
from .auth.models import Organisation, User
from .auth.service import create_user
from .extensions import db
from .programmes import service as programme_service
from .survivors import service as survivor_service

DEMO_PASSWORD = "demo-password-2026"
# Packages whose demo.py adds believable service records to the demo survivors.
SERVICE_DEMOS = ("shelters", "counselling", "training", "legal", "plans", "consent",
                 "referrals", "supervision", "reports")
DEMO_USERS = [
    ("caseworker", "cw.amara", "Amara Demo", "North"),
    ("caseworker", "cw.tuan", "Tuan Demo", "North"),
    ("counsellor", "co.lina", "Lina Demo", "North"),
    ("supervisor", "sup.rosa", "Rosa Demo", "North"),
    ("admin", "admin", "Admin Demo", None),
    ("donor", "donor", "Donor Demo", None),
]
# Faker locales of the regions Casework's NGOs work in; names are invented by Faker.
LOCALES = ["en_US", "es_MX", "fr_FR", "vi_VN", "th_TH", "ar_EG", "uk_UA", "ro_RO", "fil_PH",
           "id_ID"]
CITIZENSHIPS = ["VN", "TH", "KH", "MM", "PH", "ID", "UA", "RO", "MX", "NG", "EG", "NP"]
LANGUAGES = {"VN": "vi", "TH": "th", "KH": "km", "MM": "my", "PH": "tl", "ID": "id",
             "UA": "uk", "RO": "ro", "MX": "es", "NG": "en", "EG": "ar", "NP": "ne"}


PROGRAMME_THEMES = ["Safe Futures", "New Pathways", "Open Horizons", "Strong Roots",
                    "Bright Bridges"]


def seed_programmes(admin: User, donor: User, seed: int, today: date) -> list:
    """Two or three funded programmes with Faker-made names; the demo donor funds the first
    two. A generator of its own, so that the survivors' random draws stay as they were."""
    rng = random.Random(seed + 1)
    faker = Faker("en_US")
    faker.seed_instance(seed + 1)
    programmes = []
    for theme in rng.sample(PROGRAMME_THEMES, 3):
        starts = today - timedelta(days=rng.randint(950, 1200))
        data = {"name": f"{theme} Programme, {faker.city()} (demo)",
                "starts_on": starts.replace(day=1),
                "ends_on": None if rng.random() < 0.5 else today + timedelta(days=365),
                "donor_ids": [donor.id] if len(programmes) < 2 else []}
        programmes.append(programme_service.create(admin, data))
    return programmes


def demo_logins() -> list[tuple[str, str, str]]:
    return [(username, role, DEMO_PASSWORD) for role, username, _name, _team in DEMO_USERS]


def seed_demo_data(count: int = 200, seed: int = 2026):
    """Return the demo logins, or None if demo data exists already."""
    if db.session.scalar(select(User.id).where(User.username == "cw.amara")):
        return None
    rng = random.Random(seed)
    Faker.seed(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    db.session.add(Organisation(name="Demo Anti-Trafficking Network", timezone="UTC"))
    users = {}
    for role, username, name, team in DEMO_USERS:
        # example.org never delivers mail: the daily digest can be tried safely.
        users[username] = create_user(username, role, DEMO_PASSWORD, team=team,
                                      display_name=name, email=f"{username}@example.org")
    db.session.flush()
    caseworkers = [users["cw.amara"], users["cw.tuan"]]
    counsellor = users["co.lina"]
    today = date.today()
    programmes = seed_programmes(users["admin"], users["donor"], seed, today)
    funding = random.Random(seed + 2)  # which programme pays for whom (most survivors)
    statuses = ["Active"] * 6 + ["FollowUp"] * 2
    survivors = []
    for i in range(count):
        faker = fakers[rng.choice(LOCALES)]
        citizenship = rng.choice(CITIZENSHIPS)
        lead = caseworkers[i % 2]
        intake = today - timedelta(days=rng.randint(0, 900))
        dob = intake - timedelta(days=rng.randint(14 * 365, 55 * 365))
        gender = rng.choices(vocab.htcds(vocab.GENDER).values, weights=[50, 35, 4, 3, 3, 5])[0]
        exploitation = rng.sample(vocab.htcds(vocab.EXPLOITATION_TYPES).values[:6],
                                  rng.randint(1, 2))
        data = {
            "intake_date": intake,
            "referral_source": rng.choice(vocab.REFERRAL_SOURCES.values),
            "gender": gender,
            "citizenship": [citizenship],
            "primary_language": LANGUAGES[citizenship],
            "trafficking_status": rng.choices(vocab.htcds(vocab.TRAFFICKING_STATUS).values,
                                              weights=[40, 55, 5])[0],
            "exploitation_types": exploitation,
            "recruitment_methods": rng.sample(vocab.htcds(vocab.RECRUITMENT_METHODS).values, 1),
            "recruitment_platforms": rng.sample(
                vocab.htcds(vocab.RECRUITMENT_PLATFORMS).values, rng.randint(0, 2)),
            "countries_of_exploitation": [rng.choice(["TH", "MY", "AE", "US", "PL", "ES"])],
            "first_name": faker.first_name(),
            "last_name": faker.last_name(),
            "known_as": faker.first_name() if rng.random() < 0.3 else None,
            "date_of_birth": dob,
            "phone": f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            "address": faker.address().replace("\n", ", ")[:200],
            "narrative": "Synthetic demo narrative: " + Faker("en_US").paragraph(nb_sentences=4),
            "risk_level": rng.choices(["low", "medium", "high"], weights=[50, 35, 15])[0],
            "status": rng.choice(statuses),
        }
        if rng.random() < 0.25:
            data["collaborator_ids"] = [counsellor.id]
        if funding.random() < 0.85:
            data["programme_ids"] = [funding.choice(programmes).id]
        survivor = survivor_service.create(lead, data)
        survivors.append(survivor)
        if i % 17 == 0:
            survivor_service.close(lead, survivor, "Demo: support plan completed.", "Closed")
    db.session.flush()
    open_cases = [s for s in survivors if not s.is_closed]
    for package in SERVICE_DEMOS:
        importlib.import_module(f"casework.{package}.demo").seed_demo(rng, open_cases, users)
        db.session.flush()
    db.session.commit()
    return [(u.username, u.role, DEMO_PASSWORD) for u in users.values()]
