"""The daily digest email: case numbers and counts only, one per user with alerts, audited."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask_babel import format_date
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.auth.models import User
from casework.extensions import db
from casework.me import service as me
from casework.supervision import digest
from casework.survivors.models import Survivor

IDENTIFYING = ("first_name", "last_name", "known_as", "phone", "email", "address",
               "date_of_birth")


def outbox(app) -> list:
    return getattr(app.extensions["mailman"], "outbox", [])


@pytest.fixture(autouse=True)
def _empty_outbox(app):
    app.extensions["mailman"].outbox = []
    yield


@pytest.fixture
def seeded(app):
    """The demo organisation (30 synthetic survivors), every demo user given an address."""
    from casework.seed import seed_demo_data

    with app.app_context():
        seed_demo_data(count=30)
        for user in db.session.scalars(select(User)):
            user.email = f"{user.username}@example.org"
        db.session.commit()


def send(app, *args):
    result = app.test_cli_runner().invoke(args=["digest", "send", *args])
    return result


def all_text(message) -> str:
    html = "".join(body for body, _mime in message.alternatives)
    return "\n".join([message.subject, message.body, html])


def identifying_values(app) -> list[str]:
    values: set[str] = set()
    with app.test_request_context("/"):
        for survivor in db.session.scalars(select(Survivor)):
            for name in IDENTIFYING:
                value = getattr(survivor, name)
                if value is None or value == "":
                    continue
                if isinstance(value, date):
                    values.update({value.isoformat(), format_date(value),
                                   format_date(value, "medium"), format_date(value, "long")})
                else:
                    values.add(str(value))
                    if name == "address":  # parts of an address identify too
                        values.update(p.strip() for p in str(value).split(",")
                                      if len(p.strip()) >= 6)
    return sorted(values)


def test_seeded_digests_contain_no_identifying_field(app, seeded):
    result = send(app)
    assert result.exit_code == 0, result.output
    messages = outbox(app)
    assert messages, "the demo data should give some user alerts"
    assert f"Sent {len(messages)} digests" in result.output
    values = identifying_values(app)
    assert len(values) > 60
    for message in messages:
        text = all_text(message)
        for value in values:
            assert not re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text), (value, text)
    # What they do contain: case numbers and counts.
    with app.app_context():
        numbers = set(db.session.scalars(select(Survivor.case_number)))
    shown = {n for m in messages for n in re.findall(r"CW-\d{4}-\d+", m.body)}
    assert shown and shown <= numbers


def test_digest_lines_match_the_alerts(app, seeded):
    with app.test_request_context("/"):
        users = digest.recipients()
        built = 0
        for user in users:
            alerts = me.alerts_for(user, audit_read=False)
            mail = digest.build(user)
            if not alerts:
                assert mail is None
                continue
            built += 1
            assert mail.total == len(alerts)
            for line in mail.lines:
                kind_alerts = [a for a in alerts if a.kind == line.kind]
                assert line.count == len(kind_alerts)
                assert line.case_numbers == sorted({a.case_number for a in kind_alerts})
                assert f"{line.label}: {line.count}" in mail.text
                assert ", ".join(line.case_numbers) in mail.text
            for alert in alerts:  # messages are left out
                assert alert.message not in mail.text and alert.message not in mail.html
        assert built
        db.session.rollback()


def test_one_email_per_user_with_alerts_and_the_sending_is_audited(app, seeded):
    with app.test_request_context("/"):
        expected = {u.email for u in digest.recipients() if me.alerts_for(u, audit_read=False)}
        db.session.rollback()
    with app.app_context():
        before = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    assert send(app).exit_code == 0
    messages = outbox(app)
    assert sorted(m.to[0] for m in messages) == sorted(expected)
    assert all(m.from_email == app.config["MAIL_DEFAULT_SENDER"] for m in messages)
    assert all(len(m.to) == 1 for m in messages)
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)))
    sent = [e for e in events if e.action == "digest.sent"]
    assert len(sent) == len(messages)
    assert all(e.channel == "cli" and e.subject_type == "user" for e in sent)
    for event in sent:
        assert not re.search(r"CW-\d{4}", event.reason or "")
        assert re.match(r"^\d+ alerts \(", event.reason)
    # Reading alerts for the digest does not flood the log with listings.
    assert not [e for e in events if e.action == "survivor.listed"]


def test_dry_run_sends_nothing_and_records_nothing(app, seeded):
    with app.app_context():
        count = len(list(db.session.scalars(select(AuditEvent.id))))
    result = send(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would send" in result.output and "nothing sent" in result.output
    assert int(re.search(r"Would send (\d+)", result.output).group(1)) > 0
    assert outbox(app) == []
    with app.app_context():
        assert len(list(db.session.scalars(select(AuditEvent.id)))) == count


def test_users_without_email_are_skipped_and_counted(app, seeded):
    with app.test_request_context("/"):
        with_alerts = [u for u in digest.recipients() if me.alerts_for(u, audit_read=False)]
        assert with_alerts
        skipped = with_alerts[0]
        skipped.email = None
        db.session.commit()
        skipped_name = skipped.username
    result = send(app)
    assert result.exit_code == 0
    assert f"Sent {len(with_alerts) - 1} digests; skipped 1 users" in result.output
    assert all(not m.to[0].startswith(skipped_name + "@") for m in outbox(app))


def test_inactive_users_and_users_without_alerts_get_nothing(app, make):
    cw = make.user("caseworker", email="quiet@example.org")
    make.survivor(cw)  # no overdue items, no referrals: no alerts
    gone = make.user("caseworker", email="gone@example.org")
    with app.app_context():
        db.session.get(User, gone.id).active = False
        db.session.commit()
    result = send(app)
    assert result.exit_code == 0 and "Sent 0 digests" in result.output
    assert outbox(app) == []


def test_smtp_failure_is_reported_not_hidden(app, seeded, monkeypatch):
    from flask_mailman.backends.locmem import EmailBackend

    def refuse(self, messages):
        raise ConnectionRefusedError("no SMTP server")

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    result = send(app)
    assert result.exit_code == 1
    assert "Failed for" in result.output
    with app.app_context():
        assert not db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.action == "digest.sent"))


def test_mail_settings_from_the_environment(monkeypatch):
    from config import load_config

    monkeypatch.setenv("CASEWORK_MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("CASEWORK_MAIL_PORT", "587")
    monkeypatch.setenv("CASEWORK_MAIL_USE_TLS", "true")
    monkeypatch.setenv("CASEWORK_MAIL_USERNAME", "casework")
    monkeypatch.setenv("CASEWORK_MAIL_PASSWORD", "synthetic-secret")
    monkeypatch.setenv("CASEWORK_MAIL_DEFAULT_SENDER", "alerts@example.org")
    settings = load_config("test")
    assert settings["MAIL_SERVER"] == "smtp.example.org"
    assert settings["MAIL_PORT"] == 587 and settings["MAIL_USE_TLS"] is True
    assert settings["MAIL_USERNAME"] == "casework"
    assert settings["MAIL_PASSWORD"] == "synthetic-secret"
    assert settings["MAIL_DEFAULT_SENDER"] == "alerts@example.org"
    assert settings["MAIL_BACKEND"] == "locmem"
    monkeypatch.delenv("CASEWORK_MAIL_USE_TLS")
    assert load_config("test")["MAIL_USE_TLS"] is False
    assert load_config("production", {"SECRET_KEY": "x", "DATA_KEYS": "{}",
                                      "BLIND_INDEX_KEY": "x"})[
        "MAIL_BACKEND"] == "smtp"


def test_every_alert_kind_has_a_label():
    from casework.referrals import service as referrals

    kinds = {me.PLAN_OVERDUE, *me.EMPLOYMENT_CHECK.values(), referrals.AWAITING_APPROVAL_ALERT,
             referrals.AWAITING_PARTNER_ALERT, getattr(me, "CASE_REASSIGNED", me.PLAN_OVERDUE)}
    assert kinds <= set(digest.KIND_LABELS)
