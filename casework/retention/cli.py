"""flask --app casework retention run [--dry-run]."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..extensions import db


@click.group("retention", cls=AppGroup)
def retention_group():
    """Retention rules: anonymise closed cases after the organisation's retention period."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True,
              help="List the cases that would be anonymised and count what would be destroyed; "
                   "change nothing.")
def retention_run(dry_run):
    """Anonymise closed cases whose closure is older than the retention period (the
    organisation's retention_years_after_closure, else RETENTION_YEARS_AFTER_CLOSURE)."""
    from .service import run_retention

    try:
        report = run_retention(dry_run=dry_run)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if report.years is None:
        click.echo("No retention period is set (organisation or RETENTION_YEARS_AFTER_CLOSURE):"
                   " nothing to do.")
        return
    verb = "would be anonymised" if dry_run else "anonymised"
    click.echo(f"Retention: cases closed more than {report.years} years ago "
               f"(before {report.cutoff:%Y-%m-%d}).")
    for case_number, closed_at in report.cases:
        click.echo(f"  {case_number}  closed {closed_at:%Y-%m-%d}")
    click.echo(f"{len(report.cases)} case(s) {verb}.")
    heading = "Would destroy:" if dry_run else "Destroyed:"
    click.echo(heading)
    for category, count in report.counts.as_dict().items():
        click.echo(f"  {category}: {count}")
    if dry_run:
        click.echo("Dry run: nothing was changed.")
