"""What donors receive of a published report: charts, the PDF and the CSV.

Everything here reads ``Report.tables`` only (the donor-facing contract: suppressed cells are
the string ``"<k"``) and never ``Report.record``, the private disclosure record.

* Charts are pygal SVG, rendered on the server and embedded inline, so they need no
  JavaScript. The page's CSP (``default-src 'self'``) refuses inline ``<style>`` and ``style``
  attributes, which pygal relies on, so pygal's stylesheet is turned into SVG presentation
  attributes (``fill="…"``), which no CSP governs; its ``<script>``, comments and ids used by
  its JavaScript are dropped. A suppressed cell is a gap, never a bar, and a note under the
  chart says which figures are left out.
* The PDF goes through the letters' engine (casework/referrals/letters/render.py): bundled
  Noto fonts only, the restricted URL fetcher, the shared FontConfiguration; its texts are in
  the donor's language (gettext under ``force_locale``) and the charts are inline SVG in it.
* The CSV is long-format, one block per table: ``table, row, column, value``; ``"<11"`` stays
  as it is and every cell is neutralised against spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from xml.etree import ElementTree

import cssselect2
import pygal
import tinycss2
from babel.dates import format_interval
from babel.numbers import format_decimal
from flask import render_template
from flask_babel import force_locale, format_date, format_number, ngettext
from flask_babel import gettext as _
from markupsafe import Markup
from pygal.style import Style

from ..spreadsheets import neutralise
from .builder import N_

TOTAL = N_("Total")  # the builder's label of a margin row and column (disclosure.TOTAL)

WEB_FONTS = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', Arial, sans-serif"
PDF_FONTS = "'CW Sans', 'CW Arabic', 'CW Thai', 'CW Myanmar', 'CW Khmer'"
# Okabe–Ito: told apart with every common colour-vision deficiency.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
           "#F0E442")
CHART_WIDTH = 760


def is_suppressed(value) -> bool:
    """A cell withheld by disclosure control: ``"<k"`` instead of a number."""
    return isinstance(value, str)


@dataclass(frozen=True)
class Grid:
    """One table of ``Report.tables`` as rows × columns (columns in first-seen order)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[int | str | None, ...]], ...]  # (label, one value a column)

    @property
    def suppressed(self) -> int:
        return sum(is_suppressed(v) for _label, values in self.rows for v in values)


def grid(table: dict) -> Grid:
    columns: dict[str, None] = {}
    for row in table.get("rows", []):
        columns.update(dict.fromkeys(row.get("values", {})))
    rows = tuple((row["label"], tuple(row.get("values", {}).get(c) for c in columns))
                 for row in table.get("rows", []))
    return Grid(table["name"], tuple(columns), rows)


def grids(report) -> list[Grid]:
    return [grid(table) for table in report.tables or []]


def period_label(report, locale: str = "en") -> str:
    """"January – June 2026" in ``locale``: reports cover whole months."""
    return format_interval(report.period_start, report.period_end, "yMMMM", locale=locale)


def label(key: str) -> str:
    """A table name or label of the builder (an English key) in the user's language; a month
    key ("2026-03") as Babel writes the month. Not Jinja's ``_()``, which treats its argument
    as a format string ("Attendance rate (%)")."""
    if re.fullmatch(r"\d{4}-\d{2}", key):
        return format_date(date(int(key[:4]), int(key[5:]), 1), "MMM y")
    for vocabulary in _coded_labels():  # genders and types of exploitation are stored as codes
        if key in vocabulary.values:
            return _(vocabulary.label(key))
    return _(key)


def _coded_labels():
    from .. import vocab

    return (vocab.htcds(vocab.GENDER), vocab.htcds(vocab.EXPLOITATION_TYPES))



def programme_label(report) -> str:
    return report.programme.name if report.programme is not None else _("Whole organisation")


# --- charts --------------------------------------------------------------------------------------


def charts(report, *, font_family: str = WEB_FONTS) -> list[tuple[str, Markup]]:
    """One chart per table that has something to compare, as ``(table name, inline <svg>)``.

    Margins ("Total" row and column) are left out when there are other rows or columns; a
    table of a single figure gets no chart. Suppressed cells are gaps, listed in a note.
    """
    made = []
    for table in grids(report):
        svg = _chart(table, report.threshold, font_family)
        if svg is not None:
            made.append((table.name, svg))
    return made


def _chart(table: Grid, threshold: int, font_family: str) -> Markup | None:
    # Rates ("… (%)") are not counts: they stay in the table, out of the chart.
    columns = [i for i, c in enumerate(table.columns) if not _is_rate(c)]
    columns = [i for i in columns if table.columns[i] != TOTAL] or columns
    rows = [r for r in table.rows if not _is_rate(r[0])]
    rows = [r for r in rows if r[0] != TOTAL] or rows
    if len(columns) * len(rows) < 2:
        return None
    style = Style(background="white", plot_background="white", foreground="#212529",
                  foreground_strong="#212529", foreground_subtle="#495057",
                  colors=COLOURS, font_family=font_family, label_font_size=13,
                  major_label_font_size=13, legend_font_size=13, title_font_size=16,
                  value_font_size=12, no_data_font_size=16, guide_stroke_color="#adb5bd",
                  major_guide_stroke_color="#495057", guide_stroke_dasharray="3,3")
    bar_room = min(max(24, 9 * len(columns)), 72)  # per row: its bars side by side
    legend_columns = min(len(columns), 3)
    legend_rows = -(-len(columns) // legend_columns) if len(columns) > 1 else 0
    config = pygal.Config(
        disable_xml_declaration=True, js=[], style=style, width=CHART_WIDTH,
        height=100 + bar_room * len(rows) + 22 * legend_rows, explicit_size=False,
        show_legend=len(columns) > 1, legend_at_bottom=True,
        legend_at_bottom_columns=legend_columns, print_values=False, truncate_legend=None,
        truncate_label=30, include_x_axis=True, min_scale=3, max_scale=8,
        no_data_text=_("No figure to draw: every figure is withheld."),
        value_formatter=lambda v: format_number(round(v)))
    chart = pygal.HorizontalBar(config)
    chart.title = label(table.name)
    # pygal draws the first label at the bottom: reverse so the chart reads like the table.
    chart.x_labels = [label(row) for row, _values in reversed(rows)]
    for i in columns:
        chart.add(label(table.columns[i]), [None if is_suppressed(values[i]) else values[i]
                                            for _label, values in reversed(rows)])
    gaps = [label(row) if len(columns) == 1 else f"{label(row)} – {label(table.columns[i])}"
            for row, values in rows for i in columns if is_suppressed(values[i])]
    tree = chart.render_tree()
    _make_self_contained(tree, [label(table.columns[i]) for i in columns])
    if gaps:
        _add_note(tree, _gap_note(gaps, threshold), font_family)
    tree.set("role", "img")
    tree.set("aria-label", _("Chart: %(name)s. The figures are in the table.",
                             name=label(table.name)))
    # Drawn at most at its own size, shrunk to fit narrow screens (Bootstrap's .img-fluid).
    _x, _y, width, height = tree.get("viewBox").split()
    tree.set("width", width)
    tree.set("height", height)
    tree.set("class", "report-chart img-fluid")
    return Markup(ElementTree.tostring(tree, encoding="unicode"))


def _is_rate(label: str) -> bool:
    return label.rstrip().endswith("(%)")


def _gap_note(gaps: list[str], threshold: int) -> str:
    if len(gaps) > 6:  # a long list says less than the table does
        return _("Gaps: %(num)d figures shown as “<%(k)s” in the table are not drawn.",
                 num=len(gaps), k=threshold)
    # The singular names %(num)d too: languages with one plural form, or whose first form
    # also serves 21, 31, … (Ukrainian), translate it with the number (Babel checks form 0
    # against the singular).
    return ngettext("Gap: %(num)d figure shown as “<%(k)s” in the table is not drawn "
                    "(%(cells)s).",
                    "Gaps: %(num)d figures shown as “<%(k)s” in the table are not drawn "
                    "(%(cells)s).", len(gaps), k=threshold, cells="; ".join(gaps))


# SVG presentation attributes: CSS properties an SVG element may carry as attributes.
PRESENTATION_ATTRIBUTES = frozenset({
    "fill", "fill-opacity", "stroke", "stroke-width", "stroke-opacity", "stroke-dasharray",
    "stroke-linecap", "stroke-linejoin", "opacity", "font-family", "font-size", "font-weight",
    "text-anchor", "display", "visibility", "dominant-baseline", "text-decoration",
})


def _local(tag) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _make_self_contained(root: ElementTree.Element, series_names: list[str]) -> None:
    """Move pygal's stylesheet into presentation attributes; drop its <style>, <script>,
    comments, JavaScript-only parts and element ids (several charts share one page)."""
    # The stylesheet names the chart by its random id: name it "chart" in both, so that
    # charts of one style share one parsed stylesheet (parsing is most of the work).
    css = "".join(el.text or "" for el in root.iter() if _local(el.tag) == "style")
    css = css.replace(f"#{root.get('id')}", "#chart")
    root.set("id", "chart")
    _inline_css(root, _matcher(css))
    # pygal's JavaScript tooltips read a bar's <desc> elements; a <title> shows the same
    # on hover without it. The axes' <title>s (label positions) mean nothing to a reader.
    for series in root.iter():
        classes = (series.get("class") or "").split()
        number = next((int(c[6:]) for c in classes if re.fullmatch(r"serie-\d+", c)), None)
        if "series" not in classes or number is None:
            continue
        for bar in series.iter():
            desc = {d.get("class"): d.text for d in bar if _local(d.tag) == "desc"}
            if "bar" in (bar.get("class") or "").split() and desc.get("value") is not None:
                title = ElementTree.Element("title")
                name = series_names[number] if len(series_names) > 1 else ""
                title.text = f"{desc.get('x_label')}{' – ' + name if name else ''}: {desc['value']}"
                bar.insert(0, title)
    for parent in list(root.iter()):
        for child in list(parent):
            if _local(child.tag) == "desc" or (
                    _local(child.tag) == "title" and "guides" in (parent.get("class") or "")):
                parent.remove(child)
    for parent in list(root.iter()):
        for child in list(parent):
            tag = child.tag if isinstance(child.tag, str) else "comment"
            classes = (child.get("class") or "").split()
            if (_local(tag) in ("style", "script", "comment", "defs")
                    or "tooltip-overlay" in classes or "overlay" in classes):
                parent.remove(child)
    for element in root.iter():
        for name in ("id", "style"):
            element.attrib.pop(name, None)
        for name in list(element.attrib):
            if name.startswith("{") or name.startswith("xmlns:"):
                element.attrib.pop(name, None)


@lru_cache(maxsize=8)
def _matcher(css: str) -> cssselect2.Matcher:
    """The rules of ``css`` that set presentation attributes, ready to match elements."""
    matcher = cssselect2.Matcher()
    for rule in tinycss2.parse_stylesheet(css, skip_whitespace=True, skip_comments=True):
        if rule.type != "qualified-rule":
            continue
        declarations = [
            (d.lower_name, tinycss2.serialize(d.value).strip(), d.important)
            for d in tinycss2.parse_declaration_list(rule.content, skip_whitespace=True,
                                                     skip_comments=True)
            if d.type == "declaration" and d.lower_name in PRESENTATION_ATTRIBUTES]
        if not declarations:
            continue
        try:
            selectors = cssselect2.compile_selector_list(rule.prelude)
        except cssselect2.SelectorError:
            continue
        for selector in selectors:  # :hover and the like never match (cssselect2)
            if selector.pseudo_element is None and not selector.never_matches:
                matcher.add_selector(selector, declarations)
    return matcher


def _inline_css(root: ElementTree.Element, matcher: cssselect2.Matcher) -> None:
    """Apply the stylesheet to the tree as presentation attributes, by the cascade's order
    (specificity, then source order; !important last)."""
    for wrapper in cssselect2.ElementWrapper.from_xml_root(root).iter_subtree():
        matches = sorted(matcher.match(wrapper), key=lambda m: (m[0], m[1]))
        values: dict[str, str] = {}
        for important in (False, True):
            for _specificity, _order, _pseudo, declarations in matches:
                for name, value, is_important in declarations:
                    if is_important == important:
                        values[name] = value
        for name, value in values.items():
            wrapper.etree_element.set(name, value)


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def _add_note(root: ElementTree.Element, note: str, font_family: str) -> None:
    """Write ``note`` under the chart, growing its viewBox."""
    x, y, width, height = (float(v) for v in root.get("viewBox").split())
    lines = _wrap(note, 95)
    group = ElementTree.SubElement(root, "g", {"class": "gap-note"})
    for i, line in enumerate(lines):
        text = ElementTree.SubElement(group, "text", {
            "x": "10", "y": f"{height + 14 + 18 * i:.0f}", "font-size": "13",
            "font-family": font_family, "fill": "#212529"})
        text.text = line
    root.set("viewBox", f"{x:g} {y:g} {width:g} {height + 10 + 18 * len(lines):g}")


# --- PDF -----------------------------------------------------------------------------------------


def report_pdf(report, locale: str) -> bytes:
    """The report as a PDF in ``locale`` (texts through gettext, dates by Babel): its tables,
    "<k" cells explained, and the charts as vector graphics. Bundled fonts only."""
    from ..referrals.letters.catalogue import direction
    from ..referrals.letters.render import html_to_pdf
    from ..referrals.service import organisation_name

    language = (locale or "en").replace("-", "_")
    with force_locale(language):
        html = render_template(
            "reports/report_pdf.html", report=report, tables=grids(report),
            charts=dict(charts(report, font_family=PDF_FONTS)),
            period=period_label(report, language), programme=programme_label(report),
            organisation=organisation_name(), lang=language.replace("_", "-"),
            dir=direction(language.split("_")[0]), is_suppressed=is_suppressed,
            number=lambda value: format_decimal(value, locale=language))
    return html_to_pdf(html)


# --- CSV -----------------------------------------------------------------------------------------

def report_csv(report) -> str:
    """Long format, one block per table (blank line between blocks), with a header row:
    ``table, row, column, value``. Names and labels are the builder's English keys."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["table", "row", "column", "value"])
    for n, table in enumerate(grids(report)):
        if n:
            writer.writerow([])
        writer.writerows(_csv_rows(table))
    return out.getvalue()


def _csv_rows(table: Grid) -> Iterable[list[str]]:
    for label, values in table.rows:
        for column, value in zip(table.columns, values, strict=True):
            if value is not None:
                yield [neutralise(table.name), neutralise(label), neutralise(column),
                       neutralise(value)]
