"""A donor sees aggregates only. Seeded with a canary survivor (values found nowhere else), a
donor's session crawls every link it can reach and tries every page and every API route:
no survivor-level data ever comes back, and everything outside the donor's allowlist answers
404 (casework/web.py DONOR_ENDPOINTS, DONOR_API_PATHS)."""

from __future__ import annotations

import io
import re
import uuid
from collections import deque
from datetime import date
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from pypdf import PdfReader
from sqlalchemy import insert, select

from casework.extensions import db
from casework.web import DONOR_ENDPOINTS, PUBLIC_ENDPOINTS
from tests.conftest import login_api, login_web

CANARY = {
    "first_name": "Canaryxq",
    "last_name": "Canaryvu",
    "known_as": "Canaryzk",
    "email": "canaryxq@example.org",
    "phone": "+66 812 990 417",
    "address": "17 Canaryqw Lane",
    "narrative": "Canaryjn narrative, synthetic.",
    "risk_notes": "Canarypf risk note, synthetic.",
    "date_of_birth": date(1993, 2, 27),
}
CANARY_TEXTS = ("Canaryxq", "Canaryvu", "Canaryzk", "canaryxq@example.org", "812 990 417",
                "Canaryqw", "Canaryjn", "Canarypf", "1993-02-27")
CASE_NUMBER = re.compile(r"CW-\d{4}-\d{6}")
MAX_PAGES = 200
# Reachable by anyone, logged in or not: nothing there is the donor's to be kept from.
PUBLIC_API = frozenset({"api-docs.openapi_json", "api_auth.Token", "referrals_api.verify_letter"})


@pytest.fixture
def world(app, make):
    """A team with the canary survivor in the donor's programme, and a published report of
    that programme made by the real service from the seeded records."""
    from casework.auth.models import User
    from casework.programmes.models import Programme, programme_donors, survivor_programmes
    from casework.reports import service
    from casework.survivors.models import Survivor

    supervisor = make.user("supervisor", team="North")
    caseworker = make.user("caseworker", team="North")
    donor = make.user("donor")
    canary_id = make.survivor(caseworker, intake_date=date(2026, 1, 15), **CANARY)
    for i in range(3):
        make.survivor(caseworker, first_name=f"Other{i}", intake_date=date(2026, 2, 1))
    with app.test_request_context("/"):
        programme = Programme(id=uuid.uuid4(), name="Safe Futures (demo)",
                              starts_on=date(2025, 1, 1))
        db.session.add(programme)
        db.session.flush()
        db.session.execute(insert(programme_donors).values(programme_id=programme.id,
                                                           user_id=donor.id))
        db.session.execute(insert(survivor_programmes).values(survivor_id=canary_id,
                                                              programme_id=programme.id))
        author = db.session.get(User, supervisor.id)
        report = service.create_draft(author, programme.id, date(2026, 1, 1),
                                      date(2026, 3, 31))
        service.publish(author, report)
        draft = service.create_draft(author, programme.id, date(2026, 4, 1),
                                     date(2026, 4, 30))
        db.session.commit()
        case_number = db.session.get(Survivor, canary_id).case_number
        report_id, draft_id = report.id, draft.id
    assert CASE_NUMBER.fullmatch(case_number)
    # The canary is reachable for staff: the checks below are not vacuous.
    staff = login_api(app, caseworker).get(f"/api/v1/survivors/{canary_id}")
    assert staff.status_code == 200 and staff.json["first_name"] == "Canaryxq"
    world = {"donor": donor, "canary_id": canary_id, "case_number": case_number,
             "report_id": report_id, "draft_id": draft_id}
    assert len(_leaks(staff.get_data(as_text=True), world)) > 5  # the detector detects
    return world


def _leaks(text: str, world) -> list[str]:
    found = [t for t in CANARY_TEXTS if t.lower() in text.lower()]
    found += CASE_NUMBER.findall(text)
    found += [t for t in (str(world["canary_id"]), world["case_number"]) if t in text]
    return found


def _text(response) -> str:
    if response.mimetype == "application/pdf":
        reader = PdfReader(io.BytesIO(response.data))
        return " ".join(page.extract_text() for page in reader.pages)
    return response.get_data(as_text=True)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("href", "src", "action"):
            if attrs.get(name) and (tag != "form" or name == "action"):
                self.urls.append(attrs[name])
        if tag == "form" and "action" not in attrs:
            self.urls.append("")


def _endpoint(app, path: str) -> str | None:
    from werkzeug.exceptions import HTTPException

    try:
        endpoint, _args = app.url_map.bind("localhost").match(path, method="GET")
    except HTTPException:
        return None
    return endpoint


def test_a_donor_crawling_every_link_sees_no_survivor_data(app, world):
    web = login_web(app, world["donor"])
    queue, seen, answers = deque(["/"]), set(), {}
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = web.get(url)
        answers[url] = response.status_code
        text = _text(response)
        assert not _leaks(text, world), (url, _leaks(text, world))
        assert response.status_code < 500, url
        if response.status_code == 200:
            endpoint = _endpoint(app, urlsplit(url).path)
            assert endpoint in DONOR_ENDPOINTS | PUBLIC_ENDPOINTS, (url, endpoint)
        links = []
        if 300 <= response.status_code < 400:
            links.append(response.headers["Location"])
        elif response.mimetype == "text/html":
            parser = _Links()
            parser.feed(text)
            links += parser.urls
        for link in links:
            absolute = urlsplit(urljoin("http://localhost" + url, link))
            if absolute.scheme in ("http", "https") and absolute.netloc == "localhost":
                queue.append(absolute.path + (f"?{absolute.query}" if absolute.query else ""))
    assert len(seen) < MAX_PAGES, "the crawl did not finish"
    report = f"/reports/{world['report_id']}"
    for url in ("/reports", report, f"{report}.pdf", f"{report}.csv"):
        assert answers.get(url) == 200, (url, answers)
    assert f"/reports/{world['draft_id']}" not in answers
    assert answers.get("/logout") == 405  # a form action, tried with GET: POST only


def _fill(rule, value_for) -> str:
    from werkzeug.routing import UUIDConverter

    values = {}
    for name, converter in rule._converters.items():
        values[name] = value_for(name) if isinstance(converter, UUIDConverter) else {
            "version": "v1", "language": "en", "reference": "CW-REF-0001",
            "kind": "caseload"}.get(name, "x")
    path = rule.rule
    for name, value in values.items():
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), path)
    return path


def _ids(world) -> list:
    return [world["canary_id"], uuid.uuid4(), world["report_id"], world["draft_id"]]


def test_every_api_route_with_a_donor_token_gives_no_survivor_data(app, world):
    api = login_api(app, world["donor"])
    body = {"survivor_id": str(world["canary_id"]), "first_name": "Probe",
            "period_start": "2026-01-01", "period_end": "2026-03-31", "reason": "probe"}
    tried = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/v1"):
            continue
        for ident in _ids(world):
            path = _fill(rule, lambda _name, ident=ident: ident)
            for method in ("GET", "POST", "PATCH", "DELETE"):
                if rule.endpoint == "api_auth.Token" and method == "DELETE":
                    continue  # would end the token this test runs on: tried last
                kwargs = {"json": body} if method in ("POST", "PATCH") else {}
                response = api.client.open(path, method=method, headers=api._headers(),
                                           **kwargs)
                tried += 1
                text = _text(response)
                assert response.status_code < 500, (method, path, text[:300])
                assert not _leaks(text, world), (method, path, _leaks(text, world))
                # What a donor may reach: their profile, the reports of their programmes and
                # those programmes (the service decides which, inside these paths).
                allowed = re.fullmatch(r"/api/v1/(me|reports(/.+)?|programmes(/[^/]+)?)", path)
                if (method in rule.methods and rule.endpoint not in PUBLIC_API
                        and not allowed):
                    assert response.status_code == 404, (method, path, response.status_code)
    assert tried > 200
    me = api.get("/api/v1/me")
    assert me.status_code == 200 and me.json["role"] == "donor"
    assert api.get("/api/v1/me/caseload").status_code == 404
    assert api.get("/api/v1/survivors").status_code == 404
    report = api.get(f"/api/v1/reports/{world['report_id']}")
    assert report.status_code == 200 and "record" not in report.json
    assert api.get(f"/api/v1/reports/{world['draft_id']}").status_code == 404
    assert api.delete("/api/v1/auth/token").status_code == 204
    assert api.get("/api/v1/me").status_code == 401


def test_every_page_outside_the_allowlist_answers_404_to_a_donor(app, world):
    web = login_web(app, world["donor"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/reports").text)[1]
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.rule.startswith("/api/") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for ident in _ids(world):
            path = _fill(rule, lambda _name, ident=ident: ident)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if rule.endpoint == "auth.logout":
                    continue
                data = {"csrf_token": token, "first_name": "Probe"} if method == "POST" else None
                response = web.client.open(path, method=method, data=data)
                text = _text(response) if response.status_code == 200 else response.text
                assert response.status_code < 500, (method, path)
                assert not _leaks(text, world), (method, path, _leaks(text, world))
                if rule.endpoint not in DONOR_ENDPOINTS:
                    assert response.status_code == 404, (method, path, response.status_code)
    # Nothing the donor tried changed the canary's record.
    from casework.survivors.models import Survivor

    with app.app_context():
        survivor = db.session.scalar(select(Survivor).where(Survivor.id == world["canary_id"]))
        assert survivor.first_name == "Canaryxq"


def test_a_donor_refused_a_page_is_audited(app, make):
    from casework.audit.models import AuditEvent

    donor = make.user("donor")
    assert login_web(app, donor).get("/survivors/").status_code == 404
    assert login_api(app, donor).get("/api/v1/survivors").status_code == 404
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "donor.denied").order_by(AuditEvent.id)).all()
        assert [(e.actor_id, e.reason, e.channel) for e in events] == [
            (donor.id, "/survivors/", "web"), (donor.id, "/api/v1/survivors", "api")]
