"""Why a report cannot be published, in the reader's language (the page and the API).

``disclosure.Exposure.explain()`` stays the English of logs and of the algorithm's tests; this
says the same from the exposure's fields through gettext: table, row and column labels are
the builder's English keys (``render.label``), periods are written by Babel, and every
sentence is one msgid with placeholders.
"""

from __future__ import annotations

import re

from babel.dates import format_interval
from babel.lists import format_list
from flask_babel import format_date, get_locale, ngettext
from flask_babel import gettext as _

from . import render
from .disclosure import TOTAL, Exposure, Period, Position

WHOLE_ORGANISATION = "Whole organisation"  # the title disclosure stores for it (service.py)


def _locale() -> str:
    return str(get_locale() or "en")


def _period(period: Period | None) -> str:
    if period is None:
        return ""
    if period.first == period.last:
        return format_date(period.first, "MMMM y")
    return format_interval(period.first, period.last, "yMMMM", locale=_locale())


def _report(name: str) -> str:
    """A report as the disclosure record names it (``ProtectedReport.label``): its title (a
    programme's name, or the organisation) and its period, "Title (2026-01..2026-06)"."""
    match = re.fullmatch(r"(.*) \((\d{4}-\d{2}(?:\.\.\d{4}-\d{2})?)\)", name, flags=re.S)
    title, period = (match.group(1), Period.parse(match.group(2))) if match else (name, None)
    if title == WHOLE_ORGANISATION:
        title = _("Whole organisation")
    return f"{title} ({_period(period)})" if period is not None else title


def _figure(position: Position) -> str:
    table = render.label(position.table)
    if position.row == TOTAL and position.column == TOTAL:
        return _("the grand total of table “%(table)s”", table=table)
    if position.row == TOTAL:
        return _("the total of column “%(column)s” of table “%(table)s”",
                 column=render.label(position.column), table=table)
    if position.column == TOTAL:
        return _("the total of row “%(row)s” of table “%(table)s”",
                 row=render.label(position.row), table=table)
    return _("the figure of row “%(row)s”, column “%(column)s” of table “%(table)s”",
             row=render.label(position.row), column=render.label(position.column), table=table)


def _others(names: tuple[str, ...]) -> str:
    quoted = [f"“{_report(name)}”" for name in names]
    if len(quoted) > 6:
        rest = len(quoted) - 5
        quoted = quoted[:5] + [ngettext("%(num)d other report", "%(num)d other reports", rest)]
    return format_list(quoted, locale=_locale()) if quoted else ""


def _sentence_start(text: str) -> str:
    return text[:1].upper() + text[1:]


def explain(exposure: Exposure) -> str:
    """One sentence (two when the suppression markers were used) naming the figure and the
    reports combined, never the value."""
    if exposure.kind == "unverifiable":
        if exposure.other_reports:
            return _("The published figures of reports %(reports)s do not agree with each other "
                     "(data corrected after publication?), so differencing cannot be checked; "
                     "choose a period that does not overlap them or review by hand.",
                     reports=_others(exposure.other_reports))
        return _("The reports cannot be checked against each other: a table's period is cut by "
                 "another report's period but it has no monthly figures.")
    assert exposure.position is not None
    figure = _figure(exposure.position)
    report = _report(exposure.report_label)
    others = _others(exposure.other_reports)
    exact = exposure.high is not None and exposure.high == exposure.low
    if exposure.kind == "suppressed":
        if others and exact:
            text = _("%(figure)s of report “%(report)s” is suppressed but can be worked out "
                     "exactly by combining it with %(others)s.",
                     figure=figure, report=report, others=others)
        elif others:
            text = _("%(figure)s of report “%(report)s” is suppressed but can be narrowed down "
                     "too far by combining it with %(others)s.",
                     figure=figure, report=report, others=others)
        elif exact:
            text = _("%(figure)s of report “%(report)s” is suppressed but can be worked out "
                     "exactly from the report's own totals.", figure=figure, report=report)
        else:
            text = _("%(figure)s of report “%(report)s” is suppressed but can be narrowed down "
                     "too far from the report's own totals.", figure=figure, report=report)
    elif exposure.kind == "margin":
        if others:
            text = _("%(figure)s of report “%(report)s” is not published but can be worked out "
                     "by combining it with %(others)s, and it is below the disclosure threshold "
                     "or from too few survivors.", figure=figure, report=report, others=others)
        else:
            text = _("%(figure)s of report “%(report)s” is not published but can be worked out "
                     "from the report's own figures, and it is below the disclosure threshold "
                     "or from too few survivors.", figure=figure, report=report)
    elif exposure.kind == "segment":
        text = _("Combining reports %(others)s reveals %(figure)s for %(period)s alone, a figure "
                 "below the disclosure threshold or from too few survivors.",
                 others=others, figure=figure, period=_period(exposure.segment))
    else:
        text = _("Combining reports %(others)s reveals how many survivors were added during "
                 "%(period)s to %(figure)s, a number below the disclosure threshold.",
                 others=others, figure=figure, period=_period(exposure.segment))
    text = _sentence_start(text)
    if not exposure.by_equations:
        text += " " + _("This also uses what the suppression markers imply.")
    return text
