"""Checking and importing a spreadsheet of survivors; shared by the CLI and the admin page.

1. The file is read (reader.py) and each row turned into the API's field values through the
   mapping (mapping.py): columns to fields, spreadsheet values to HTCDS value names, dates by
   ``date_format``, lists split on ``list_separator``.
2. Every row is validated by the survivor service's own ``validate`` (the rules of the API);
   errors are collected per row and column, never stopping at the first.
3. Rows without errors are matched against the survivors on record and against the earlier
   rows of the file through the blind indexes (casework/survivors/search.py); see
   ``DUPLICATE_RULE``. A duplicate is reported and not created.
4. A dry run stops there and writes no survivor data. An import with any row in error writes
   nothing. Otherwise every other row is created through ``survivors.service.create`` as the
   chosen caseworker (lead), in the caller's one transaction: case numbers, encryption at
   rest, search keys and the ``survivor.created`` events happen as for a registration. If any
   creation fails, ``ImportFailed`` is raised and the caller rolls the whole import back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, tuple_

from .. import access, audit
from ..auth.models import User
from ..extensions import db
from ..spreadsheets import FORMULA_STARTS
from ..survivors import search
from ..survivors import service as survivors
from ..survivors.models import Survivor
from . import reader
from .mapping import DATE_FIELDS, Mapping, is_list_field

DUPLICATE_RULE = _l(
    "A row is a duplicate when a survivor on record (or an earlier row of the file) has every "
    "part of the row's first and last name (at least two parts), compared after removing "
    "accents, case and punctuation, and also the same date of birth, phone number or email "
    "address. Sounding alike is not enough: people with similar names are imported.")
STRONG_KINDS = ("dob", "phone", "email")
QUERY_CHUNK = 400


class ImportRefused(ValueError):
    """The import cannot start (file, mapping or caseworker); ``messages`` says why."""

    def __init__(self, messages: list):
        self.messages = [str(m) for m in messages]
        super().__init__("; ".join(self.messages))


class ImportFailed(RuntimeError):
    """Creating the survivor of spreadsheet row ``row`` failed; roll the import back."""

    def __init__(self, row: int, error: Exception):
        self.row = row
        self.error = error
        super().__init__(f"row {row}: {error}")


@dataclass
class RowError:
    row: int
    column: str  # the column heading ("" when it concerns no mapped column)
    message: str


@dataclass
class Duplicate:
    row: int
    survivor_id: object = None  # matches this survivor on record
    case_number: str | None = None  # its case number, when the reader may read it
    of_row: int | None = None  # or this earlier row of the file

    def describe(self) -> str:
        if self.case_number:
            return str(_l("row %(row)d matches case %(case)s", row=self.row,
                          case=self.case_number))
        if self.survivor_id is not None:
            return str(_l("row %(row)d matches a survivor already on record", row=self.row))
        return str(_l("row %(row)d repeats row %(other)d of this file", row=self.row,
                      other=self.of_row))


@dataclass
class Report:
    filename: str
    caseworker: str
    dry_run: bool
    fields: list[str] = field(default_factory=list)
    rows: int = 0  # data rows read (blank rows excluded)
    blank_rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # case numbers, in row order
    to_create: int = 0

    @property
    def error_rows(self) -> list[int]:
        return sorted({e.row for e in self.errors})

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (f"{self.filename}: {self.rows} rows, {len(self.error_rows)} with errors, "
                f"{len(self.duplicates)} duplicates, {len(self.created)} created")[:500]


@dataclass
class _Row:
    number: int
    data: dict  # field -> value as the API takes it
    clean: dict | None = None


# --- caseworker and mapping ----------------------------------------------------------------------


def find_caseworker(username: str | None) -> User:
    if not username:
        raise ImportRefused([_l("Name the caseworker who will lead the imported cases.")])
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None or not user.active or user.role != "caseworker":
        raise ImportRefused([_l("“%(name)s” is not an active caseworker.", name=username[:64])])
    return user


def active_caseworkers() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role == "caseworker", User.active.is_(True))
        .order_by(User.username)))


def _check_columns(mapping: Mapping, sheet: reader.Sheet, caseworker: User) -> dict[str, int]:
    """Position of each mapped column; refuse fields the caseworker may not write."""
    errors: list = []
    writable = access.writable_fields(caseworker, Survivor)
    for heading, name in mapping.columns.items():
        if name not in writable:
            errors.append(_l("Column “%(column)s”: a caseworker may not set %(field)s.",
                             column=heading, field=name))
    index: dict[str, int] = {}
    for heading in mapping.columns:
        positions = [i for i, h in enumerate(sheet.headings) if h == heading]
        if not positions:
            errors.append(_l("The file has no column “%(column)s” (the mapping names it).",
                             column=heading))
        elif len(positions) > 1:
            errors.append(_l("The file has %(n)d columns headed “%(column)s”.",
                             n=len(positions), column=heading))
        else:
            index[heading] = positions[0]
    if errors:
        raise ImportRefused(errors)
    return index


# --- cells to values -----------------------------------------------------------------------------


def _text(cell) -> str | None:
    if cell is None:
        return None
    if isinstance(cell, bool):
        text = "true" if cell else "false"
    elif isinstance(cell, float) and cell.is_integer():
        text = str(int(cell))
    elif isinstance(cell, datetime):
        text = cell.date().isoformat() if cell.time() == datetime.min.time() \
            else cell.isoformat()
    elif isinstance(cell, date):
        text = cell.isoformat()
    else:
        text = str(cell)
    text = text.strip()
    # A cell a Casework export neutralised ('=…, '+44…) reads back as it was.
    if text.startswith("'") and text[1:2] and text[1:].startswith(FORMULA_STARTS):
        text = text[1:]
    return text or None


def _date(mapping: Mapping, cell):
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = _text(cell)
    if text is None or not mapping.date_format:
        return text  # ISO 8601, checked by the survivor service
    try:
        return datetime.strptime(text, mapping.date_format).date()
    except ValueError:
        try:
            return date.fromisoformat(text)
        except ValueError:
            example = date(1990, 12, 31).strftime(mapping.date_format)
            raise ValueError(_l("Enter a date like %(example)s.", example=example)) from None


def _value(mapping: Mapping, name: str, cell):
    if name in DATE_FIELDS:
        return _date(mapping, cell)
    text = _text(cell)
    if text is None:
        return None
    if is_list_field(name):
        items = [mapping.translate(name, item.strip())
                 for item in text.split(mapping.list_separator)]
        return [item for item in items if item] or None
    return mapping.translate(name, text)


def _convert(mapping: Mapping, index: dict[str, int], number: int, cells: list,
             errors: list[RowError]) -> dict:
    data: dict = {}
    for heading, name in mapping.columns.items():
        position = index[heading]
        cell = cells[position] if position < len(cells) else None
        try:
            value = _value(mapping, name, cell)
        except ValueError as exc:
            errors.append(RowError(number, heading, str(exc.args[0])))
            continue
        if value is None and name != "intake_date":  # the intake date is required
            continue
        data[name] = value
    return data


def _blank(cells: list) -> bool:
    return all(_text(cell) is None for cell in cells)


# --- duplicates ----------------------------------------------------------------------------------


def _identity(clean: dict) -> tuple[frozenset, frozenset, frozenset, int]:
    """(digests of the row's first and last name parts, its strong keys (kind, digest), the
    name digests the index will hold for it (with "known as"), how many name parts it has
    counting repeats ("John John" has two))."""
    parts = sum(1 for name in (clean.get("first_name"), clean.get("last_name"))
                for token in search.normalise(name).split() if len(token) >= 2)
    own = frozenset(d for kind, d in search.keys_for(
        {"first_name": clean.get("first_name"), "last_name": clean.get("last_name")})
        if kind == "name")
    keys = search.keys_for(clean)
    strong = frozenset((kind, d) for kind, d in keys if kind in STRONG_KINDS)
    names = frozenset(d for kind, d in keys if kind == "name")
    return own, strong, names, parts


def _chunks(items: list, size: int = QUERY_CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _on_record(strong_keys: set) -> tuple[dict, dict]:
    """Survivors on record sharing any of ``strong_keys``: key -> survivor ids, and the name
    digests of each of those survivors. Blind-index lookups only; nothing is decrypted."""
    from ..survivors.search import SurvivorSearchKey as Key

    by_key: dict[tuple[str, bytes], set] = {}
    for chunk in _chunks(sorted(strong_keys)):
        for sid, kind, d in db.session.execute(
                select(Key.survivor_id, Key.kind, Key.digest)
                .where(tuple_(Key.kind, Key.digest).in_(chunk))):
            by_key.setdefault((kind, bytes(d)), set()).add(sid)
    ids = sorted({sid for sids in by_key.values() for sid in sids})
    names: dict = {}
    for chunk in _chunks(ids):
        for sid, d in db.session.execute(
                select(Key.survivor_id, Key.digest)
                .where(Key.kind == "name", Key.survivor_id.in_(chunk))):
            names.setdefault(sid, set()).add(bytes(d))
    return by_key, names


def _find_duplicates(rows: list[_Row]) -> list[Duplicate]:
    identities = {row.number: _identity(row.clean) for row in rows}
    by_key, names = _on_record({k for _o, strong, _n, _p in identities.values() for k in strong})
    found: list[tuple[_Row, object]] = []
    seen: dict[tuple[str, bytes], list[tuple[int, frozenset]]] = {}
    for row in rows:
        own, strong, all_names, parts = identities[row.number]
        match = None
        if own and parts >= 2:
            candidates = sorted({sid for key in strong for sid in by_key.get(key, ())}, key=str)
            match = next((sid for sid in candidates if own <= names.get(sid, set())), None)
            if match is None:
                earlier = sorted({(n, ns) for key in strong for n, ns in seen.get(key, ())},
                                 key=lambda item: item[0])
                match = next((("row", n) for n, ns in earlier if own <= ns), None)
        if match is not None:
            found.append((row, match))
            continue
        for key in strong:
            seen.setdefault(key, []).append((row.number, all_names))
    return [Duplicate(row.number, of_row=m[1]) if isinstance(m, tuple)
            else Duplicate(row.number, survivor_id=m)
            for row, m in found]


def _name_cases(actor, duplicates: list[Duplicate]) -> None:
    """Give each duplicate on record its case number where the access policy lets ``actor``
    read it (on the command line, None: the operator of the server, who holds the keys)."""
    by_id: dict = {}
    for duplicate in duplicates:
        if duplicate.survivor_id is not None:
            by_id.setdefault(duplicate.survivor_id, []).append(duplicate)
    for chunk in _chunks(list(by_id)):
        for survivor in db.session.scalars(select(Survivor).where(Survivor.id.in_(chunk))):
            if actor is None or "case_number" in access.readable_fields(actor, survivor):
                for duplicate in by_id[survivor.id]:
                    duplicate.case_number = survivor.case_number


# --- the import ----------------------------------------------------------------------------------


def check(sheet: reader.Sheet, mapping: Mapping, caseworker: User, report: Report) -> list[_Row]:
    """Validate every row into ``report``; return the rows to create (no errors, no
    duplicates)."""
    index = _check_columns(mapping, sheet, caseworker)
    report.ignored_columns = [h for h in sheet.headings if h and h not in mapping.columns]
    report.fields = sorted(mapping.columns.values())
    heading_of = {name: heading for heading, name in mapping.columns.items()}
    good: list[_Row] = []
    today = date.today()
    for number, cells in sheet.rows:
        if _blank(cells):
            report.blank_rows += 1
            continue
        report.rows += 1
        row_errors: list[RowError] = []
        data = _convert(mapping, index, number, cells, row_errors)
        try:
            # The survivor service's own rules, exactly as create() applies them.
            clean = survivors.validate({"intake_date": today, **data}, today=today)
            survivors._check_status_change(None, clean)
        except survivors.ValidationFailed as exc:
            for name, messages in exc.errors.items():
                for message in messages:
                    row_errors.append(RowError(number, heading_of.get(name, name), message))
            clean = None
        if row_errors:
            report.errors.extend(row_errors)
            continue
        good.append(_Row(number, data, clean))
    report.errors.sort(key=lambda e: e.row)
    # Duplicates among the valid rows, reported by a dry run even when other rows are wrong.
    report.duplicates = _find_duplicates(good)
    duplicate_rows = {d.row for d in report.duplicates}
    to_create = [row for row in good if row.number not in duplicate_rows]
    report.to_create = len(to_create)
    return to_create if report.ok else []


def _actor_name(actor) -> str | None:
    return None if actor is not None else "cli"


def run(actor, filename: str, data: bytes, mapping: Mapping, *,
        caseworker_username: str | None = None, dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
        on_start: Callable[[int], None] | None = None) -> Report:
    """Check, and unless ``dry_run`` import, a spreadsheet. ``actor`` is the admin on the
    page, None on the command line. Writes in the caller's transaction and never commits:
    the caller commits a successful import and rolls back on ``ImportFailed``."""
    if actor is not None:
        access.require(actor, "survivor.import")
    caseworker = find_caseworker(caseworker_username or mapping.assign_to)
    try:
        sheet = reader.read(filename, data, delimiter=mapping.delimiter,
                            encoding=mapping.encoding)
    except reader.FileRefused as exc:
        raise ImportRefused([exc.args[0]]) from None
    report = Report(filename=filename, caseworker=caseworker.username, dry_run=dry_run)
    rows = check(sheet, mapping, caseworker, report)
    _name_cases(actor, report.duplicates)
    if dry_run:
        audit.record(actor, "import.checked", fields=report.fields, reason=report.summary(),
                     actor_username=_actor_name(actor))
        return report
    if not report.ok:
        # Nothing was written; the event outlives the refused request (a 422 rolls back).
        audit.record_denial(actor, "import.refused", fields=report.fields,
                            reason=report.summary(), actor_username=_actor_name(actor))
        return report
    if on_start is not None:
        on_start(len(rows))
    # create() flushes each survivor itself; without autoflush its first query does not
    # flush the previous row's events separately (one flush per row instead of two).
    with db.session.no_autoflush:
        for row in rows:
            try:
                survivor = survivors.create(caseworker, row.data)
            except Exception as exc:
                raise ImportFailed(row.number, exc) from exc
            report.created.append(survivor.case_number)
            # The service records the creation as the lead's registration; this names who
            # actually brought the record in, on the survivor's own access log.
            audit.record(actor, "survivor.imported", survivor, fields=sorted(row.data),
                         reason=filename[:200], actor_username=_actor_name(actor))
            if progress is not None:
                progress(1)
    audit.record(actor, "import.completed", fields=report.fields, reason=report.summary(),
                 actor_username=_actor_name(actor))
    return report


def record_failure(actor, filename: str, error: ImportFailed) -> None:
    """After the rollback of a failed import: say so in the audit log."""
    audit.record_denial(actor, "import.failed", reason=f"{filename}: row {error.row}"[:500],
                        actor_username=_actor_name(actor))
