"""What donors receive of impact reports: the list, the page with its charts, the PDF and
the CSV; and the supervisor's draft → preview → publish pages."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.programmes.models import Programme
from casework.reports import render
from casework.reports.models import Report
from casework.spreadsheets import neutralise
from casework.web import DONOR_ENDPOINTS
from tests.conftest import login_web

K = 11
TABLES = [
    {"name": "Survivors served by age band and gender", "rows": [
        {"label": "18-24", "values": {"Female": 14, "Male": "<11", "Total": 20}},
        {"label": "25-34", "values": {"Female": 22, "Male": 12, "Total": 34}},
        {"label": "35-49", "values": {"Female": "<11", "Male": "<11", "Total": "<11"}},
        {"label": "Total", "values": {"Female": 40, "Male": 25, "Total": 65}},
    ]},
    {"name": "Services by kind", "rows": [
        {"label": "Shelter", "values": {"Records": 31, "Survivors": 19}},
        {"label": "Legal aid", "values": {"Records": "<11", "Survivors": "<11"}},
        {"label": "Counselling", "values": {"Records": 0, "Survivors": 0}},
    ]},
    {"name": "Counselling sessions", "rows": [
        {"label": "Sessions held", "values": {"Sessions": 120}},
        {"label": "Sessions attended", "values": {"Sessions": 96}},
        {"label": "Attendance rate (%)", "values": {"Sessions": 80}},
    ]},
]


def _programme(app, name, donors=()) -> uuid.UUID:
    from casework.auth.models import User

    with app.app_context():
        programme = Programme(id=uuid.uuid4(), name=name, starts_on=date(2025, 1, 1))
        programme.donors = [db.session.get(User, d.id) for d in donors]
        db.session.add(programme)
        db.session.commit()
        return programme.id


def _report(app, author, programme_id, *, published=True, tables=None,
            start=date(2026, 1, 1), end=date(2026, 6, 30)) -> uuid.UUID:
    """A report row as the service would store it (the lead's service is tested elsewhere)."""
    with app.app_context():
        report = Report(
            id=uuid.uuid4(), programme_id=programme_id, period_start=start, period_end=end,
            threshold=K, status="published" if published else "draft",
            tables=tables if tables is not None else TABLES,
            record={"private": "never shown"}, excluded_survivors=2, created_by=author.id,
            published_by=author.id if published else None,
            published_at=datetime(2026, 7, 3, 9, 0, tzinfo=UTC) if published else None)
        db.session.add(report)
        db.session.commit()
        return report.id


@pytest.fixture
def people(app, make):
    supervisor = make.user("supervisor")
    donor, other_donor = make.user("donor"), make.user("donor")
    funded = _programme(app, "Safe Futures (demo)", [donor])
    other = _programme(app, "Bright Paths (demo)", [other_donor])
    return {"supervisor": supervisor, "donor": donor, "other_donor": other_donor,
            "funded": funded, "other": other}


def _events(app, action, report_id):
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.subject_id == report_id)))


# --- donor pages ---------------------------------------------------------------------------------


def test_donor_home_is_their_list_of_published_reports(app, people):
    published = _report(app, people["supervisor"], people["funded"])
    draft = _report(app, people["supervisor"], people["funded"], published=False,
                    start=date(2026, 7, 1), end=date(2026, 9, 30))
    elsewhere = _report(app, people["supervisor"], people["other"])
    web = login_web(app, people["donor"])
    home = web.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/reports")
    page = web.get("/reports")
    assert page.status_code == 200
    assert f"/reports/{published}" in page.text
    assert "Safe Futures (demo)" in page.text and "January\u2009–\u2009June 2026" in page.text
    assert f"/reports/{published}.pdf" in page.text and f"/reports/{published}.csv" in page.text
    assert str(draft) not in page.text and str(elsewhere) not in page.text
    assert "Bright Paths" not in page.text
    # Their navigation offers their reports (and their own account pages), nothing else.
    nav = page.text.split('id="main-nav"', 1)[1].split("</nav>", 1)[0]
    links = re.findall(r'href="([^"]+)"', nav)
    assert "/reports" in links and 'action="/logout"' in nav
    adapter = app.url_map.bind("localhost")
    assert all(adapter.match(link)[0] in DONOR_ENDPOINTS for link in links), links
    for staff_page in ("/survivors/", "/me/alerts", "/referrals", "/shelters/", "/partners/"):
        assert f'href="{staff_page}"' not in page.text


def test_report_page_shows_tables_suppression_and_inline_charts(app, people):
    report_id = _report(app, people["supervisor"], people["funded"])
    response = login_web(app, people["donor"]).get(f"/reports/{report_id}")
    assert response.status_code == 200
    page = response.text
    for table in TABLES:
        assert table["name"] in page
    # Suppressed cells read "<11" (escaped in HTML) and point at the explanation.
    assert page.count("&lt;11</bdi>") == 6
    assert 'id="suppression-note"' in page and "from 1 to 10" in page
    assert "never shown" not in page  # the private disclosure record
    assert "/publish" not in page  # donors do not publish
    assert f'href="/reports/{report_id}.pdf"' in page
    assert f'href="/reports/{report_id}.csv"' in page
    # Charts are inline SVG that the page's CSP allows: no script, no <style>, no style="".
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(svgs) == 3
    for svg in svgs:
        assert 'class="report-chart img-fluid"' in svg and 'role="img"' in svg
        assert "<script" not in svg and "<style" not in svg and " style=" not in svg
        assert not re.search(r"\son\w+=", svg) and "javascript:" not in svg
        assert "xlink:href" not in svg and " href=" not in svg
        assert " id=" not in svg  # several charts share the page
    assert "Gaps: 3 figures" in svgs[0] and "Gaps: 2 figures" in svgs[1]
    assert "Gap" not in svgs[2]
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp


def test_report_page_is_audited_as_viewed(app, people):
    report_id = _report(app, people["supervisor"], people["funded"])
    login_web(app, people["donor"]).get(f"/reports/{report_id}")
    assert [e.actor_id for e in _events(app, "report.viewed", report_id)] == [
        people["donor"].id]


def test_pdf_has_the_tables_in_text_and_embeds_its_fonts(app, people):
    report_id = _report(app, people["supervisor"], people["funded"])
    response = login_web(app, people["donor"]).get(f"/reports/{report_id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "impact-report-2026-01-to-2026-06.pdf" in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.data))
    text = " ".join(page.extract_text() for page in reader.pages)
    for table in TABLES:
        assert table["name"] in text
    assert "Safe Futures (demo)" in text and "<11" in text
    assert "Gaps: 3 figures" in text  # the charts' notes: the charts are in it as SVG
    assert "never shown" not in text
    fonts = _fonts(reader)
    assert fonts and all(embedded for embedded in fonts.values()), fonts
    assert any("CW-Sans" in name for name in fonts), fonts  # Noto, bundled


def _fonts(reader: PdfReader) -> dict[str, bool]:
    """Base font name → whether its program is embedded, for every font used."""
    found = {}

    def visit(resources):
        resources = resources.get_object() if resources is not None else {}
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            for part in ([d.get_object() for d in descendants] if descendants else [font]):
                descriptor = part.get("/FontDescriptor")
                descriptor = descriptor.get_object() if descriptor is not None else {}
                found[str(part.get("/BaseFont"))] = any(
                    key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
        for xobject in (resources.get("/XObject") or {}).values():
            xobject = xobject.get_object()
            if xobject.get("/Resources") is not None:
                visit(xobject["/Resources"])

    for page in reader.pages:
        visit(page.get("/Resources"))
    return found


def test_pdf_is_in_the_donors_language(app, make, people):
    from casework.auth.models import User

    donor = make.user("donor")
    with app.app_context():
        db.session.get(User, donor.id).locale = "ar"
        db.session.commit()
    programme = _programme(app, "Arabic donor's programme (demo)", [donor])
    report_id = _report(app, people["supervisor"], programme)
    response = login_web(app, donor).get(f"/reports/{report_id}.pdf")
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.data))
    assert any("CW-Arabic" in name for name in _fonts(reader))
    assert all(_fonts(reader).values())


def test_csv_keeps_suppressed_cells_and_neutralises_formulas(app, people):
    tables = [{"name": "=Survivors", "rows": [
        {"label": "+1", "values": {"-col": "<11", "@col": 12}},
        {"label": "\tTab", "values": {"-col": 0, "@col": "<11"}},
        {"label": "\rReturn", "values": {"-col": 15}},
        {"label": "Plain, with comma", "values": {"-col": 13}},
    ]}, {"name": "Second table", "rows": [{"label": "Total", "values": {"Total": 40}}]}]
    report_id = _report(app, people["supervisor"], people["funded"], tables=tables)
    response = login_web(app, people["donor"]).get(f"/reports/{report_id}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "impact-report-2026-01-to-2026-06.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["table", "row", "column", "value"]
    assert rows[1:] == [
        ["'=Survivors", "'+1", "'-col", "<11"],
        ["'=Survivors", "'+1", "'@col", "12"],
        ["'=Survivors", "'\tTab", "'-col", "0"],
        ["'=Survivors", "'\tTab", "'@col", "<11"],
        ["'=Survivors", "'\rReturn", "'-col", "15"],
        ["'=Survivors", "Plain, with comma", "'-col", "13"],
        [],  # one block per table
        ["Second table", "Total", "Total", "40"],
    ]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_downloads_are_audited(app, people):
    report_id = _report(app, people["supervisor"], people["funded"])
    web = login_web(app, people["donor"])
    assert web.get(f"/reports/{report_id}.csv").status_code == 200
    assert web.get(f"/reports/{report_id}.pdf").status_code == 200
    events = _events(app, "report.downloaded", report_id)
    assert len(events) == 2
    assert {(e.actor_id, e.subject_type, e.channel) for e in events} == {
        (people["donor"].id, "report", "web")}


def test_another_programmes_donor_gets_404_everywhere(app, people):
    report_id = _report(app, people["supervisor"], people["funded"])
    web = login_web(app, people["other_donor"])
    for suffix in ("", ".pdf", ".csv"):
        assert web.get(f"/reports/{report_id}{suffix}").status_code == 404
    assert str(report_id) not in web.get("/reports").text
    assert _events(app, "report.downloaded", report_id) == []


def test_drafts_are_invisible_to_donors(app, people):
    draft = _report(app, people["supervisor"], people["funded"], published=False)
    web = login_web(app, people["donor"])
    for suffix in ("", ".pdf", ".csv"):
        assert web.get(f"/reports/{draft}{suffix}").status_code == 404
    assert str(draft) not in web.get("/reports").text
    assert "No report has been published to you yet." in web.get("/reports").text


def test_whole_organisation_reports_are_not_shown_to_donors(app, people):
    report_id = _report(app, people["supervisor"], None)
    web = login_web(app, people["donor"])
    assert web.get(f"/reports/{report_id}").status_code == 404
    assert str(report_id) not in web.get("/reports").text


def test_staff_other_than_supervisors_have_no_reports(app, make):
    for role in ("caseworker", "counsellor", "admin"):
        web = login_web(app, make.user(role))
        assert web.get("/reports").status_code == 403
        assert 'href="/reports"' not in web.get("/", follow_redirects=True).text


# --- supervisors ---------------------------------------------------------------------------------


def test_supervisor_lists_drafts_and_published_reports(app, people):
    published = _report(app, people["supervisor"], people["funded"])
    draft = _report(app, people["supervisor"], None, published=False)
    web = login_web(app, people["supervisor"])
    page = web.get("/reports")
    assert page.status_code == 200
    assert f"/reports/{published}" in page.text and f"/reports/{draft}" in page.text
    assert "Whole organisation" in page.text and "Draft" in page.text
    assert 'href="/reports/new"' in page.text
    assert 'href="/reports"' in web.get("/survivors/").text  # in their navigation


def test_supervisor_drafts_previews_and_publishes(app, people):
    web = login_web(app, people["supervisor"])
    form = web.get("/reports/new")
    assert form.status_code == 200
    assert 'type="month"' in form.text and "Whole organisation" in form.text
    assert "Safe Futures (demo)" in form.text
    created = web.post_form("/reports/new", {"programme": str(people["funded"]),
                                             "first_month": "2026-01",
                                             "last_month": "2026-03"})
    assert created.status_code == 302, created.text[:2000]
    report_id = created.headers["Location"].rsplit("/", 1)[1]
    with app.app_context():
        report = db.session.get(Report, uuid.UUID(report_id))
        assert (report.status, report.period_start, report.period_end) == (
            "draft", date(2026, 1, 1), date(2026, 3, 31))
    preview = web.get(f"/reports/{report_id}")
    assert "Draft — not yet visible to donors" in preview.text
    assert f'action="/reports/{report_id}/publish"' in preview.text
    donor = login_web(app, people["donor"])
    assert donor.get(f"/reports/{report_id}").status_code == 404
    published = web.post_form(f"/reports/{report_id}/publish", {}, page=f"/reports/{report_id}")
    assert published.status_code == 302
    assert donor.get(f"/reports/{report_id}").status_code == 200
    assert "Draft —" not in web.get(f"/reports/{report_id}").text


def test_new_report_form_shows_the_services_errors(app, people):
    web = login_web(app, people["supervisor"])
    backwards = web.post_form("/reports/new", {"programme": "", "first_month": "2026-05",
                                               "last_month": "2026-02"})
    assert backwards.status_code == 422
    assert "The period ends before it starts." in backwards.text
    missing = web.post_form("/reports/new", {"programme": "", "first_month": "",
                                             "last_month": "2026-02"})
    assert missing.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(Report)).all() == []


def test_refused_publication_shows_the_explanations(app, people, monkeypatch):
    from casework.reports import service

    def refuse(user, report):
        raise service.NotPublishable(["Shelter nights, July: could be worked out from "
                                      "the January–June report."])

    monkeypatch.setattr(service, "publish", refuse)
    draft = _report(app, people["supervisor"], people["funded"], published=False)
    web = login_web(app, people["supervisor"])
    refused = web.post_form(f"/reports/{draft}/publish", {}, page=f"/reports/{draft}")
    assert refused.status_code == 409
    assert "This report cannot be published" in refused.text
    assert "could be worked out from the January–June report" in refused.text
    with app.app_context():
        assert db.session.get(Report, draft).status == "draft"


def test_publish_needs_the_csrf_token(app, people):
    draft = _report(app, people["supervisor"], people["funded"], published=False)
    web = login_web(app, people["supervisor"])
    assert web.client.post(f"/reports/{draft}/publish").status_code == 400
    with app.app_context():
        assert db.session.get(Report, draft).status == "draft"


def test_donors_cannot_draft_or_publish(app, people):
    draft = _report(app, people["supervisor"], people["funded"], published=False)
    web = login_web(app, people["donor"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/reports").text)[1]
    assert web.get("/reports/new").status_code == 404
    assert web.client.post("/reports/new", data={"csrf_token": token, "first_month": "2026-01",
                                                 "last_month": "2026-02"}).status_code == 404
    for action in ("publish", "delete"):
        assert web.client.post(f"/reports/{draft}/{action}",
                               data={"csrf_token": token}).status_code == 404
    with app.app_context():
        assert db.session.get(Report, draft).status == "draft"


# --- the renderers alone -------------------------------------------------------------------------


def _fake(tables):
    class Fake:
        threshold = K
        programme = None
        period_start, period_end = date(2026, 1, 1), date(2026, 6, 30)
        published_at = None

    fake = Fake()
    fake.tables = tables
    return fake


def test_charts_leave_out_totals_rates_and_single_figures(app):
    with app.test_request_context("/"):
        made = dict(render.charts(_fake(TABLES + [
            {"name": "One figure", "rows": [{"label": "Total", "values": {"Total": 7}}]},
            {"name": "All withheld", "rows": [{"label": "A", "values": {"N": "<11"}},
                                              {"label": "B", "values": {"N": "<11"}}]}])))
    assert "One figure" not in made
    by_age = made["Survivors served by age band and gender"]
    assert ">Total<" not in by_age  # margins would dwarf the cells
    assert "Attendance rate" not in made["Counselling sessions"]
    assert "every figure is withheld" in made["All withheld"]
    assert "Gaps: 2 figures" in made["All withheld"]


@pytest.mark.parametrize(("cell", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("<11", "<11"), (12, "12"), (0, "0"), ("a=b", "a=b"),
])
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


def test_supervisor_deletes_a_draft_but_not_a_published_report(app, people):
    draft = _report(app, people["supervisor"], people["funded"], published=False)
    published = _report(app, people["supervisor"], people["funded"])
    web = login_web(app, people["supervisor"])
    assert 'href="/reports/new"' in web.get("/reports").text
    deleted = web.post_form(f"/reports/{draft}/delete", {}, page=f"/reports/{draft}")
    assert deleted.status_code == 302 and deleted.headers["Location"].endswith("/reports")
    kept = web.post_form(f"/reports/{published}/delete", {}, page="/reports/new")
    assert kept.status_code == 302
    with app.app_context():
        assert db.session.get(Report, draft) is None
        assert db.session.get(Report, published) is not None
