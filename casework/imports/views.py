"""/admin/import: the spreadsheet import for admins (check first, then import)."""

from __future__ import annotations

import hashlib

from flask import Blueprint, current_app, flash, render_template, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from wtforms import SelectField, SubmitField, TextAreaField
from wtforms.validators import Length

from .. import access
from ..extensions import db
from . import service
from .mapping import MappingError, parse

bp = Blueprint("imports", __name__, url_prefix="/admin/import")

# The whole request is also capped by MAX_CONTENT_LENGTH; larger files: the command line.
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_MAPPING_CHARS = 64 * 1024
MAX_SHOWN = 500  # rows of errors or duplicates listed on the page; counts stay complete
# The digest of the last file, mapping and caseworker checked in this session: "Import"
# needs the same ones to have been checked first. Only a digest: no survivor data is kept.
CHECKED_KEY = "_cw_import_checked"


@bp.before_request
def _admins_only():
    access.require(current_user, "survivor.import")


class ImportForm(FlaskForm):
    spreadsheet = FileField(
        _l("Spreadsheet (.csv or .xlsx)"),
        validators=[FileRequired(_l("Choose the spreadsheet to import.")),
                    FileAllowed(["csv", "xlsx"], _l("Give a .csv or .xlsx file.")),
                    FileSize(MAX_UPLOAD_BYTES,
                             message=_l("The file is larger than 2 MB: import it with the "
                                        "command line instead."))],
        description=_l("Row 1 holds the column headings; error reports number rows as the "
                       "spreadsheet does."))
    mapping_file = FileField(
        _l("Mapping file (.toml)"),
        validators=[FileAllowed(["toml", "txt"], _l("Give a .toml file.")),
                    FileSize(MAX_MAPPING_CHARS, message=_l("The mapping file is too large."))])
    mapping_text = TextAreaField(
        _l("Or paste the mapping"), validators=[Length(max=MAX_MAPPING_CHARS)],
        description=_l("[columns] column heading = field; [values.FIELD] spreadsheet value "
                       "= HTCDS value name; [options] date_format, list_separator."))
    caseworker = SelectField(_l("Lead caseworker of the imported cases"), choices=[])
    check = SubmitField(_l("Check (dry run)"))
    run = SubmitField(_l("Import"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.caseworker.choices = [
            (user.username, f"{user.display_name} ({user.username})" if user.display_name
             else user.username) for user in service.active_caseworkers()]

    def mapping_source(self) -> str | bytes | None:
        if self.mapping_file.data:
            return self.mapping_file.data.read()
        return self.mapping_text.data or None


def _digest(data: bytes, mapping: bytes | str, caseworker: str) -> str:
    mapping_bytes = mapping if isinstance(mapping, bytes) else mapping.encode()
    h = hashlib.sha256()
    for part in (data, mapping_bytes, caseworker.encode()):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


@bp.route("", methods=["GET", "POST"])
def index():
    form = ImportForm()
    report = None
    status = 200
    if form.validate_on_submit():
        mapping_source = form.mapping_source()
        dry_run = not form.run.data
        upload = form.spreadsheet.data
        data = upload.read()
        filename = (upload.filename or "upload").rsplit("/", 1)[-1][:200]
        digest = _digest(data, mapping_source or b"", form.caseworker.data)
        try:
            if not mapping_source:
                raise MappingError([_l("Give the mapping: upload a .toml file or paste it.")])
            mapping = parse(mapping_source)
            if not dry_run and session.get(CHECKED_KEY) != digest:
                raise service.ImportRefused([_l(
                    "Check this file first (dry run) with the same mapping and caseworker, "
                    "then import it.")])
            report = service.run(current_user, filename, data, mapping,
                                 caseworker_username=form.caseworker.data, dry_run=dry_run)
        except (MappingError, service.ImportRefused) as exc:
            form.form_errors.extend(exc.messages)
            status = 422
        except service.ImportFailed as exc:
            db.session.rollback()
            service.record_failure(current_user, filename, exc)
            current_app.logger.exception("import of %s failed at row %d", filename, exc.row)
            form.form_errors.append(_("The import stopped at row %(row)d because of an "
                                      "unexpected error; nothing was imported.", row=exc.row))
            status = 500
        else:
            if dry_run:
                session[CHECKED_KEY] = digest
            elif report.ok:
                session.pop(CHECKED_KEY, None)
                flash(_("Imported %(n)d survivor(s); %(d)d duplicate(s) were not created.",
                        n=len(report.created), d=len(report.duplicates)), "success")
                return render_template("admin/import.html", form=ImportForm(formdata=None),
                                       report=report, max_shown=MAX_SHOWN,
                                       rule=service.DUPLICATE_RULE)
            else:
                status = 422  # refused: rows in error; nothing was written
    elif form.is_submitted():
        status = 422
    return render_template("admin/import.html", form=form, report=report, max_shown=MAX_SHOWN,
                           rule=service.DUPLICATE_RULE), status


@bp.route("/example-mapping.toml")
def example_mapping():
    from pathlib import Path

    from flask import Response

    text = (Path(__file__).parent / "example-mapping.toml").read_text(encoding="utf-8")
    return Response(text, mimetype="text/plain", headers={
        "Content-Disposition": "attachment; filename=example-mapping.toml"})

