"""Team dashboard: /supervision/ and its charts /supervision/charts/<kind>.svg."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import event, select, update

from casework.extensions import db
from tests.conftest import login_api, login_web

DASH = "/supervision/"
API = "/api/v1/supervision/caseload"


@pytest.fixture
def team(app, make):
    return {
        "sup": make.user("supervisor", team="North"),
        "cw1": make.user("caseworker", team="North", display_name="Alba Caseworker"),
        "cw2": make.user("caseworker", team="North", display_name="Bruno Caseworker"),
        "co": make.user("counsellor", team="North", display_name="Cora Counsellor"),
        "other_cw": make.user("caseworker", team="South"),
        "other_sup": make.user("supervisor", team="South"),
    }


def _add(app, *records):
    with app.app_context():
        for record in records:
            db.session.add(record)
        db.session.commit()


def _links(html: str) -> dict[tuple[str | None, str], tuple[int, str]]:
    """(worker id or None, metric) -> (number shown, link) from the dashboard's table."""
    out = {}
    for href, number in re.findall(r'<a href="(/supervision/caseload\?[^"]*)">(\d+)</a>', html):
        href = unescape(href)
        args = dict(parse_qsl(urlsplit(href).query))
        worker = args.pop("worker", None)
        key = "&".join(sorted(f"{k}={v}" for k, v in args.items()))
        out[(worker, key)] = (int(number), href)
    return out


def _seed(app, make, team):
    from casework.counselling.models import CounsellingEngagement
    from casework.plans.models import PlanItem
    from casework.referrals.models import Partner, Referral
    from casework.survivors.models import Survivor, survivor_collaborators
    from casework.training.models import Enrolment, TrainingProgramme

    cw1, cw2, co = team["cw1"], team["cw2"], team["co"]
    today = date.today()
    s = {
        "a": make.survivor(cw1, risk_level="high", intake_date=today.replace(day=1)),
        "b": make.survivor(cw1, risk_level="low", intake_date=date(2025, 6, 1)),
        "c": make.survivor(cw2, risk_level="high", intake_date=date(2025, 7, 1)),
        "d": make.survivor(cw2, risk_level="medium", intake_date=date(2025, 8, 1)),
        "x": make.survivor(team["other_cw"], risk_level="high", intake_date=today),
    }
    partner_id, prog_id = uuid.uuid4(), uuid.uuid4()
    old = datetime.now(UTC) - timedelta(days=45)
    _add(app, Partner(id=partner_id, name="Partner Synthetic"))
    _add(app,
         PlanItem(survivor_id=s["a"], type="Financial", due_on=today - timedelta(days=2),
                  assignee_id=cw1.id),
         TrainingProgramme(id=prog_id, name="Prog", provider_partner_id=partner_id,
                           starts_on=date(2025, 1, 1), ends_on=date(2025, 3, 1), capacity=5),
         CounsellingEngagement(survivor_id=s["c"], counsellor_id=co.id,
                               started_on=date(2025, 7, 2)),
         Referral(survivor_id=s["d"], partner_id=partner_id, service="legal_aid",
                  language="en", status="issued", reference="REF-SYN-0001",
                  issued_at=datetime.now(UTC), created_by=cw2.id))
    _add(app, Enrolment(survivor_id=s["b"], programme_id=prog_id, enrolled_on=date(2025, 1, 2),
                        status="completed", completed_on=date(2025, 3, 1)))
    with app.app_context():
        db.session.execute(survivor_collaborators.insert().values(survivor_id=s["d"],
                                                                  user_id=cw1.id))
        # b and d untouched for 45 days (d's referral was issued today: it is active).
        from casework.counselling.models import CounsellingEngagement as E
        from casework.training.models import Enrolment as En

        db.session.execute(update(Survivor).where(Survivor.id.in_([s["b"], s["d"]]))
                           .values(updated_at=old))
        db.session.execute(update(En).values(updated_at=old))
        db.session.execute(update(E).values(updated_at=old))
        db.session.commit()
    return s


def test_role_gates(app, team):
    for who in ("cw1", "co"):
        web = login_web(app, team[who])
        assert web.get(DASH).status_code == 403
        assert web.get("/supervision/charts/caseload.svg").status_code == 403
        assert 'href="/supervision/"' not in web.get("/survivors/").text
    sup_page = login_web(app, team["sup"]).get(DASH)
    assert sup_page.status_code == 200
    assert 'href="/supervision/"' in sup_page.text  # the "Team" navigation item
    assert login_web(app, team["sup"]).get("/supervision/charts/other.svg").status_code == 404


def test_numbers_match_the_lists_they_link_to(app, make, team):
    s = _seed(app, make, team)
    page = login_web(app, team["sup"]).get(DASH)
    assert page.status_code == 200
    links = _links(page.text)
    api = login_api(app, team["sup"])
    # Every number equals the length of the caseload review it links to.
    assert len(links) == 7 * 4  # 3 workers + the team, 7 metrics
    for (_worker, _key), (number, href) in links.items():
        query = urlsplit(href).query
        assert len(api.get(f"{API}?{query}&limit=200").json["items"]) == number, href
        assert login_web(app, team["sup"]).get(href).status_code == 200

    cw1, cw2, co = (str(team[k].id) for k in ("cw1", "cw2", "co"))

    def n(worker, metric):
        matches = [num for (w, key), (num, _h) in links.items() if w == worker and
                   key == metric]
        assert len(matches) == 1, (worker, metric)
        return matches[0]

    month_start = date.today().replace(day=1).isoformat()
    intakes = f"intake_from={month_start}&intake_to={date.today().isoformat()}"
    # cw1 leads a, b and collaborates on d; cw2 leads c, d; the counsellor counsels c.
    assert n(cw1, "open=1") == 3 and n(cw2, "open=1") == 2 and n(co, "open=1") == 1
    assert n(None, "open=1") == 4  # the other team's survivor never counts
    assert n(cw1, "open=1&risk_level=high") == 1 and n(co, "open=1&risk_level=high") == 1
    assert n(cw1, "open=1&overdue=1") == 1 and n(cw2, "open=1&overdue=1") == 0
    assert n(cw1, "followup=1&open=1") == 1 and n(None, "followup=1&open=1") == 1
    assert n(cw1, "awaiting_partner=1&open=1") == 1
    assert n(cw2, "awaiting_partner=1&open=1") == 1
    assert n(co, "awaiting_partner=1&open=1") == 0
    assert n(None, intakes) == 1 and n(cw1, intakes) == 1
    # b: record and enrolment untouched for 45 days, nothing else → inactive. d: its
    # referral is new → active. a, c: created today.
    assert n(None, "inactive=1&open=1") == 1 and n(cw1, "inactive=1&open=1") == 1
    assert n(cw2, "inactive=1&open=1") == 0
    ids = [i["id"] for i in api.get(f"{API}?open=1&inactive=1").json["items"]]
    assert ids == [str(s["b"])]


def test_other_team_supervisor_sees_none(app, make, team):
    _seed(app, make, team)
    page = login_web(app, team["other_sup"]).get(DASH)
    assert page.status_code == 200
    links = _links(page.text)
    # South: one caseworker, one open high-risk case of this month; none of North's.
    assert all(str(team[k].id) not in page.text for k in ("cw1", "cw2", "co"))
    totals = {key: num for (w, key), (num, _h) in links.items() if w is None}
    assert totals["open=1"] == 1


def test_charts_are_svg_without_script_and_page_passes_csp(app, make, team):
    _seed(app, make, team)
    web = login_web(app, team["sup"])
    page = web.get(DASH)
    html = page.text
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # no inline script
    assert 'style="' not in html and "<style" not in html  # the page's CSP forbids them
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for kind in ("caseload", "intakes"):
        assert f'src="/supervision/charts/{kind}.svg"' in html
        chart = web.get(f"/supervision/charts/{kind}.svg")
        assert chart.status_code == 200
        assert chart.mimetype == "image/svg+xml"
        body = chart.get_data(as_text=True)
        assert body.lstrip().startswith("<svg") and "<?xml" not in body
        assert "<script" not in body.lower()
        assert "script-src" not in chart.headers["Content-Security-Policy"]
        assert "default-src 'none'" in chart.headers["Content-Security-Policy"]
    # The figures are on the page as a table too (no JavaScript, printable, accessible).
    today = date.today()
    assert today.strftime("%Y") in html
    assert html.count("<tr><th scope=\"row\">") >= 12


def test_monthly_series(app, make, team, ctx):
    from casework.auth.models import User
    from casework.supervision import service
    from casework.survivors.models import Survivor

    today = date(2026, 6, 15)
    lead = db.session.get(User, team["cw1"].id)
    for intake, closed in [(date(2025, 5, 1), None), (date(2025, 8, 3), None),
                           (date(2026, 6, 1), None),
                           (date(2025, 9, 9), datetime(2026, 2, 10, tzinfo=UTC))]:
        db.session.add(Survivor(case_number=f"CW-X-{intake.isoformat()}", status="Active"
                                if closed is None else "Closed", closed_at=closed,
                                lead_caseworker_id=lead.id, intake_date=intake))
    db.session.commit()
    sup = db.session.get(User, team["sup"].id)
    series = service.monthly_series(sup, today)
    assert [s for s, _c, _i in series][0] == date(2025, 7, 1)
    assert [s for s, _c, _i in series][-1] == date(2026, 6, 1)
    by_month = {s: (c, i) for s, c, i in series}
    assert by_month[date(2025, 7, 1)] == (1, 0)
    assert by_month[date(2025, 8, 1)] == (2, 1)
    assert by_month[date(2025, 9, 1)] == (3, 1)
    assert by_month[date(2026, 1, 1)] == (3, 0)
    assert by_month[date(2026, 2, 1)] == (2, 0)  # closed in February
    assert by_month[date(2026, 6, 1)] == (3, 1)


def _count(app, fn):
    statements = []

    def listener(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(statements)


def test_statement_count_does_not_grow_with_the_team(app, make, team):
    web = login_web(app, team["sup"])
    make.survivor(team["cw1"])
    web.get(DASH)  # warm-up
    small = _count(app, lambda: web.get(DASH))
    for _ in range(8):
        worker = make.user("caseworker", team="North")
        for _ in range(3):
            make.survivor(worker)
    page = web.get(DASH)
    assert page.text.count("(caseworker)") == 10
    assert _count(app, lambda: web.get(DASH)) == small
    chart = _count(app, lambda: web.get("/supervision/charts/intakes.svg"))
    assert chart <= small


def test_dashboard_view_is_audited_without_survivor_data(app, make, team):
    from casework.audit.models import AuditEvent

    make.survivor(team["cw1"])
    login_web(app, team["sup"]).get(DASH)
    with app.app_context():
        events = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "supervision.dashboard_viewed")))
        assert len(events) == 1 and events[0].subject_id is None


def test_dashboard_links_the_team_pages(app, team):
    html = login_web(app, team["sup"]).get(DASH).text
    assert 'href="/supervision/caseload"' in html
    for endpoint in ("approvals", "reassign", "audit"):
        if f"supervision.{endpoint}" in app.view_functions:
            assert f'href="/supervision/{endpoint}"' in html
