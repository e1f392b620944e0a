"""What each survivor field is called on screen (translated through the catalogs)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

FIELD_LABELS = {
    "id": _l("Record id"),
    "case_number": _l("Case number"),
    "status": _l("Case status"),
    "lead_caseworker_id": _l("Lead caseworker"),
    "collaborator_ids": _l("Collaborators"),
    "programme_ids": _l("Funded by programmes"),
    "intake_date": _l("Intake date"),
    "referral_source": _l("Referred by"),
    "closed_at": _l("Closed on"),
    "closure_reason": _l("Reason for closure"),
    "erased_at": _l("Identifying data erased on"),
    "created_at": _l("Created"),
    "updated_at": _l("Last updated"),
    "gender": _l("Gender"),
    "age_band": _l("Age at intake"),
    "citizenship": _l("Citizenship"),
    "primary_language": _l("Primary language"),
    "trafficking_status": _l("Trafficking status"),
    "exploitation_types": _l("Types of exploitation"),
    "recruitment_methods": _l("Methods of recruitment"),
    "recruitment_platforms": _l("Recruitment websites and apps"),
    "countries_of_exploitation": _l("Countries of exploitation"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "known_as": _l("Known as"),
    "date_of_birth": _l("Date of birth"),
    "phone": _l("Phone"),
    "email": _l("Email"),
    "address": _l("Address"),
    "narrative": _l("Narrative"),
    "risk_level": _l("Risk level"),
    "risk_notes": _l("Risk notes"),
}

TIER_LABELS = {
    "operational": _l("Case"),
    "demographic": _l("Profile"),
    "identifying": _l("Identity and contact"),
    "sensitive": _l("Story and risk"),
    "privileged": _l("Counselling (privileged)"),
}


def _register() -> None:
    from ..i18n import register_labels

    # Under "survivor.": bare names like "status" mean other things on other records.
    register_labels({f"survivor.{name}": label for name, label in FIELD_LABELS.items()})


_register()
