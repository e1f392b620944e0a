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
}


def action_label(action: str) -> str:
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    if action.endswith(".denied"):
        return str(_l("Was refused access"))
    return action
