"""Team audit: /supervision/audit, its CSV export, GET /api/v1/audit and /api/v1/audit/verify."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from sqlalchemy import select, text

from casework.audit.models import AuditEvent
from casework.extensions import db
from casework.supervision.team_audit import neutralise
from casework.survivors.models import Survivor
from tests.conftest import login_api, login_web
from tests.test_audit import tampering


def all_events(app) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def case_number(app, sid) -> str:
    with app.app_context():
        return db.session.get(Survivor, sid).case_number


@pytest.fixture
def teams(app, make):
    """Two teams, each a supervisor, a caseworker and one case, and some use of each."""
    north = {"sup": make.user("supervisor", team="North"), "cw": make.user("caseworker",
                                                                            team="North")}
    south = {"sup": make.user("supervisor", team="South"), "cw": make.user("caseworker",
                                                                            team="South")}
    north["sid"] = make.survivor(north["cw"])
    north["sid2"] = make.survivor(north["cw"])
    south["sid"] = make.survivor(south["cw"])
    for team in (north, south):
        client = login_api(app, team["cw"])
        assert client.get(f"/api/v1/survivors/{team['sid']}").status_code == 200
        team["cw_api"] = client
    assert north["cw_api"].get(f"/api/v1/survivors/{north['sid2']}").status_code == 200
    north["api"] = login_api(app, north["sup"])
    south["api"] = login_api(app, south["sup"])
    return north, south


def api_ids(client, query="") -> list[int]:
    response = client.get(f"/api/v1/audit?limit=200{query}")
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


def test_supervisor_sees_exactly_the_teams_events(app, teams):
    north, south = teams
    expected = {
        e.id for e in all_events(app)
        if e.team_id == north["sup"].team_id or e.actor_id in (north["sup"].id, north["cw"].id)
    }
    got = set(api_ids(north["api"]))
    # The listing itself is recorded after the query ran.
    assert got == expected
    by_id = {e.id: e for e in all_events(app)}
    assert any(by_id[i].action == "auth.login" and by_id[i].team_id is None for i in got)
    # South's supervisor sees none of North's events.
    for event_id in api_ids(south["api"]):
        event = by_id[event_id]
        assert event.subject_id not in (north["sid"], north["sid2"])
        assert event.actor_id not in (north["sup"].id, north["cw"].id)
        assert event.team_id != north["sup"].team_id
    page = login_web(app, south["sup"]).get("/supervision/audit")
    assert page.status_code == 200
    assert case_number(app, north["sid"]) not in page.text
    assert north["cw"].username not in page.text
    csv_text = login_web(app, south["sup"]).get("/supervision/audit.csv").text
    assert north["cw"].username not in csv_text and str(north["sid"]) not in csv_text


def test_item_fields_and_envelope(app, teams):
    north, _ = teams
    body = north["api"].get("/api/v1/audit?limit=5").json
    assert set(body) == {"items", "next_cursor"}
    item = body["items"][0]
    assert set(item) == {"id", "occurred_at", "actor_id", "actor_username", "action",
                         "subject_type", "subject_id", "team_id", "fields", "reason", "channel"}
    assert item["occurred_at"].endswith("Z")


def test_filters_api(app, teams):
    north, _ = teams
    client = north["api"]
    events = {e.id: e for e in all_events(app)}
    by_actor = api_ids(client, f"&actor_id={north['cw'].id}")
    assert by_actor and all(events[i].actor_id == north["cw"].id for i in by_actor)
    by_subject = api_ids(client, f"&subject_id={north['sid2']}")
    assert by_subject and all(events[i].subject_id == north["sid2"] for i in by_subject)
    by_case = api_ids(client, f"&case_number={case_number(app, north['sid2'])}")
    assert by_case == by_subject
    viewed = api_ids(client, "&action=survivor.viewed")
    assert len(viewed) == 2 and all(events[i].action == "survivor.viewed" for i in viewed)
    assert api_ids(client, "&action=survivor.viewed&since=2999-01-01") == []
    assert api_ids(client, "&action=survivor.viewed&until=2000-01-01") == []
    assert api_ids(client, "&action=survivor.viewed&since=2000-01-01T00:00:00Z") == viewed
    assert api_ids(client, f"&subject_id={uuid.uuid4()}") == []


def test_filters_page(app, teams):
    north, _ = teams
    web = login_web(app, north["sup"])
    number = case_number(app, north["sid2"])
    page = web.get(f"/supervision/audit?case_number={number}&action=survivor.viewed")
    assert page.status_code == 200
    assert page.text.count('data-action="survivor.viewed"') == 1
    assert "Opened the record" in page.text  # readable label
    page = web.get(f"/supervision/audit?actor_id={north['cw'].id}&since=2000-01-01"
                   "&until=2999-12-31")
    assert page.status_code == 200 and 'data-action="survivor.viewed"' in page.text
    assert 'data-action="survivor.viewed"' not in web.get(
        "/supervision/audit?until=2000-01-01").text


@pytest.mark.parametrize("query", [
    "since=yesterday", "until=2026-13-01", "since=0001-01-01", "actor_id=not-a-uuid",
    "action=%3Cscript%3E", "case_number=" + "x" * 10_000, "action=a%00b", "since=%ED%A0%80",
    "subject_id=12",
])
def test_bad_filters_never_500(app, teams, query):
    north, _ = teams
    response = north["api"].get(f"/api/v1/audit?{query}")
    assert response.status_code in (400, 422), (query, response.status_code)
    assert response.headers["Content-Type"].startswith("application/problem+json")
    page = login_web(app, north["sup"]).get(f"/supervision/audit?{query}")
    assert page.status_code in (400, 422), (query, page.status_code)
    assert login_web(app, north["sup"]).get(f"/supervision/audit.csv?{query}"
                                            ).status_code in (400, 422)


def test_keyset_pagination(app, teams):
    north, _ = teams
    client = north["api"]
    full = api_ids(client, f"&actor_id={north['cw'].id}")
    assert len(full) >= 4
    seen, cursor = [], None
    while True:
        url = f"/api/v1/audit?limit=2&actor_id={north['cw'].id}"
        body = client.get(url + (f"&cursor={cursor}" if cursor else "")).json
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == full == sorted(full, reverse=True)
    for bad in ("garbage", "W10", "WyJhdWRpdCIsICIxIl0"):
        response = client.get(f"/api/v1/audit?cursor={bad}")
        assert response.status_code == 400
    assert client.get("/api/v1/audit?limit=0").status_code == 422
    assert client.get("/api/v1/audit?limit=201").status_code == 422


def test_page_paginates(app, make):
    sup = make.user("supervisor", team="North")
    cw = make.user("caseworker", team="North")
    sid = make.survivor(cw)
    client = login_api(app, cw)
    for _ in range(55):
        client.get(f"/api/v1/survivors/{sid}")
    web = login_web(app, sup)
    first = web.get("/supervision/audit?action=survivor.viewed")
    assert first.text.count('data-action="survivor.viewed"') == 50
    assert 'rel="next"' in first.text
    import re

    href = re.search(r'rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    assert "action=survivor.viewed" in href
    second = web.get(href)
    assert second.text.count('data-action="survivor.viewed"') == 5
    assert 'rel="next"' not in second.text
    assert web.get("/supervision/audit?cursor=nonsense").status_code == 400


@pytest.mark.parametrize("role", ["caseworker", "counsellor", "admin", "donor"])
def test_other_roles_are_refused(app, make, role):
    user = make.user(role, team="North")
    web = login_web(app, user)
    refused = 404 if role == "donor" else 403  # donors reach their reports only
    assert web.get("/supervision/audit").status_code == refused
    assert web.get("/supervision/audit.csv").status_code == refused
    client = login_api(app, user)
    assert client.get("/api/v1/audit").status_code == refused
    verify = client.get("/api/v1/audit/verify")
    assert verify.status_code == (200 if role == "admin" else refused)
    denied = [e.action for e in all_events(app) if e.actor_id == user.id]
    assert ("donor.denied" if role == "donor" else "team_audit.read.denied") in denied


def test_supervisor_without_team_is_refused(app, make):
    sup = make.user("supervisor", team=None)
    assert login_web(app, sup).get("/supervision/audit").status_code == 403
    assert login_api(app, sup).get("/api/v1/audit").status_code == 403


def test_anonymous_is_sent_to_login(app):
    client = app.test_client()
    assert client.get("/supervision/audit").status_code == 302
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit/verify").status_code == 401


def test_viewing_is_audited(app, teams):
    north, _ = teams
    north["api"].get(f"/api/v1/audit?action=survivor.viewed&actor_id={north['cw'].id}")
    last = all_events(app)[-1]
    assert last.action == "audit.viewed" and last.actor_id == north["sup"].id
    assert last.fields == ["action", "actor_id"]


def test_break_glass_highlighted_with_reason(app, teams):
    north, _ = teams
    response = north["api"].post(f"/api/v1/survivors/{north['sid']}/break-glass",
                                 json={"reason": "Police asked to confirm identity today"})
    assert response.status_code == 200
    page = login_web(app, north["sup"]).get("/supervision/audit")
    assert 'data-action="survivor.break_glass" class="table-warning break-glass"' in page.text
    assert "Police asked to confirm identity today" in page.text
    assert "Break-glass" in page.text
    # Only break-glass rows are highlighted.
    assert page.text.count("table-warning break-glass") == 1


def test_csv_export_neutralises_formulas_and_is_audited(app, teams):
    north, _ = teams
    reason = '=HYPERLINK("http://example.invalid","x")'
    north["api"].post(f"/api/v1/survivors/{north['sid']}/break-glass", json={"reason": reason})
    assert north["api"].post(f"/api/v1/survivors/{north['sid2']}/break-glass",
                             json={"reason": "@SUM(1+1) for the court"}).status_code == 200
    web = login_web(app, north["sup"])
    response = web.get("/supervision/audit.csv?action=survivor.break_glass&since=2000-01-01")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 2
    reasons = {row["reason"] for row in rows}
    assert reasons == {"'" + reason, "'@SUM(1+1) for the court"}
    assert all(row["break_glass"] == "yes" for row in rows)
    assert {row["case_number"] for row in rows} == {case_number(app, north["sid"]),
                                                    case_number(app, north["sid2"])}
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@"))
    last = all_events(app)[-1]
    assert last.action == "audit.exported" and last.actor_id == north["sup"].id
    assert last.fields == ["action", "since"]
    assert "action=survivor.break_glass" in last.reason and "2 events" in last.reason
    # The export shows up in the team audit itself.
    assert "audit.exported" in [e["action"] for e in north["api"].get(
        "/api/v1/audit?action=audit.exported").json["items"]]


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("plain", "plain"), (None, ""), (12, "12"),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_verify_result_shown_and_tampering_detected(app, teams):
    north, _ = teams
    web = login_web(app, north["sup"])
    page = web.get("/supervision/audit")
    assert 'data-ok="true"' in page.text and "Audit chain intact" in page.text
    body = north["api"].get("/api/v1/audit/verify").json
    assert body["ok"] is True and body["first_bad_id"] is None
    assert body["checked"] == len(all_events(app))
    with tampering(app) as conn:
        conn.execute(text("UPDATE audit_events SET reason = 'made up' WHERE id = 3"))
    body = north["api"].get("/api/v1/audit/verify").json
    assert body == {"ok": False, "checked": 2, "first_bad_id": 3}
    page = web.get("/supervision/audit")
    assert page.status_code == 200
    assert 'data-ok="false"' in page.text and 'data-first-bad-id="3"' in page.text
    assert "BROKEN at event 3" in page.text


def test_openapi_documents_the_audit_paths(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    assert "/api/v1/audit" in spec["paths"] and "/api/v1/audit/verify" in spec["paths"]


def _page_statements(app, web, url) -> int:
    from tests.test_alerts import statements

    with statements(app) as seen:
        assert web.get(url).status_code == 200
    return len(seen)


def test_page_and_export_do_not_grow_with_the_number_of_events(app, make):
    sup = make.user("supervisor", team="North")
    cw = make.user("caseworker", team="North")
    sids = [make.survivor(cw) for _ in range(50)]
    client = login_api(app, cw)
    client.get(f"/api/v1/survivors/{sids[0]}")
    web = login_web(app, sup)
    few = {url: _page_statements(app, web, url)
           for url in ("/supervision/audit?action=survivor.viewed",
                       "/supervision/audit.csv?action=survivor.viewed")}
    for sid in sids[1:]:
        client.get(f"/api/v1/survivors/{sid}")
    for url, count in few.items():
        assert _page_statements(app, web, url) == count, url
