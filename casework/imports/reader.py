"""Rows of a CSV or XLSX file, numbered as a spreadsheet numbers them (the heading is row 1)."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

MAX_ROWS = 100_000
# An .xlsx is a zip archive: refuse one that would inflate beyond this (a "zip bomb").
MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024
FORMATS = ("csv", "xlsx")


class FileRefused(ValueError):
    """The file cannot be read as a spreadsheet; the message says why."""


@dataclass
class Sheet:
    headings: list[str]
    rows: list[tuple[int, list]]  # (spreadsheet row number, cells in heading order)


def file_format(filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in FORMATS:
        raise FileRefused(_l("Give a .csv or .xlsx file."))
    return suffix


def read(filename: str, data: bytes, *, delimiter: str = ",",
         encoding: str = "utf-8-sig") -> Sheet:
    if file_format(filename) == "xlsx":
        return _read_xlsx(data)
    return _read_csv(data, delimiter, encoding)


def _headings(cells: list) -> list[str]:
    headings = ["" if cell is None else str(cell).strip() for cell in cells]
    while headings and not headings[-1]:
        headings.pop()
    if not headings:
        raise FileRefused(_l("The first row must hold the column headings."))
    return headings


def _read_csv(data: bytes, delimiter: str, encoding: str) -> Sheet:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise FileRefused(_l("The file is not %(encoding)s text; save it as CSV UTF-8.",
                             encoding=encoding)) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list]] = []
    try:
        first = next(reader, None)
        if first is None:
            raise FileRefused(_l("The file is empty."))
        headings = _headings(first)
        for number, cells in enumerate(reader, start=2):
            if number > MAX_ROWS + 1:
                raise FileRefused(_l("The file has more than %(n)d rows; split it.", n=MAX_ROWS))
            rows.append((number, cells))
    except csv.Error as exc:
        raise FileRefused(_l("The CSV cannot be read near row %(row)d: %(error)s",
                             row=reader.line_num, error=str(exc))) from None
    return Sheet(headings, rows)


def _read_xlsx(data: bytes) -> Sheet:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_XLSX_UNCOMPRESSED:
                raise FileRefused(_l("The workbook is too large once unpacked."))
    except zipfile.BadZipFile:
        raise FileRefused(_l("The file is not an Excel workbook (.xlsx).")) from None
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a damaged workbook
        raise FileRefused(_l("The workbook cannot be read; save it again as .xlsx.")) from None
    try:
        sheet = workbook.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        first = next(values, None)
        if first is None:
            raise FileRefused(_l("The file is empty."))
        headings = _headings(list(first))
        rows: list[tuple[int, list]] = []
        for number, cells in enumerate(values, start=2):
            if number > MAX_ROWS + 1:
                raise FileRefused(_l("The file has more than %(n)d rows; split it.", n=MAX_ROWS))
            rows.append((number, list(cells)))
    finally:
        workbook.close()
    return Sheet(headings, rows)
