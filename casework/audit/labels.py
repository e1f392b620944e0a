"""How audit actions read for people (access logs, the team audit page)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ACTION_LABELS = {
    "survivor.viewed": _l("Opened the record"),
    "survivor.listed": _l("Saw it in a list"),
    "survivor.created": _l("Registered the survivor"),
    "survivor.updated": _l("Changed the record"),
    "survivor.closed": _l("Closed the case"),
    "survivor.break_glass": _l("Opened identifying details (break-glass)"),
    "survivor.access_log_viewed": _l("Looked at the access log"),
    "survivor.write_denied": _l("Was refused a change"),
    "auth.login": _l("Logged in"),
    "auth.login_failed": _l("Failed to log in"),
    "auth.login_throttled": _l("Login refused: too many attempts"),
    "auth.logout": _l("Logged out"),
    "auth.token_issued": _l("Created an API token"),
    "auth.token_revoked": _l("Revoked an API token"),
    "user.created": _l("Created a user"),
    "user.deactivated": _l("Deactivated a user"),
    "consent.viewed": _l("Looked at the consent log"),
    "consent.recorded": _l("Recorded a consent decision"),
    "consent.withdrawn": _l("Recorded the withdrawal of a consent"),
    "consent.receipt_printed": _l("Printed a consent receipt"),
    "referral.viewed": _l("Looked at referrals"),
    "referral.created": _l("Drafted a referral"),
    "referral.updated": _l("Changed a draft referral"),
    "referral.submitted": _l("Submitted a referral"),
    "referral.approved": _l("Approved a referral"),
    "referral.issued": _l("Issued a referral letter"),
    "referral.accepted": _l("Recorded the partner's acceptance"),
    "referral.declined": _l("Recorded the partner's refusal"),
    "referral.completed": _l("Completed a referral"),
    "referral.withdrawn": _l("Withdrew a referral"),
    "referral.letter_downloaded": _l("Downloaded a referral letter"),
    "letter.verified": _l("A referral letter was verified"),
    "letter.verify_failed": _l("A referral letter check failed"),
    "survivor.timeline_viewed": _l("Looked at the timeline"),
    "partner.created": _l("Added a partner"),
    "partner.updated": _l("Changed a partner"),
    "shelter.created": _l("Added a shelter"),
    "shelter.updated": _l("Changed a shelter"),
    "bed.created": _l("Added a bed"),
    "bed.updated": _l("Changed a bed"),
    "shelter.board_viewed": _l("Looked at a shelter's occupancy board"),
    "shelter.occupancy_viewed": _l("Seen on a shelter's occupancy board"),
    "placement.viewed": _l("Looked at shelter placements"),
    "placement.created": _l("Admitted to a shelter"),
    "placement.updated": _l("Changed a shelter placement"),
    "placement.transferred": _l("Transferred to another bed or shelter"),
    "placement.discharged": _l("Discharged from a shelter"),
    "counselling.sessions_listed": _l("Looked at counselling sessions"),
    "counselling.engagement_started": _l("Started a counselling engagement"),
    "counselling.engagement_updated": _l("Changed a counselling engagement"),
    "counselling.engagement_ended": _l("Ended a counselling engagement"),
    "counselling.session_recorded": _l("Recorded a counselling session"),
    "counselling.session_updated": _l("Changed a counselling session"),
    "training_programme.created": _l("Added a training programme"),
    "training_programme.updated": _l("Changed a training programme"),
    "enrolment.created": _l("Enrolled in training"),
    "enrolment.updated": _l("Changed a training enrolment"),
    "enrolment.completed": _l("Completed training"),
    "enrolment.withdrawn": _l("Withdrew from training"),
    "legal.matter_opened": _l("Opened a legal matter"),
    "legal.matter_updated": _l("Changed a legal matter"),
    "legal.hearing_added": _l("Added a hearing"),
    "plan_item.created": _l("Added a support plan item"),
    "plan_item.updated": _l("Changed a support plan item"),
    "audit.viewed": _l("Looked at the team audit"),
    "audit.exported": _l("Exported the team audit (CSV)"),
    "digest.sent": _l("Was sent the daily digest email"),
}


def action_label(action: str) -> str:
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    if action.endswith(".denied"):
        return str(_l("Was refused access"))
    return action
