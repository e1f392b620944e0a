"""How audit actions read for people (access logs, the team audit page)."""

from __future__ import annotations

from functools import lru_cache

from flask_babel import lazy_gettext as _l

ACTION_LABELS = {
    "survivor.viewed": _l("Opened the record"),
    "survivor.listed": _l("Saw it in a list"),
    "survivor.exported": _l("Exported it in a caseload spreadsheet"),
    "survivor.created": _l("Registered the survivor"),
    "survivor.updated": _l("Changed the record"),
    "survivor.closed": _l("Closed the case"),
    "survivor.break_glass": _l("Opened identifying details (break-glass)"),
    "survivor.access_log_viewed": _l("Looked at the access log"),
    "survivor.write_denied": _l("Was refused a change"),
    "survivor.duplicate_search": _l("Looked for possible duplicates before registering"),
    "survivor.imported": _l("Imported the survivor from a spreadsheet"),
    "import.checked": _l("Checked a spreadsheet import (dry run)"),
    "import.completed": _l("Imported survivors from a spreadsheet"),
    "import.refused": _l("Was refused a spreadsheet import: rows in error"),
    "import.failed": _l("A spreadsheet import failed and was rolled back"),
    "auth.login": _l("Logged in"),
    "auth.login_failed": _l("Failed to log in"),
    "auth.login_throttled": _l("Login refused: too many attempts"),
    "auth.logout": _l("Logged out"),
    "auth.token_issued": _l("Created an API token"),
    "auth.token_revoked": _l("Revoked an API token"),
    "auth.mfa_failed": _l("Gave a wrong or used two-step verification code"),
    "auth.mfa_required": _l("Was refused an API token: two-step verification not set up"),
    "auth.password_confirm_failed": _l("Gave a wrong password to confirm a change"),
    "mfa.enrolled": _l("Turned on two-step verification"),
    "mfa.disabled": _l("Turned off two-step verification"),
    "mfa.recovery_used": _l("Used a two-step verification recovery code"),
    "mfa.recovery_codes_replaced": _l("Made new recovery codes"),
    "user.created": _l("Created a user"),
    "user.deactivated": _l("Deactivated a user"),
    "user.password_changed": _l("Changed their password"),
    "user.profile_changed": _l("Changed their language or time zone"),
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
    "programme.created": _l("Added a funded programme"),
    "programme.updated": _l("Changed a funded programme"),
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
    "report.viewed": _l("Opened an impact report"),
    "report.downloaded": _l("Downloaded an impact report (PDF or CSV)"),
    "report.drafted": _l("Drafted an impact report"),
    "report.published": _l("Published an impact report"),
    "report.publish_refused": _l("Was refused publishing an impact report (differencing)"),
    "report.draft_deleted": _l("Deleted a draft impact report"),
    "export.htcds": _l("Made the HTCDS de-identified export"),
    "audit.viewed": _l("Looked at the team audit"),
    "audit.exported": _l("Exported the team audit (CSV)"),
    "digest.sent": _l("Was sent the daily digest email"),
    "backup.created": _l("Made an encrypted backup of the database"),
    "backup.restored": _l("Restored the database from a backup"),
    "keys.rotated": _l("Re-encrypted the stored data under the newest key"),
    "erasure.requested": _l("Recorded the survivor's request to be erased"),
    "erasure.viewed": _l("Looked at an erasure request"),
    "erasure.refused": _l("Refused the request to erase the survivor"),
    "erasure.certificate_downloaded": _l("Downloaded the deletion certificate"),
    "survivor.erased": _l("Erased the survivor's identifying data"),
    "survivor.subject_access_export": _l("Made the survivor's own data export"),
    "retention.run": _l("Ran the retention rules"),
    "retention.dry_run": _l("Listed the cases the retention rules would anonymise"),
    "referral.returned": _l("Returned a referral to the caseworker"),
    "closure.requested": _l("Asked for the case to be closed"),
    "closure.viewed": _l("Looked at a request to close the case"),
    "closure.approved": _l("Approved closing the case"),
    "closure.returned": _l("Returned the request to close the case"),
    "survivor.reassigned": _l("Reassigned the case to another lead caseworker"),
    "survivor.reassignment_acknowledged": _l("Acknowledged taking over the case"),
    "supervision.dashboard_viewed": _l("Looked at the team dashboard"),
    "plan_item.listed": _l("Looked at the support plan"),
    "plan_item.viewed": _l("Opened a support plan item"),
    "enrolment.listed": _l("Looked at the training enrolments"),
    "enrolment.viewed": _l("Opened a training enrolment"),
    "legal.matters_viewed": _l("Looked at the legal matters"),
    "legal.matter_viewed": _l("Opened a legal matter"),
    "legal.hearings_viewed": _l("Looked at the hearings of a legal matter"),
    "legal.hearing_viewed": _l("Opened a hearing"),
    "counselling.engagements_viewed": _l("Looked at the counselling engagements"),
    "counselling.engagement_viewed": _l("Opened a counselling engagement"),
    "counselling.sessions_viewed": _l("Looked at the counselling sessions"),
    "counselling.session_viewed": _l("Opened a counselling session"),
}




def action_label(action: str) -> str:
    """What an audit action reads as, in the user's language (an access log shows dozens:
    each label is looked up once per language)."""
    from ..i18n import current_locale_name  # (casework.i18n imports this module)

    return action_label_in(current_locale_name(), action)


@lru_cache(maxsize=2048)
def action_label_in(locale_name: str, action: str) -> str:
    """The label of ``action`` in the current locale, ``locale_name`` (kept per language)."""
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    if action.endswith(".denied"):
        return str(_l("Was refused access"))
    return action
