"""Synthetic caseloads with service records, inserted in bulk (tests and ``make bench``).

Everything is random but reproducible from a seed; nothing is a real person or place. Rows go
in through SQLAlchemy Core ``insert()`` in batches, straight into the tables, with the
columns the database requires and the check constraints honour.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

BATCH = 5_000
# Case numbers unique within the process (the pages' format, with room for 10^8 of them).
_CASE_NUMBERS = itertools.count(1)

AGE_BANDS = ["0-11", "12-17", "18-24", "25-34", "35-49", "50+", None]
GENDERS = ["Feminine", "Masculine", "TransgenderFeminine", "NonConforming", None]
COUNTRIES = ["TH", "VN", "KH", "MM", "PH", "ID", "UA", "RO", "NG", "MX", "SY", "FR"]
EXPLOITATION = ["ForcedLabour", "SexualExploitation", "ChildLabour", "ForcedMarriage",
                "Servitude", "ForcedBegging"]
MATTER_KINDS = ["immigration", "criminal_witness", "civil_compensation", "labour_claim",
                "identity_documents", "other"]
OUTCOMES = ["pending", "granted", "denied", "settled", "dismissed", "withdrawn"]
SERVICES = ["shelter", "counselling", "vocational_training", "legal_aid", "health", "other"]
REFERRAL_STATUSES = ["awaiting_approval", "approved", "issued", "accepted", "declined",
                     "completed", "withdrawn", "draft"]


@dataclass
class Caseload:
    """What was inserted, for tests to check figures against."""

    survivor_ids: list[uuid.UUID] = field(default_factory=list)
    opted_out: set[uuid.UUID] = field(default_factory=set)
    records: int = 0


def _skewed(rng: random.Random, values: list, skew: float):
    """Mostly the first values, sometimes a rare one (rare categories are the hard case)."""
    index = min(int(rng.expovariate(skew)), len(values) - 1)
    return values[index]


def seed_caseload(conn, *, rng: random.Random, survivors: int, records_per_survivor: float,
                  first_day: date, last_day: date, lead_id: uuid.UUID,
                  programme_id: uuid.UUID | None = None, opt_out_share: float = 0.05,
                  skew: float = 0.7, progress: Callable[[int, int], None] | None = None
                  ) -> Caseload:
    """``survivors`` survivors led by ``lead_id`` with intake dates between the two days,
    about ``records_per_survivor`` service records each (placements, counselling sessions,
    enrolments, legal matters, referrals), some refusing anonymised statistics."""
    from casework.consent.models import Consent, ConsentForm
    from casework.counselling.models import CounsellingEngagement, CounsellingSession
    from casework.legal.models import LegalMatter
    from casework.programmes.models import survivor_programmes
    from casework.referrals.models import Partner, Referral
    from casework.shelters.models import Bed, Placement, Shelter
    from casework.survivors.models import Survivor
    from casework.training.models import Enrolment, TrainingProgramme

    now = datetime.now(UTC)
    span = (last_day - first_day).days
    stamp = {"created_at": now, "updated_at": now}
    tag = uuid.uuid4().hex[:8]
    partner_id, shelter_id, form_id = (uuid.uuid4() for _ in range(3))
    # One enrolment per survivor and training programme (a unique constraint): several.
    training_ids = [uuid.uuid4() for _ in range(8)]
    conn.execute(insert(Partner.__table__), [{"id": partner_id, "name": f"Partner {tag} (demo)",
                                              "services": SERVICES, "languages": ["en"],
                                              "accepting_referrals": True, **stamp}])
    conn.execute(insert(Shelter.__table__), [{"id": shelter_id, "name": f"Shelter {tag} (demo)",
                                              **stamp}])
    conn.execute(insert(TrainingProgramme.__table__), [{
        "id": training_id, "name": f"Training {tag}-{i} (demo)",
        "provider_partner_id": partner_id, "starts_on": first_day, "ends_on": last_day,
        "capacity": 10_000_000, **stamp} for i, training_id in enumerate(training_ids)])
    conn.execute(insert(ConsentForm.__table__), [{
        "id": form_id, "version": f"v-{tag}", "language": "en", "text": "Synthetic form.",
        "sha256": "0" * 64, "created_at": now}])

    result = Caseload()
    tables = {name: [] for name in ("survivors", "programmes", "consents", "beds",
                                    "placements", "engagements", "sessions", "enrolments",
                                    "matters", "referrals")}
    models = {"survivors": Survivor.__table__, "programmes": survivor_programmes,
              "consents": Consent.__table__, "beds": Bed.__table__,
              "placements": Placement.__table__, "engagements": CounsellingEngagement.__table__,
              "sessions": CounsellingSession.__table__, "enrolments": Enrolment.__table__,
              "matters": LegalMatter.__table__, "referrals": Referral.__table__}
    order = list(models)  # parents before children

    def flush(force: bool = False) -> None:
        if not force and sum(len(rows) for rows in tables.values()) < BATCH:
            return
        for name in order:
            if tables[name]:
                conn.execute(insert(models[name]), tables[name])
                tables[name].clear()

    def day(after: date, within: int) -> date:
        return min(after + timedelta(days=rng.randrange(max(within, 1))), last_day)

    for n in range(survivors):
        sid = uuid.uuid4()
        intake = first_day + timedelta(days=rng.randrange(max(span, 1)))
        closed = rng.random() < 0.2
        tables["survivors"].append({
            "id": sid, "case_number": f"CW-{intake.year}-{next(_CASE_NUMBERS):08d}",
            "status": "Closed" if closed else "Active", "lead_caseworker_id": lead_id,
            "intake_date": intake,
            "closed_at": datetime.combine(day(intake, 200), datetime.min.time(), UTC)
            if closed else None,
            # Free text is encrypted at rest (casework/encryption.py): bulk rows leave it empty.
            "closure_reason": None,
            "gender": _skewed(rng, GENDERS, skew), "age_band": _skewed(rng, AGE_BANDS, skew),
            "citizenship": [_skewed(rng, COUNTRIES, skew)] if rng.random() < 0.9 else [],
            "exploitation_types": sorted({_skewed(rng, EXPLOITATION, skew)
                                          for _ in range(rng.choice((0, 1, 1, 1, 2)))}),
            "recruitment_methods": [], "recruitment_platforms": [],
            "countries_of_exploitation": [], **stamp,
        })
        result.survivor_ids.append(sid)
        if programme_id is not None:
            tables["programmes"].append({"survivor_id": sid, "programme_id": programme_id})
        if rng.random() < opt_out_share:
            result.opted_out.add(sid)
            tables["consents"].append({
                "id": uuid.uuid4(), "survivor_id": sid, "purpose": "anonymised_statistics",
                "scope": [], "status": "refused", "method": "verbal", "language": "en",
                "form_id": form_id, "form_version": f"v-{tag}", "form_language": "en",
                "form_sha256": "0" * 64, "recorded_by": lead_id,
                "recorded_at": now - timedelta(days=1)})
        count = int(rng.expovariate(1 / records_per_survivor)) if records_per_survivor else 0
        engagement = None
        free_trainings = list(training_ids)
        for _ in range(count):
            kind = rng.random()
            start = day(intake, 120)
            if kind < 0.15:  # a shelter stay, on a bed of its own
                bed = uuid.uuid4()
                tables["beds"].append({"id": bed, "shelter_id": shelter_id,
                                       "label": f"B{bed.hex}", "restrictions": [],
                                       "active": True, **stamp})
                ended = day(start, 90)
                tables["placements"].append({
                    "id": uuid.uuid4(), "survivor_id": sid, "shelter_id": shelter_id,
                    "bed_id": bed, "admitted_on": start, "discharged_on": ended,
                    "status": "closed", "ended_by": "discharge", **stamp})
            elif kind < 0.65:  # a counselling session
                if engagement is None:
                    engagement = uuid.uuid4()
                    tables["engagements"].append({
                        "id": engagement, "survivor_id": sid, "counsellor_id": lead_id,
                        "started_on": intake, **stamp})
                tables["sessions"].append({
                    "id": uuid.uuid4(), "survivor_id": sid, "engagement_id": engagement,
                    "counsellor_id": lead_id, "held_on": start, "duration_minutes": 50,
                    "modality": "in_person", "interpreter_used": False,
                    "attended": rng.random() < 0.85, **stamp})
            elif kind < 0.8 and free_trainings:  # a training enrolment
                training_id = free_trainings.pop()
                done = rng.random() < 0.6
                completed = day(start, 120) if done else None
                tables["enrolments"].append({
                    "id": uuid.uuid4(), "survivor_id": sid, "programme_id": training_id,
                    "status": "completed" if done else "enrolled", "enrolled_on": start,
                    "completed_on": completed, "certified": done and rng.random() < 0.7,
                    "employed_at_3_months": (rng.random() < 0.5) if done else None,
                    "employed_at_6_months": (rng.random() < 0.5) if done else None, **stamp})
            elif kind < 0.9 or (kind < 0.8 and not free_trainings):  # a legal matter
                outcome = _skewed(rng, OUTCOMES, skew)
                tables["matters"].append({
                    "id": uuid.uuid4(), "survivor_id": sid,
                    "kind": _skewed(rng, MATTER_KINDS, skew),
                    "status": "open" if outcome == "pending" else "decided",
                    "opened_on": start, "outcome": outcome, **stamp})
            else:  # a referral
                status = _skewed(rng, REFERRAL_STATUSES, skew)
                issued = status in ("issued", "accepted", "declined", "completed")
                made = datetime.combine(start, datetime.min.time(), UTC) + timedelta(hours=12)
                rid = uuid.uuid4()
                tables["referrals"].append({
                    "id": rid, "survivor_id": sid, "partner_id": partner_id,
                    "service": _skewed(rng, SERVICES, skew), "language": "en",
                    "status": status, "created_by": lead_id,
                    "reference": f"R{rid.hex[:12]}" if issued else None,
                    "issued_at": made if issued else None,
                    "created_at": made, "updated_at": made})
            result.records += 1
        flush()
        if progress is not None and (n + 1) % 1000 == 0:
            progress(n + 1, survivors)
    flush(force=True)
    return result
