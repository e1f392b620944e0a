"""Spreadsheet import of survivors (CSV or XLSX), from the command line and /admin/import.

    flask --app casework import survivors FILE.csv|FILE.xlsx --mapping MAPPING.toml \
        [--dry-run] [--caseworker USERNAME]

The mapping is TOML (example: ``example-mapping.toml`` beside this file):

- ``[columns]``: column heading (row 1 of the file) = survivor field, named as in the API
  (first_name, last_name, known_as, date_of_birth, gender, citizenship, primary_language,
  intake_date, referral_source, trafficking_status, exploitation_types, phone, email,
  address, narrative, risk_level, ...). Columns not named are ignored.
- ``[values.<field>]``: spreadsheet value = HTCDS value name ("F" = "Feminine", "labour" =
  "ForcedLabour"), matched exactly, then ignoring case; unlisted values must already be value
  names. For list fields each item is mapped.
- ``[options]``: ``date_format`` (strptime, default ISO YYYY-MM-DD; Excel date cells are
  read as dates whatever it says), ``list_separator`` (default ";"), ``assign_to`` (the lead
  caseworker's username; the --caseworker flag or the page's choice overrides it), and for CSV
  ``delimiter`` (",") and ``encoding`` ("utf-8-sig").

Every row is validated by the survivor service's own rules (``survivors.service.validate``);
a dry run reports each error as row (spreadsheet numbering: headings are row 1), column and
message, and the duplicates, writing no survivor data. An import is all or nothing: any row
in error and nothing is written; otherwise each row is created through
``survivors.service.create`` in one transaction. How duplicates are recognised:
``service.DUPLICATE_RULE``. Audited: ``import.checked`` / ``import.completed`` /
``import.refused`` / ``import.failed`` (who, file, counts), and per survivor the service's
``survivor.created`` (by the lead caseworker) plus ``survivor.imported`` (by the importer).
"""
