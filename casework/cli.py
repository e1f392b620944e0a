"""flask --app casework ... commands."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from .extensions import db


def register_cli(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(audit_group)
    app.cli.add_command(seed_demo)
    from .supervision.digest import digest_group

    app.cli.add_command(digest_group)
    from .backup import backup_group

    app.cli.add_command(backup_group)
    app.cli.add_command(keys_group)
    from .retention.cli import retention_group

    app.cli.add_command(retention_group)
    from .imports.cli import import_group

    app.cli.add_command(import_group)


@click.group(cls=AppGroup)
def users():
    """Create and deactivate user accounts."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True,
              type=click.Choice(["caseworker", "counsellor", "supervisor", "admin", "donor"]))
@click.option("--team", default=None, help="Team name (created if new).")
@click.option("--display-name", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(name, role, team, display_name, password_stdin):
    """Create user NAME with ROLE."""
    from .auth.service import UserError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(name, role, password, team=team, display_name=display_name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.username} ({user.role}{', team ' + team if team else ''}).")


@users.command("deactivate")
@click.argument("name")
def users_deactivate(name):
    """Deactivate NAME: ends their sessions and revokes their API tokens."""
    from .auth.models import User
    from .auth.service import deactivate_user

    user = db.session.scalar(select(User).where(func.lower(User.username) == name.lower()))
    if user is None:
        raise click.ClickException(f"No user named {name!r}.")
    deactivate_user(user)
    db.session.commit()
    click.echo(f"Deactivated {user.username}.")


@click.group("audit", cls=AppGroup)
def audit_group():
    """The audit log."""


@audit_group.command("verify")
def audit_verify():
    """Walk the hash chain; exit 1 and name the first bad row if it is broken."""
    from .audit import verify

    result = verify()
    if result.ok:
        click.echo(f"Audit chain intact: {result.checked} events checked.")
        return
    click.echo(
        f"Audit chain BROKEN at event {result.first_bad_id}: {result.problem} "
        f"({result.checked} events verified before it).",
        err=True,
    )
    sys.exit(1)


@click.command("seed-demo")
@with_appcontext
@click.option("--survivors", "count", default=200, show_default=True)
@click.option("--seed", default=2026, show_default=True, help="Random seed (repeatable data).")
def seed_demo(count, seed):
    """Create a demo organisation, one user of each role and synthetic survivors."""
    from .seed import demo_logins, seed_demo_data

    if seed_demo_data(count=count, seed=seed) is None:
        click.echo("Demo data is already present; nothing added.")
    else:
        click.echo(f"Seeded {count} synthetic survivors (Faker; no real people).")
    click.echo("Demo logins:")
    for username, role, password in demo_logins():
        click.echo(f"  {role:<11} {username:<12} {password}")
    required = current_app.config.get("MFA_REQUIRED_ROLES") or ()
    if required:
        click.echo(f"  ({', '.join(sorted(required))}: set up an authenticator app at the "
                   "first login; CASEWORK_MFA_REQUIRED_ROLES= turns that off for a demo)")


# --- keys ----------------------------------------------------------------------------------------


@click.group("keys", cls=AppGroup)
def keys_group():
    """The data keys of encryption at rest (CASEWORK_DATA_KEYS)."""


@keys_group.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1),
              help="Rows re-encrypted and committed at a time.")
def keys_rotate(batch_size):
    """Re-encrypt everything stored under an older key with the newest key of the ring.

    Each batch is committed: if interrupted, every row stays readable (old and new keys are
    both in the ring) and running the command again continues where it stopped.
    """
    from . import audit, crypto, encryption

    try:
        newest = crypto.key_ring()[-1][0]
    except crypto.KeyRingError as exc:
        raise click.ClickException(str(exc)) from None
    total = encryption.rows_to_scan(db.session, db.metadata)
    db.session.rollback()
    with click.progressbar(length=total, label=f"Re-encrypting under {newest!r}",
                           show_pos=True) as bar:
        done = encryption.rotate_all(db.session, db.metadata, batch_size, progress=bar.update)
    changed = sum(done.values())
    audit.record(None, "keys.rotated", actor_username="cli",
                 fields=sorted(name for name, n in done.items() if n))
    db.session.commit()
    click.echo(f"{changed} row(s) re-encrypted under {newest!r}; "
               f"{total - changed} already were or hold nothing encrypted.")


@keys_group.command("reindex")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1))
def keys_reindex(batch_size):
    """Recompute every survivor's blind-index search keys (after BLIND_INDEX_KEY changed or
    after the upgrade that introduced them)."""
    from .survivors.models import Survivor
    from .survivors.search import reindex

    total = db.session.scalar(select(func.count()).select_from(Survivor)) or 0
    last = None
    with click.progressbar(length=total, label="Reindexing survivors", show_pos=True) as bar:
        while True:
            query = select(Survivor).order_by(Survivor.id).limit(batch_size)
            if last is not None:
                query = query.where(Survivor.id > last)
            rows = list(db.session.scalars(query))
            if not rows:
                break
            for survivor in rows:
                reindex(survivor)
            last = rows[-1].id
            db.session.commit()
            bar.update(len(rows))
    click.echo(f"{total} survivor(s) reindexed.")
