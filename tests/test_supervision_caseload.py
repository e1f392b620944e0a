"""Caseload review: /supervision/caseload and GET /api/v1/supervision/caseload."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from casework.extensions import db
from tests.conftest import login_api, login_web

API = "/api/v1/supervision/caseload"
PAGE = "/supervision/caseload"


@pytest.fixture
def team(app, make):
    sup = make.user("supervisor", team="North")
    cw1 = make.user("caseworker", team="North")
    cw2 = make.user("caseworker", team="North")
    co = make.user("counsellor", team="North")
    other_cw = make.user("caseworker", team="South")
    other_sup = make.user("supervisor", team="South")
    return {"sup": sup, "cw1": cw1, "cw2": cw2, "co": co, "other_cw": other_cw,
            "other_sup": other_sup}


def _ids(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return [item["id"] for item in response.json["items"]]


def _add(app, *records):
    with app.app_context():
        for record in records:
            db.session.add(record)
        db.session.commit()


def test_role_gates(app, team, make):
    sid = make.survivor(team["cw1"])
    for role in ("cw1", "co"):
        assert login_web(app, team[role]).get(PAGE).status_code == 403
        assert login_api(app, team[role]).get(API).status_code == 403
    admin = make.user("admin")
    assert login_web(app, admin).get(PAGE).status_code == 403
    assert login_api(app, admin).get(API).status_code == 403
    # The supervisor of another team sees none of these survivors, and 404 on their pages.
    other = login_api(app, team["other_sup"])
    assert _ids(other.get(API)) == []
    assert login_web(app, team["other_sup"]).get(f"/survivors/{sid}").status_code == 404
    assert str(sid) in _ids(login_api(app, team["sup"]).get(API))


def test_filters(app, team, make):
    from casework.counselling.models import CounsellingEngagement
    from casework.legal.models import LegalMatter
    from casework.plans.models import PlanItem
    from casework.referrals.models import Partner
    from casework.shelters.models import Bed, Placement, Shelter
    from casework.training.models import Enrolment, TrainingProgramme

    cw1, cw2 = team["cw1"], team["cw2"]
    a = make.survivor(cw1, risk_level="high", intake_date=date(2026, 1, 10))
    b = make.survivor(cw1, risk_level="low", intake_date=date(2026, 2, 10), status="FollowUp")
    c = make.survivor(cw2, risk_level="medium", intake_date=date(2026, 3, 10))
    d = make.survivor(cw2, risk_level="high", intake_date=date(2026, 4, 10))
    make.survivor(team["other_cw"], risk_level="high", intake_date=date(2026, 4, 10))
    today = date.today()
    partner_id, shelter_id, bed_id, prog_id = (uuid.uuid4() for _ in range(4))
    _add(app,
         PlanItem(survivor_id=a, type="Financial", due_on=today - timedelta(days=3),
                  assignee_id=cw1.id),
         PlanItem(survivor_id=b, type="Financial", due_on=today - timedelta(days=3),
                  done_on=today, assignee_id=cw1.id),
         PlanItem(survivor_id=c, type="Financial", due_on=today + timedelta(days=3),
                  assignee_id=cw2.id),
         Partner(id=partner_id, name="Partner Synthetic"),
         Shelter(id=shelter_id, name="Shelter Synthetic"))
    _add(app, Bed(id=bed_id, shelter_id=shelter_id, label="B1"),
         TrainingProgramme(id=prog_id, name="Prog", provider_partner_id=partner_id,
                           starts_on=date(2026, 1, 1), ends_on=date(2026, 6, 1), capacity=5))
    _add(app,
         Placement(survivor_id=a, shelter_id=shelter_id, bed_id=bed_id,
                   admitted_on=date(2026, 1, 11)),
         Placement(survivor_id=b, shelter_id=shelter_id, bed_id=bed_id,
                   admitted_on=date(2026, 1, 1), discharged_on=date(2026, 1, 5),
                   status="closed"),
         CounsellingEngagement(survivor_id=b, counsellor_id=team["co"].id,
                               started_on=date(2026, 2, 11)),
         Enrolment(survivor_id=c, programme_id=prog_id, enrolled_on=date(2026, 3, 11)),
         LegalMatter(survivor_id=d, kind="other", opened_on=date(2026, 4, 11)),
         LegalMatter(survivor_id=c, kind="other", status="closed", opened_on=date(2026, 4, 11)))

    client = login_api(app, team["sup"])
    web = login_web(app, team["sup"])

    def check(query, expected):
        assert set(_ids(client.get(f"{API}?{query}"))) == {str(x) for x in expected}, query
        page = web.get(f"{PAGE}?{query}")
        assert page.status_code == 200
        with app.app_context():
            from casework.survivors.models import Survivor

            numbers = {s.id: s.case_number for s in db.session.scalars(select(Survivor))}
        for sid in (a, b, c, d):
            assert (numbers[sid] in page.text) == (sid in expected), (query, sid)

    check("", [a, b, c, d])
    check(f"worker={cw1.id}", [a, b])
    check("status=FollowUp", [b])
    check("risk_level=high", [a, d])
    check("overdue=1", [a])
    check("service=shelter", [a])
    check("service=counselling", [b])
    check("service=training", [c])
    check("service=legal", [d])
    check("intake_from=2026-02-01&intake_to=2026-03-31", [b, c])
    check(f"worker={cw2.id}&risk_level=high", [d])


def test_sorting_and_pagination(app, team, make):
    cw1 = team["cw1"]
    made = [make.survivor(cw1, intake_date=date(2026, 1, 1) + timedelta(days=i % 4),
                          risk_level=("low", "medium", "high", None)[i % 4])
            for i in range(7)]
    client = login_api(app, team["sup"])
    with app.app_context():
        from casework.survivors.models import Survivor

        rows = {s.id: s for s in db.session.scalars(select(Survivor))}
    rank = {"low": 1, "medium": 2, "high": 3, None: 0}
    keys = {
        "intake_date": lambda s: s.intake_date.isoformat(),
        "case_number": lambda s: s.case_number,
        "risk_level": lambda s: rank[s.risk_level],
    }
    for sort, key in keys.items():
        for direction in ("asc", "desc"):
            expected = sorted(made, key=lambda sid: (key(rows[sid]), sid),
                              reverse=direction == "desc")
            seen, cursor = [], None
            for _ in range(10):
                url = f"{API}?sort={sort}&direction={direction}&limit=3"
                response = client.get(url + (f"&cursor={cursor}" if cursor else ""))
                seen += _ids(response)
                cursor = response.json["next_cursor"]
                if not cursor:
                    break
            assert seen == [str(x) for x in expected], (sort, direction)
    # A cursor of one sort is refused for another; garbage cursors are 400.
    first = client.get(f"{API}?sort=case_number&limit=2").json["next_cursor"]
    assert client.get(f"{API}?sort=intake_date&cursor={first}").status_code == 400
    assert client.get(f"{API}?cursor=%00garbage").status_code in (400, 422)
    web = login_web(app, team["sup"])
    page = web.get(f"{PAGE}?sort=case_number&direction=asc")
    assert page.status_code == 200
    assert web.get(f"{PAGE}?cursor=nonsense").status_code == 400
    # 50 a page on the page; the next-page link keeps the filters.
    assert "cursor=" not in page.text


def test_page_size_fifty_and_next_link(app, team, make, ctx):
    from casework.survivors.models import Survivor

    lead = db.session.get(type(team["cw1"]), team["cw1"].id)
    for i in range(51):
        db.session.add(Survivor(case_number=f"CW-2026-9{i:05d}", status="Active",
                                lead_caseworker_id=lead.id, intake_date=date(2026, 1, 1),
                                risk_level="low"))
    db.session.commit()
    web = login_web(app, team["sup"])
    page = web.get(f"{PAGE}?risk_level=low&sort=case_number&direction=asc")
    assert page.text.count("CW-2026-9") == 50
    assert "risk_level=low" in page.text and "cursor=" in page.text
    api = login_api(app, team["sup"])
    assert len(_ids(api.get(API))) == 50


@pytest.mark.parametrize("query", [
    "worker=nope", "status=Bogus", "risk_level=extreme", "overdue=maybe", "service=spa",
    "intake_from=2026-13-01", "intake_to=0001-01-01", "intake_from=2026-03-01&intake_to=2026-01-01",
    "sort=first_name", "direction=sideways", "status=%00", "status=" + "x" * 10000,
    "risk_level=%ED%A0%80", "limit=0", "limit=abc",
])
def test_bad_input_never_500(app, team, query):
    api = login_api(app, team["sup"])
    response = api.get(f"{API}?{query}")
    assert 400 <= response.status_code < 500, (query, response.status_code)
    page = login_web(app, team["sup"]).get(f"{PAGE}?{query}")
    assert 400 <= page.status_code < 500 or page.status_code == 200, (query, page.status_code)
    assert page.status_code != 500


def test_forbidden_filter_field(app, team, monkeypatch):
    from casework.access import policy

    # Were risk (sensitive) not readable by supervisors, filtering or sorting on it is 403.
    patched = dict(policy.POLICY)
    patched[("supervisor", "team")] = {"operational": policy.RW, "demographic": policy.R}
    monkeypatch.setattr(policy, "POLICY", patched)
    api = login_api(app, team["sup"])
    response = api.get(f"{API}?risk_level=high")
    assert response.status_code == 403
    assert "risk_level" in response.json.get("fields", [])
    assert api.get(f"{API}?sort=risk_level").status_code == 403
    assert api.get(API).status_code == 200


def test_no_identifying_values_unless_break_glass(app, team, make):
    a = make.survivor(team["cw1"], first_name="Zephyrine", last_name="Quillfeather",
                      intake_date=date(2026, 1, 2))
    make.survivor(team["cw1"], first_name="Xanthippe", last_name="Moonwhistle",
                  intake_date=date(2026, 1, 3))
    web = login_web(app, team["sup"])
    api = login_api(app, team["sup"])
    page = web.get(PAGE).text
    for value in ("Zephyrine", "Quillfeather", "Xanthippe", "Moonwhistle", "1995-05-04"):
        assert value not in page
        assert value not in api.get(API).get_data(as_text=True)
    assert all("first_name" not in item for item in api.get(API).json["items"])
    # Break glass on one case: its identifying fields show, the other's never.
    response = api.post(f"/api/v1/survivors/{a}/break-glass",
                        json={"reason": "Safety check requested by the police liaison."})
    assert response.status_code in (200, 201), response.json
    items = {item["id"]: item for item in api.get(API).json["items"]}
    assert items[str(a)]["first_name"] == "Zephyrine"
    assert all("first_name" not in item for sid, item in items.items() if sid != str(a))
    # The grant belongs to the token it was opened with: the web session shows no name...
    page = web.get(PAGE).text
    assert "Zephyrine" not in page and "Xanthippe" not in page
    # ... until the glass is broken there too, again for that case only.
    response = web.post_form(f"/survivors/{a}/break-glass",
                             {"reason": "Safety check requested by the police liaison."},
                             page=f"/survivors/{a}")
    assert response.status_code == 302
    page = web.get(PAGE).text
    assert "Zephyrine" in page and "Xanthippe" not in page


def test_listing_is_audited(app, team, make):
    from casework.audit.models import AuditEvent

    sid = make.survivor(team["cw1"])
    login_api(app, team["sup"]).get(API)
    with app.app_context():
        event_ = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "survivor.listed", AuditEvent.subject_id == sid,
            AuditEvent.actor_id == team["sup"].id)).first()
        assert event_ is not None
        assert "first_name" not in event_.fields and "risk_level" in event_.fields


def _count_statements(app, fn):
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


def test_statement_count_does_not_grow(app, team, make, ctx):
    from casework.counselling.models import CounsellingEngagement
    from casework.survivors.models import Survivor, survivor_collaborators

    api = login_api(app, team["sup"])
    web = login_web(app, team["sup"])
    lead = db.session.get(type(team["cw1"]), team["cw1"].id)

    def seed(n, prefix):
        for i in range(n):
            s = Survivor(case_number=f"CW-2026-{prefix}{i:04d}", status="Active",
                         lead_caseworker_id=lead.id, intake_date=date(2026, 1, 1),
                         risk_level="high")
            db.session.add(s)
            db.session.flush()
            db.session.execute(survivor_collaborators.insert().values(
                survivor_id=s.id, user_id=team["cw2"].id))
            db.session.add(CounsellingEngagement(survivor_id=s.id, counsellor_id=team["co"].id,
                                                 started_on=date(2026, 1, 2)))
        db.session.commit()

    query = "?service=counselling&risk_level=high&overdue=0"
    seed(1, "1")
    api.get(API + query), web.get(PAGE + query)  # warm up (first request of a session)
    one_api = _count_statements(app, lambda: _ids(api.get(API + query)))
    one_page = _count_statements(app, lambda: web.get(PAGE + query))
    seed(49, "5")
    assert len(_ids(api.get(API + query))) == 50
    assert _count_statements(app, lambda: api.get(API + query)) == one_api
    assert _count_statements(app, lambda: web.get(PAGE + query)) == one_page


def test_worker_lead_and_open_filters(app, team, make):
    from casework.counselling.models import CounsellingEngagement
    from casework.survivors.models import Survivor, survivor_collaborators

    a = make.survivor(team["cw1"])
    b = make.survivor(team["cw2"])
    c = make.survivor(team["cw2"])
    closed = make.survivor(team["cw1"])
    with app.app_context():
        db.session.execute(survivor_collaborators.insert().values(survivor_id=b,
                                                                  user_id=team["cw1"].id))
        db.session.add(CounsellingEngagement(survivor_id=c, counsellor_id=team["co"].id,
                                             started_on=date(2026, 1, 20)))
        db.session.get(Survivor, closed).status = "Closed"
        db.session.commit()
    api = login_api(app, team["sup"])

    def ids(query):
        return set(_ids(api.get(f"{API}?{query}")))

    cw1, co = team["cw1"].id, team["co"].id
    assert ids(f"worker={cw1}") == {str(a), str(b), str(closed)}  # lead or collaborator
    assert ids(f"lead_caseworker_id={cw1}") == {str(a), str(closed)}
    assert ids(f"worker={co}") == {str(c)}  # counsellor of an open engagement
    assert ids(f"worker={cw1}&open=1") == {str(a), str(b)}
    assert ids("open=1") == {str(a), str(b), str(c)}
    assert ids(f"worker={team['other_cw'].id}") == set()
    # followup / awaiting_partner / inactive: see test_supervision_dashboard (same clauses).
    page = login_web(app, team["sup"]).get(f"/supervision/caseload?worker={co}&open=1")
    assert page.status_code == 200
    assert 'name="open" value="1" checked' in page.text  # the form keeps the filters
    assert f'<option value="{co}" selected>' in page.text
