"""CSV cells that are safe to open in a spreadsheet program.

Every CSV Casework writes (caseload, team audit, donor report, HTCDS export) goes through
``neutralise``: a cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is run as a formula by Excel, LibreOffice and Google Sheets (OWASP "CSV injection"), so it
is written with a leading apostrophe, which those programs show as text.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell) -> str:
    """The cell as text no spreadsheet will run as a formula."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
