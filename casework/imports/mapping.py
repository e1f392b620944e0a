"""The mapping file of an import (TOML): which column is which field, how values translate.

See the package docstring (casework/imports/__init__.py) and example-mapping.toml.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l

from ..access.fields import field_specs

# Survivor fields a spreadsheet cannot set: derived or system values, and staff or programme
# ids (the caseworker is chosen for the whole import).
NOT_IMPORTABLE = frozenset({"lead_caseworker_id", "collaborator_ids", "programme_ids"})
DATE_FIELDS = frozenset({"intake_date", "date_of_birth"})
OPTION_NAMES = frozenset({"date_format", "list_separator", "assign_to", "delimiter",
                          "encoding"})


class MappingError(ValueError):
    """The mapping cannot be used; ``messages`` says why (all problems at once)."""

    def __init__(self, messages: list):
        self.messages = [str(m) for m in messages]
        super().__init__("; ".join(self.messages))


@dataclass
class Mapping:
    columns: dict[str, str]  # spreadsheet column heading -> survivor field
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> {cell: value}
    date_format: str | None = None  # strptime format; None: ISO 8601 (YYYY-MM-DD)
    list_separator: str = ";"
    assign_to: str | None = None
    delimiter: str = ","  # CSV only
    encoding: str = "utf-8-sig"  # CSV only

    def translate(self, name: str, value: str) -> str:
        """``value`` as the mapping's [values.<name>] table translates it: exactly, else
        ignoring case; values it does not list pass through unchanged."""
        table = self.values.get(name)
        if not table:
            return value
        if value in table:
            return table[value]
        folded = {k.casefold(): v for k, v in table.items()}
        return folded.get(value.casefold(), value)


def is_list_field(name: str) -> bool:
    from ..survivors.models import Survivor

    column = Survivor.__table__.columns.get(name)
    return column is not None and column.type.__class__.__name__ == "JSON"


def importable_fields() -> set[str]:
    """Survivor fields a column may be mapped to (before the caseworker's write rights)."""
    from ..survivors.models import Survivor

    return {name for name, spec in field_specs(Survivor).items()
            if not spec.read_only and name not in NOT_IMPORTABLE}


def parse(text: str | bytes) -> Mapping:
    """Read a mapping; raise MappingError naming every problem."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MappingError([_l("The mapping is not UTF-8 text.")]) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError([_l("The mapping is not valid TOML: %(error)s", error=str(exc))]) \
            from None
    errors: list = []
    unknown_tables = sorted(set(doc) - {"columns", "values", "options"})
    if unknown_tables:
        errors.append(_l("Unknown section(s) in the mapping: %(names)s.",
                         names=", ".join(unknown_tables)))
    columns = doc.get("columns")
    fields = importable_fields()
    if not isinstance(columns, dict) or not columns:
        errors.append(_l("The mapping needs a [columns] section: \"column heading\" = \"field\"."))
        columns = {}
    targets: dict[str, str] = {}
    for heading, target in columns.items():
        if not isinstance(target, str) or target not in fields:
            errors.append(_l("Column “%(column)s”: “%(field)s” is not a survivor field that "
                             "can be imported.", column=heading, field=str(target)[:60]))
        elif target in targets:
            errors.append(_l("Columns “%(first)s” and “%(second)s” both map to %(field)s.",
                             first=targets[target], second=heading, field=target))
        else:
            targets[target] = heading
    values = doc.get("values", {})
    value_maps: dict[str, dict[str, str]] = {}
    if not isinstance(values, dict):
        errors.append(_l("[values] must hold tables such as [values.gender]."))
        values = {}
    for name, table in values.items():
        if name not in targets:
            errors.append(_l("[values.%(field)s]: no column maps to %(field)s.", field=name))
            continue
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            errors.append(_l("[values.%(field)s] must map spreadsheet values to value names "
                             "(text).", field=name))
            continue
        value_maps[name] = {str(k).strip(): v.strip() for k, v in table.items()}
    options = doc.get("options", {})
    if not isinstance(options, dict):
        errors.append(_l("[options] must be a table."))
        options = {}
    for name in sorted(set(options) - OPTION_NAMES):
        errors.append(_l("Unknown option “%(name)s”.", name=name))
    for name in OPTION_NAMES & set(options):
        if not isinstance(options[name], str):
            errors.append(_l("Option %(name)s must be text.", name=name))
    if errors:
        raise MappingError(errors)
    mapping = Mapping(columns=dict(columns), values=value_maps,
                      date_format=options.get("date_format") or None,
                      list_separator=options.get("list_separator") or ";",
                      assign_to=options.get("assign_to") or None,
                      delimiter=options.get("delimiter") or ",",
                      encoding=options.get("encoding") or "utf-8-sig")
    if mapping.date_format:
        try:
            sample = date(1990, 12, 31).strftime(mapping.date_format)
            from datetime import datetime

            ok = datetime.strptime(sample, mapping.date_format).date() == date(1990, 12, 31)
        except ValueError:
            ok = False
        if not ok:
            errors.append(_l("date_format “%(format)s” cannot read dates back; use e.g. "
                             "%%d/%%m/%%Y.", format=mapping.date_format))
    if len(mapping.delimiter) != 1:
        errors.append(_l("delimiter must be one character."))
    try:
        "".encode(mapping.encoding)
    except LookupError:
        errors.append(_l("Unknown encoding “%(name)s”.", name=mapping.encoding))
    if errors:
        raise MappingError(errors)
    return mapping
