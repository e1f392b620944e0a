"""On-screen labels of referral fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

FIELD_LABELS = {
    "id": _l("Id"),
    "survivor_id": _l("Survivor"),
    "partner_id": _l("Partner"),
    "service": _l("Service requested"),
    "reason": _l("Reason for the referral"),
    "language": _l("Language of the letter"),
    "status": _l("Status"),
    "reference": _l("Reference"),
    "issued_at": _l("Issued at"),
    "created_by": _l("Drafted by"),
    "created_at": _l("Drafted at"),
    "updated_at": _l("Last changed"),
    "submitted_at": _l("Submitted at"),
    "approved_by": _l("Approved by"),
    "approved_at": _l("Approved at"),
    "responded_at": _l("Partner answered at"),
    "decline_reason": _l("Partner's reason for declining"),
    "completed_at": _l("Completed at"),
    "withdrawn_at": _l("Withdrawn at"),
    "withdraw_reason": _l("Reason for withdrawing"),
    "returned_by": _l("Returned by"),
    "returned_at": _l("Returned to draft at"),
    "return_comment": _l("Supervisor's comment"),
}
