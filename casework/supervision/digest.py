"""The daily digest email: each user's alerts as case numbers and counts, never names.

``flask --app casework digest send [--dry-run]`` sends one email per active user who has
alerts (casework/me/service.py ``alerts_for``: overdue plan items, employment checks due,
referrals waiting on approval or on a partner). The email carries the kind of each alert,
how many there are and the case numbers concerned — no survivor field other than the case
number, and no alert message (messages may name programmes or dates). Users without an
email address are skipped and counted. Each sent digest is audited as ``digest.sent`` with
counts only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

import click
from flask import current_app, render_template
from flask.cli import AppGroup
from flask_babel import force_locale, format_date, ngettext
from flask_babel import lazy_gettext as _l
from flask_mailman import EmailMultiAlternatives
from sqlalchemy import select

from .. import audit
from ..auth.models import User
from ..extensions import db, mail
from ..me import service as me

KIND_LABELS = {
    "plan_item.overdue": _l("Support plan items overdue"),
    "employment_check.3_months": _l("Employment checks due (3 months)"),
    "employment_check.6_months": _l("Employment checks due (6 months)"),
    "referral.awaiting_approval": _l("Referrals waiting for approval"),
    "referral.awaiting_partner": _l("Referrals unanswered by the partner"),
    "case.reassigned": _l("Cases newly assigned to you as lead"),
}
AUDIT_ACTOR = "digest"


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


@dataclass
class DigestLine:
    kind: str
    label: str
    count: int
    case_numbers: list[str]


@dataclass
class Digest:
    user: User
    today: date
    lines: list[DigestLine]
    subject: str = ""
    intro: str = ""
    text: str = ""
    html: str = ""

    @property
    def total(self) -> int:
        return sum(line.count for line in self.lines)

    def counts(self) -> dict[str, int]:
        return {line.kind: line.count for line in self.lines}


@dataclass
class RunResult:
    sent: int = 0
    skipped_no_email: int = 0
    without_alerts: int = 0
    failed: list[str] = field(default_factory=list)


def recipients() -> list[User]:
    """Active users whose role has alerts, in a stable order."""
    return list(db.session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(me.ALERT_ROLES))
        .order_by(User.username)))


def build(user: User, today: date | None = None) -> Digest | None:
    """The digest of ``user`` (None without alerts), rendered as subject, text and HTML."""
    today = today or date.today()
    # In the user's language; outside a request (the CLI) there is no browser to ask.
    with force_locale(user.locale or current_app.config.get("DEFAULT_LOCALE", "en")):
        return _build(user, today)


def _build(user: User, today: date) -> Digest | None:
    alerts = me.alerts_for(user, today, audit_read=False)
    if not alerts:
        return None
    counts = Counter(alert.kind for alert in alerts)
    numbers: dict[str, set[str]] = defaultdict(set)
    for alert in alerts:
        numbers[alert.kind].add(alert.case_number)
    lines = [DigestLine(kind, kind_label(kind), counts[kind], sorted(numbers[kind]))
             for kind in sorted(counts, key=kind_label)]
    digest = Digest(user, today, lines)
    org = current_app.config.get("ORGANISATION_NAME", "Casework")
    digest.subject = ngettext("%(org)s: %(num)d alert for %(day)s",
                              "%(org)s: %(num)d alerts for %(day)s",
                              digest.total, org=org, day=format_date(today, "long"))
    digest.intro = ngettext("You have %(num)d alert in %(org)s today (%(day)s).",
                            "You have %(num)d alerts in %(org)s today (%(day)s).",
                            digest.total, org=org, day=format_date(today, "long"))
    context = {"digest": digest, "public_url": (current_app.config.get("PUBLIC_URL")
                                                or "").rstrip("/")}
    digest.text = render_template("supervision/digest.txt", **context)
    digest.html = render_template("supervision/digest_email.html", **context)
    return digest


def message(digest: Digest) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=digest.subject, body=digest.text,
        from_email=current_app.config.get("MAIL_DEFAULT_SENDER"), to=[digest.user.email],
    )
    email.attach_alternative(digest.html, "text/html")
    return email


def send_all(today: date | None = None, *, dry_run: bool = False) -> RunResult:
    """Send each user's digest (one email each); ``dry_run`` builds them and sends nothing."""
    today = today or date.today()
    result = RunResult()
    connection = None if dry_run else mail.get_connection()
    for user in recipients():
        digest = build(user, today)
        if digest is None:
            result.without_alerts += 1
            continue
        if not (user.email or "").strip():
            result.skipped_no_email += 1
            continue
        if dry_run:
            result.sent += 1
            continue
        try:
            connection.send_messages([message(digest)])
        except OSError as exc:  # SMTP down or refusing: report, go on with the others
            result.failed.append(f"{user.username}: {exc.__class__.__name__}")
            continue
        result.sent += 1
        counts = ", ".join(f"{kind}={n}" for kind, n in sorted(digest.counts().items()))
        audit.record(None, "digest.sent", subject_type="user", subject_id=user.id,
                     actor_username=AUDIT_ACTOR, fields=sorted(digest.counts()),
                     reason=f"{digest.total} alerts ({counts})")
    return result


# --- CLI: flask --app casework digest send [--dry-run] ------------------------------------------


@click.group("digest", cls=AppGroup)
def digest_group():
    """The daily digest email of alerts."""


@digest_group.command("send")
@click.option("--dry-run", is_flag=True, help="Build the digests and count them; send nothing.")
def digest_send(dry_run):
    """Email each active user with alerts their digest (case numbers and counts only)."""
    result = send_all(dry_run=dry_run)
    if dry_run:
        db.session.rollback()
        click.echo(f"Would send {result.sent} digests; {result.skipped_no_email} users with "
                   f"alerts have no email address (dry run, nothing sent).")
        return
    db.session.commit()
    click.echo(f"Sent {result.sent} digests; skipped {result.skipped_no_email} users without "
               f"an email address.")
    if result.failed:
        click.echo(f"Failed for {len(result.failed)}: {', '.join(result.failed)}", err=True)
        raise SystemExit(1)
