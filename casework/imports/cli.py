"""flask --app casework import survivors FILE --mapping MAPPING.toml [--dry-run] [--caseworker U]"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from ..extensions import db
from . import service
from .mapping import MappingError, parse

MAX_LISTED = 1000  # rows of errors or duplicates printed; the counts are always complete


@click.group("import", cls=AppGroup)
def import_group():
    """Bring records in from spreadsheets."""


@import_group.command("survivors")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML mapping: columns to fields, values to HTCDS value names, options "
                   "(see casework/imports/example-mapping.toml).")
@click.option("--dry-run", is_flag=True,
              help="Check every row and report errors and duplicates; write nothing.")
@click.option("--caseworker", default=None,
              help="Username of the active caseworker who leads the imported cases "
                   "(overrides the mapping's assign_to).")
def import_survivors(file: Path, mapping_path: Path, dry_run: bool, caseworker: str | None):
    """Import the survivors of FILE (.csv or .xlsx), all or nothing.

    Every row is validated as the API validates a registration; any row in error stops the
    whole import. Rows matching a survivor on record (or an earlier row) are reported as
    duplicates and not created, so importing a file twice creates nothing the second time.
    Exits 1 when a row is in error or the import failed.
    """
    try:
        mapping = parse(mapping_path.read_bytes())
    except MappingError as exc:
        raise click.ClickException("The mapping cannot be used:\n  " + "\n  ".join(exc.messages)) \
            from None
    data = file.read_bytes()
    bar = None

    def start(total: int) -> None:
        nonlocal bar
        bar = click.progressbar(length=total, label="Importing survivors", show_pos=True,
                                file=sys.stderr)
        bar.__enter__()

    try:
        report = service.run(None, file.name, data, mapping, caseworker_username=caseworker,
                             dry_run=dry_run, on_start=start,
                             progress=lambda n: bar.update(n) if bar is not None else None)
    except service.ImportRefused as exc:
        db.session.rollback()
        raise click.ClickException("\n  ".join(["Nothing imported:", *exc.messages])) from None
    except service.ImportFailed as exc:
        if bar is not None:
            bar.__exit__(None, None, None)
        db.session.rollback()
        service.record_failure(None, file.name, exc)
        db.session.commit()
        raise click.ClickException(
            f"The import stopped at row {exc.row} ({type(exc.error).__name__}: {exc.error}); "
            "it was rolled back: nothing was imported.") from None
    if bar is not None:
        bar.__exit__(None, None, None)
    db.session.commit()  # the survivors and their events, or only the audit event
    _print(report)
    if not report.ok:
        sys.exit(1)


def _print(report: service.Report) -> None:
    verb = "would be imported" if report.dry_run else "imported"
    if report.dry_run or not report.ok:
        done = report.to_create if report.ok else 0
    else:
        done = len(report.created)
    click.echo(f"{'Checked' if report.dry_run else 'Read'} {report.filename}: {report.rows} "
               f"row(s) ({report.blank_rows} blank skipped); {len(report.error_rows)} with "
               f"errors; {len(report.duplicates)} duplicate(s); {done} {verb} "
               f"for caseworker {report.caseworker}.")
    if report.ignored_columns:
        click.echo("Columns not in the mapping (ignored): " + ", ".join(report.ignored_columns))
    if report.errors:
        click.echo("Errors (nothing was imported):" if not report.dry_run else "Errors:")
        for error in report.errors[:MAX_LISTED]:
            column = f', column "{error.column}"' if error.column else ""
            click.echo(f"  row {error.row}{column}: {error.message}")
        if len(report.errors) > MAX_LISTED:
            click.echo(f"  ... and {len(report.errors) - MAX_LISTED} more")
    if report.duplicates:
        click.echo("Duplicates, not created. " + str(service.DUPLICATE_RULE))
        for duplicate in report.duplicates[:MAX_LISTED]:
            click.echo(f"  {duplicate.describe()}")
        if len(report.duplicates) > MAX_LISTED:
            click.echo(f"  ... and {len(report.duplicates) - MAX_LISTED} more")
    if report.created:
        click.echo(f"Created cases {report.created[0]} to {report.created[-1]}.")
