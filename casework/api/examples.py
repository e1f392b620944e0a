"""Examples of request bodies in the OpenAPI document (synthetic values only).

Attached to the generated document by ``ExamplesPlugin`` (casework/api/__init__.py), keyed
by path and method, so the resources' code stays about behaviour.
"""

from __future__ import annotations

SURVIVOR_ID = "0b8f2f0e-6a61-4c1e-9d3a-2f4c1f6a9b10"
PARTNER_ID = "5d1e7c2a-3b4f-4a8e-9c6d-1e2f3a4b5c6d"
SHELTER_ID = "7a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"

REQUEST_EXAMPLES: dict[tuple[str, str], dict] = {
    ("/api/v1/auth/token", "post"): {"username": "cw.amara", "password": "a long passphrase",
                                     "otp": "492039"},
    ("/api/v1/survivors", "post"): {
        "intake_date": "2026-03-02", "referral_source": "Hotline", "gender": "Feminine",
        "citizenship": ["VN"], "primary_language": "vi",
        "trafficking_status": "PossibleVictim", "exploitation_types": ["ForcedLabour"],
        "first_name": "Lan", "last_name": "Nguyen", "date_of_birth": "1998-07-14",
        "risk_level": "medium"},
    ("/api/v1/survivors/{survivor_id}", "patch"): {"risk_level": "high",
                                                   "phone": "+66 80 000 0000"},
    ("/api/v1/survivors/{survivor_id}/close", "post"): {"reason": "Services completed; "
                                                        "the survivor moved abroad."},
    ("/api/v1/survivors/{survivor_id}/break-glass", "post"): {
        "reason": "The shelter reports a safety threat and needs to confirm identity."},
    ("/api/v1/survivors/duplicates", "post"): {"first_name": "Lan", "last_name": "Nguyen",
                                               "date_of_birth": "1998-07-14"},
    ("/api/v1/survivors/{survivor_id}/consents", "post"): {
        "purpose": "referral_sharing", "partner_id": PARTNER_ID, "status": "granted",
        "scope": ["identity", "contact", "service_history"], "method": "written",
        "language": "vi", "form_version": "2026-1", "expires_on": "2027-03-01"},
    ("/api/v1/consents/{consent_id}/withdraw", "post"): {"reason": "The survivor asked to "
                                                         "stop sharing with this partner."},
    ("/api/v1/referrals", "post"): {"survivor_id": SURVIVOR_ID, "partner_id": PARTNER_ID,
                                    "service": "legal_aid", "reason": "Needs advice on a "
                                    "residence permit.", "language": "en"},
    ("/api/v1/survivors/{survivor_id}/placements", "post"): {"shelter_id": SHELTER_ID,
                                                             "admitted_on": "2026-03-02"},
    ("/api/v1/placements/{placement_id}/discharge", "post"): {
        "on": "2026-05-30", "reason": "Moved into independent housing with support."},
    ("/api/v1/survivors/{survivor_id}/counselling-sessions", "post"): {
        "held_on": "2026-03-09", "duration_minutes": 50, "modality": "in_person",
        "language": "vi", "interpreter_used": True, "attended": True,
        "notes": "Privileged: only the engagement's counsellors read this."},
    ("/api/v1/survivors/{survivor_id}/legal-matters", "post"): {
        "kind": "immigration", "partner_id": PARTNER_ID, "opened_on": "2026-03-10"},
    ("/api/v1/survivors/{survivor_id}/plan-items", "post"): {
        "type": "Health", "objective": "Dental check-up", "due_on": "2026-04-15"},
    ("/api/v1/reports", "post"): {"period_start": "2026-01-01", "period_end": "2026-06-30"},
}
