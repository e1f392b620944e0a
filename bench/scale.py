"""Casework at national scale (``make bench``; not a test).

Seeds, on SQLite and on PostgreSQL, a national network: 100,000 survivors with about
1,000,000 service records (tests/report_data.py ``seed_caseload``: shelter stays, counselling,
training, legal matters, referrals), 40 teams of caseworkers (50–150 cases each), counsellors
and a supervisor, a data-processing consent for everyone (and the refusals of statistics the
generator makes), names, birth dates and phone numbers encrypted at rest with their blind-index
search keys (casework/survivors/search.py ``keys_for``), and a few referrals with consent to
share, approved, some issued as letters. Bulk inserts with a progress bar; the database is
cached (``.bench-cache/scale-<n>.sqlite``, PostgreSQL ``casework_bench_scale_<n>``) with a
version marker, ``--reseed`` rebuilds it.

Then, as the right user through the Flask test client, ``--requests`` times each (default
30), median and p95 ms beside a baseline measured in the same run:

- caseload (caseworker ``/survivors/``), caseload review (supervisor
  ``/supervision/caseload``), survivor page and timeline (its caseworker), duplicate search
  (``POST /api/v1/survivors/duplicates``): baseline = every statement the request ran,
  captured from the engine, replayed bare on a DB-API cursor in one transaction; request and
  replay are taken in turns, and neither commits (the request's commit is rolled back);
- letter: issuing a referral letter (``POST /referrals/<id>/issue``: consent check, render,
  encrypt, store; rolled back so it can be repeated): baseline = bare WeasyPrint rendering the
  same HTML (new FontConfiguration and stylesheet, fonts from disk);
- donor report: drafting the whole organisation's report for 2025 (``POST /reports/new``,
  rolled back; ``--report-runs``, default 3; on PostgreSQL only unless ``--sqlite-report``:
  on SQLite a draft takes minutes at this scale): baseline = its statements replayed bare.

Goals (issue 10): caseload and survivor pages at most 2x their baseline and under 100 ms median
at 100,000 survivors on PostgreSQL.

Then wrk (PostgreSQL): gunicorn, 2 workers, production configuration on a free loopback port,
``wrk -t2 -c8 --latency`` on the survivor page with a caseworker's session cookie, and the
same against bench/bare_app.py (the survivor page's statements on a raw connection, a small
HTML string) served the same way; ``--duration`` seconds each, in three turns (bare, app,
bare, app...) so that both see the same machine. Goals: errors 0, requests/s app/bare at
least 0.5.

Usage: ``python bench/scale.py [--engines sqlite,postgresql] [--survivors 100000]
[--records 1000000] [--requests 30] [--report-runs 3] [--sqlite-report] [--duration 30] [--no-wrk]
[--skip letter,report] [--reseed] [--profile] [--check]``. PostgreSQL: ``CASEWORK_BENCH_PG_ADMIN``.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pickle
import pstats
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CACHE,
    CSRF_RE,
    PASSWORD,
    ROOT,
    Progress,
    analyze,
    api_headers,
    capture,
    database_url,
    is_seeded,
    login,
    mark_seeded,
    median,
    no_commit,
    p95,
    reset_schema,
    time_against_replay,
    time_ms,
)

SEED_VERSION = 2  # bump when the schema or the seed changes
TEAMS = 40
CASES_PER_WORKER = 100  # on average; each worker's share is drawn from 50..150
COUNSELLORS_PER_TEAM = 3
LETTERS_ISSUED = 10  # letters issued while seeding; 3 more referrals wait approved
PAGE_GOAL_RATIO = 2.0
PAGE_GOAL_MS = 100.0
WRK_RATIO_GOAL = 0.5
REPORT_PERIOD = ("2025-01", "2025-12")
# The bench's own keys (not secrets: synthetic data), the same for the test client and gunicorn.
DATA_KEYS = json.dumps({"bench1": base64.b64encode(b"\x07" * 32).decode()})
BLIND_INDEX_KEY = base64.b64encode(b"\x08" * 32).decode()

# Synthetic names of the network's main nationalities: common ones recur, as they do.
FIRST = ["Lan", "Hoa", "Mai", "Linh", "Thu", "Huong", "Anh", "Ngoc", "Nga", "Trang", "Somchai",
         "Malee", "Siriporn", "Ana", "Maria", "Elena", "Ioana", "Olena", "Iryna", "Oksana",
         "Blessing", "Chioma", "Joy", "Grace", "Rosa", "Lucia", "Fatima", "Amina", "Mya",
         "Sokha", "Dara", "Juan", "Ivan", "Andrei", "Minh", "Tuan", "Hung", "Duc", "Nam"]
LAST = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Võ", "Đặng", "Bùi", "Đỗ",
        "Srisuk", "Chaiyaporn", "Popescu", "Ionescu", "Shevchenko", "Kovalenko", "Bondarenko",
        "Okafor", "Adeyemi", "Eze", "García", "Hernández", "López", "Martínez", "Santos",
        "Reyes", "Cruz", "Aung", "Win", "Chea", "Sok", "Petrov", "Ivanova", "Haddad"]
MIDDLE = ["Thị", "Văn", "Ngọc", "Minh", None, None, None, None]


def app_config(url: str) -> dict:
    return {"CONFIG": "test", "DATABASE_URL": url, "DATA_KEYS": DATA_KEYS,
            "BLIND_INDEX_KEY": BLIND_INDEX_KEY}


def names_for(rng: random.Random) -> dict:
    middle = rng.choice(MIDDLE)
    first = rng.choice(FIRST)
    return {
        "first_name": f"{middle} {first}" if middle else first,
        "last_name": rng.choice(LAST),
        "known_as": rng.choice(FIRST) if rng.random() < 0.2 else None,
        "date_of_birth": date(1960, 1, 1) + timedelta(days=rng.randrange(45 * 365)),
        "phone": f"+84 9{rng.randrange(10**8):08d}" if rng.random() < 0.7 else None,
    }


# --- seeding -------------------------------------------------------------------------------------

def seed(app, survivors: int, records: int) -> dict[str, float]:
    """The whole national network, in bulk; returns the seconds of each step."""
    from sqlalchemy import Column, LargeBinary, MetaData, Table, Uuid, insert, select, text

    from casework.auth.models import Organisation, Team, User
    from casework.auth.passwords import hash_password
    from casework.consent.models import Consent, ConsentForm
    from casework.encryption import encrypt_value
    from casework.extensions import db
    from casework.referrals.letters.catalogue import LANGUAGES
    from casework.referrals.models import Partner, Referral
    from casework.survivors.models import Survivor, survivor_collaborators
    from casework.survivors.search import SurvivorSearchKey, keys_for
    from tests.report_data import seed_caseload

    timings: dict[str, float] = {}
    rng = random.Random(survivors)
    now = datetime.now(UTC)
    stamp = {"created_at": now, "updated_at": now}
    reset_schema(app)
    started = time.perf_counter()

    # Users: one password hash for all (the test configuration's cheap argon2id).
    workers_per_team = max(2, round(survivors / CASES_PER_WORKER / TEAMS))
    with app.app_context():
        pw_hash = hash_password(PASSWORD)
    teams = []
    user_rows = []
    for t in range(TEAMS):
        team = {"id": uuid.uuid4(), "name": f"Region {t:02d}", "sup": uuid.uuid4(),
                "workers": [uuid.uuid4() for _ in range(workers_per_team)],
                "counsellors": [uuid.uuid4() for _ in range(COUNSELLORS_PER_TEAM)]}
        teams.append(team)
        people = ([(team["sup"], f"t{t:02d}.sup", "supervisor")]
                  + [(uid, f"t{t:02d}.cw{i:02d}", "caseworker")
                     for i, uid in enumerate(team["workers"])]
                  + [(uid, f"t{t:02d}.co{i}", "counsellor")
                     for i, uid in enumerate(team["counsellors"])])
        for uid, username, role in people:
            user_rows.append({"id": uid, "username": username, "role": role,
                              "display_name": f"{username} (bench)",
                              "email": f"{username}@bench.example", "team_id": team["id"],
                              "password_hash": pw_hash, "active": True,
                              "session_generation": 0, **stamp})
    form_id = uuid.uuid4()
    per_survivor = records / survivors
    progress = Progress(f"seeding {survivors:,} survivors, ~{records:,} service records",
                        survivors)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(insert(Organisation.__table__), [{
            "id": uuid.uuid4(), "name": "Bench National Network (demo)", "timezone": "UTC",
            "referrals_need_approval": True, "closures_need_approval": False}])
        conn.execute(insert(Team.__table__), [{"id": t["id"], "name": t["name"]}
                                              for t in teams])
        conn.execute(insert(User.__table__), user_rows)
        conn.execute(insert(ConsentForm.__table__), [{
            "id": form_id, "version": "bench-1", "language": "en",
            "text": "Synthetic consent form.", "sha256": "0" * 64, "created_at": now}])
        # Survivors and their service records, team by team (each team its own partner,
        # shelter and training programmes), led by the team's first worker for now.
        done = 0
        partners = []
        share = survivors // TEAMS
        for t, team in enumerate(teams):
            count = share if t < TEAMS - 1 else survivors - share * (TEAMS - 1)
            before = set(conn.scalars(select(Partner.id)))
            caseload = seed_caseload(
                conn, rng=rng, survivors=count, records_per_survivor=per_survivor,
                first_day=date(2022, 1, 1), last_day=now.date(), lead_id=team["workers"][0],
                progress=lambda n, _total, base=done: progress(base + n))
            partners.append((set(conn.scalars(select(Partner.id))) - before).pop())
            team["survivors"] = caseload.survivor_ids
            done += count
            progress(done)
        timings["survivors and service records"] = progress.done(
            f"seeded {survivors:,} survivors, "
            f"{conn.scalar(text(_count_records_sql())):,} service records")

        # Caseloads: each worker 50..150 cases' worth of the team's survivors, a counsellor,
        # sometimes a collaborator; identifying fields encrypted; their search keys.
        step = Progress("caseloads, encrypted names, search keys", survivors)
        assign = Table("bench_assign", MetaData(),
                       Column("survivor_id", Uuid, primary_key=True),
                       Column("lead_id", Uuid), Column("counsellor_id", Uuid),
                       *[Column(name, LargeBinary) for name in
                         ("first_name", "last_name", "known_as", "date_of_birth", "phone")])
        assign.create(conn)
        survivors_t = Survivor.__table__
        done = 0
        for team in teams:
            weights = [rng.uniform(50, 150) for _ in team["workers"]]
            leads = rng.choices(team["workers"], weights=weights, k=len(team["survivors"]))
            rows, keys, collaborators = [], [], []
            for sid, lead in zip(team["survivors"], leads, strict=True):
                values = names_for(rng)
                rows.append({"survivor_id": sid, "lead_id": lead,
                             "counsellor_id": rng.choice(team["counsellors"]),
                             **{name: encrypt_value(survivors_t, name, sid, value)
                                for name, value in values.items()}})
                keys.extend({"id": uuid.uuid4(), "survivor_id": sid, "kind": kind,
                             "digest": d} for kind, d in sorted(keys_for(values)))
                if rng.random() < 0.05:
                    other = rng.choice(team["workers"])
                    if other != lead:
                        collaborators.append({"survivor_id": sid, "user_id": other})
            for i in range(0, len(rows), 5000):
                conn.execute(insert(assign), rows[i:i + 5000])
            for i in range(0, len(keys), 5000):
                conn.execute(insert(SurvivorSearchKey.__table__), keys[i:i + 5000])
            if collaborators:
                conn.execute(insert(survivor_collaborators), collaborators)
            done += len(rows)
            step(done)
        conn.execute(text(
            "UPDATE survivors SET lead_caseworker_id = a.lead_id, first_name = a.first_name, "
            "last_name = a.last_name, known_as = a.known_as, "
            "date_of_birth = a.date_of_birth, phone = a.phone "
            "FROM bench_assign AS a WHERE survivors.id = a.survivor_id"))
        for table in ("counselling_engagements", "counselling_sessions"):
            conn.execute(text(f"UPDATE {table} SET counsellor_id = a.counsellor_id "
                              f"FROM bench_assign AS a WHERE {table}.survivor_id = a.survivor_id"))
        conn.execute(text("UPDATE referrals SET created_by = a.lead_id FROM bench_assign AS a "
                          "WHERE referrals.survivor_id = a.survivor_id"))
        assign.drop(conn)
        timings["caseloads, encrypted names, search keys"] = step.done(
            f"assigned caseloads, encrypted names, "
            f"{conn.scalar(text('SELECT count(*) FROM survivor_search_keys')):,} search keys")

        # Consent to data processing for everyone.
        step = Progress("consents", survivors)
        done = 0
        for team in teams:
            rows = [{"id": uuid.uuid4(), "survivor_id": sid, "purpose": "data_processing",
                     "scope": [], "status": "granted", "method": "written", "language": "en",
                     "form_id": form_id, "form_version": "bench-1", "form_language": "en",
                     "form_sha256": "0" * 64, "recorded_by": team["workers"][0],
                     "recorded_at": now - timedelta(days=30)} for sid in team["survivors"]]
            for i in range(0, len(rows), 5000):
                conn.execute(insert(Consent.__table__), rows[i:i + 5000])
            done += len(rows)
            step(done)
        timings["consents"] = step.done(f"recorded {survivors:,} consents")

        # Referral letters: survivors of the measured worker consent to sharing with the
        # team's partner; referrals approved by the supervisor.
        team = teams[0]
        worker = team["workers"][1]
        mine = list(conn.scalars(select(Survivor.id).where(
            Survivor.lead_caseworker_id == worker).order_by(Survivor.case_number)
            .limit(LETTERS_ISSUED + 3)))
        for n, sid in enumerate(mine):
            conn.execute(insert(Consent.__table__), [{
                "id": uuid.uuid4(), "survivor_id": sid, "purpose": "referral_sharing",
                "partner_id": partners[0],
                "scope": ["identity", "contact", "demographics", "trafficking_context",
                          "service_history"], "status": "granted", "method": "written",
                "language": "en", "form_id": form_id, "form_version": "bench-1",
                "form_language": "en", "form_sha256": "0" * 64, "recorded_by": worker,
                "recorded_at": now - timedelta(days=2)}])
            rid = uuid.uuid4()
            conn.execute(insert(Referral.__table__), [{
                "id": rid, "survivor_id": sid, "partner_id": partners[0],
                "service": "legal_aid", "language": LANGUAGES[n % len(LANGUAGES)],
                "reason": encrypt_value(Referral.__table__, "reason", rid,
                                        "Synthetic: advice on a residence permit."),
                "status": "approved", "created_by": worker, "submitted_at": now,
                "approved_by": team["sup"], "approved_at": now, **stamp}])
    with app.app_context():
        conn_started = time.perf_counter()
        _issue_letters(app, worker, LETTERS_ISSUED)
        timings["letters"] = time.perf_counter() - conn_started
    with app.app_context(), db.engine.begin() as conn:
        mark_seeded(conn, SEED_VERSION, survivors)
    step_started = time.perf_counter()
    analyze(app)
    timings["analyze"] = time.perf_counter() - step_started
    timings["total"] = time.perf_counter() - started
    print(f"  seeded in {timings['total']:.0f} s: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items() if k != "total"),
          file=sys.stderr)
    return timings


def _count_records_sql() -> str:
    from casework.counselling.models import CounsellingSession
    from casework.legal.models import LegalMatter
    from casework.referrals.models import Referral
    from casework.shelters.models import Placement
    from casework.training.models import Enrolment

    return "SELECT " + " + ".join(
        f"(SELECT count(*) FROM {m.__tablename__})"
        for m in (Placement, CounsellingSession, Enrolment, LegalMatter, Referral))


def _issue_letters(app, worker_id, count: int) -> None:
    """Issue ``count`` of the approved referrals through the app's own service."""
    from flask_login import login_user
    from sqlalchemy import select

    from casework.auth.models import User
    from casework.extensions import db
    from casework.referrals import service
    from casework.referrals.models import Referral

    with app.test_request_context("/"):
        user = db.session.get(User, worker_id)
        login_user(user)
        referrals = db.session.scalars(select(Referral).where(
            Referral.created_by == worker_id, Referral.status == "approved",
            Referral.reason.is_not(None))  # the bench's own (the generator's have no reason)
            .order_by(Referral.language, Referral.id).limit(count)).all()
        for referral in referrals:
            service.act(user, referral, "issue")
        db.session.commit()


# --- measuring -----------------------------------------------------------------------------------

class Subjects:
    """Who and what is measured: team 0's second worker, their supervisor, and the worker's
    survivor with the most service records."""

    def __init__(self, app):
        from sqlalchemy import func, select, union_all

        from casework.auth.models import User
        from casework.counselling.models import CounsellingSession
        from casework.extensions import db
        from casework.legal.models import LegalMatter
        from casework.referrals.models import Referral
        from casework.shelters.models import Placement
        from casework.survivors.models import Survivor
        from casework.training.models import Enrolment

        self.worker, self.supervisor = "t00.cw01", "t00.sup"
        with app.app_context():
            worker = db.session.scalar(select(User).where(User.username == self.worker))
            self.cases = db.session.scalar(select(func.count()).select_from(Survivor).where(
                Survivor.lead_caseworker_id == worker.id))
            mine = select(Survivor.id).where(Survivor.lead_caseworker_id == worker.id)
            parts = union_all(*(select(m.survivor_id.label("sid")).where(
                m.survivor_id.in_(mine)) for m in (Placement, CounsellingSession, Enrolment,
                                                   LegalMatter, Referral))).subquery()
            sid, self.records = db.session.execute(
                select(parts.c.sid, func.count()).group_by(parts.c.sid)
                .order_by(func.count().desc(), parts.c.sid).limit(1)).one()
            survivor = db.session.get(Survivor, sid)
            self.survivor = survivor.id
            self.search = {"first_name": survivor.first_name, "last_name": survivor.last_name,
                           "date_of_birth": survivor.date_of_birth.isoformat()}
            self.referral = db.session.scalar(select(Referral.id).where(
                Referral.created_by == worker.id, Referral.status == "approved",
                Referral.reason.is_not(None)).order_by(Referral.id).limit(1))
            self.letters = db.session.scalar(select(func.count()).select_from(Referral).where(
                Referral.status == "issued", Referral.created_by == worker.id))
            db.session.rollback()


def measure_request(app, name: str, request, n: int, *, expect=200, profile: bool = False,
                    warmups: int = 3) -> dict:
    """``request`` n times, in turns with its captured statements replayed bare; neither
    commits (``common.time_against_replay``)."""
    expected = (expect,) if isinstance(expect, int) else expect

    def once():
        response = request()
        assert response.status_code in expected, (name, response.status_code,
                                                   response.text[:500])

    for _ in range(warmups):  # warm-up: template and SQL compilation caches, the DB's cache
        with no_commit():
            once()
    statements, replay = capture(app, request, expect=expect)
    timings, baseline = time_against_replay(once, replay, n)
    replay.close()
    result = {"name": name, "median": median(timings), "p95": p95(timings),
              "baseline": median(baseline), "statements": len(statements),
              "baseline_kind": f"bare SQL ({len(statements)} statements)"}
    if profile:
        with no_commit():
            result["profile"] = profile_of(once, 10)
    return result


def profile_of(fn, times: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(times):
        fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def measure_letter(app, client, subjects: Subjects, n: int) -> dict:
    """Issuing a letter through the page (rolled back) vs bare WeasyPrint of the same HTML."""
    from letters import bare_renderer  # bench/letters.py

    import casework.referrals.letters as letter_pkg
    from casework.referrals.letters.render import render_html

    page = client.get(f"/referrals/{subjects.referral}")
    assert page.status_code == 200, page.status_code
    token = CSRF_RE.search(page.text).group(1)
    contexts = []
    original = letter_pkg.render_pdf

    def spy(template, context):
        contexts.append((template, context))
        return original(template, context)

    def issue():
        with no_commit():
            response = client.post(f"/referrals/{subjects.referral}/issue",
                                   data={"csrf_token": token})
        assert response.status_code == 302, (response.status_code, response.text[:500])

    with patch.object(letter_pkg, "render_pdf", spy):
        issue()
    template, context = contexts[0]
    with app.test_request_context("/"):
        html = render_html(template, context)
    render_bare = bare_renderer()
    render_bare(html)
    issue()
    bare, timings = [], []
    for _ in range(n):  # in turns, as the pages (common.time_against_replay)
        bare.extend(time_ms(lambda: render_bare(html), 1))
        timings.extend(time_ms(issue, 1))
    return {"name": "letter (issue)", "median": median(timings), "p95": p95(timings),
            "baseline": median(bare), "baseline_kind": "bare WeasyPrint, same HTML"}


def measure_engine(app, n: int, report_runs: int, profile: bool,
                   skip: frozenset = frozenset()) -> tuple[list[dict], Subjects]:
    subjects = Subjects(app)
    worker = login(app, subjects.worker)
    supervisor = login(app, subjects.supervisor)
    token = api_headers(app, subjects.worker)
    rows = []
    print(f"  measuring as {subjects.worker} ({subjects.cases} cases); survivor with "
          f"{subjects.records} service records", file=sys.stderr)

    def timed(name, request, **kw):
        print(f"    {name}", file=sys.stderr)
        rows.append(measure_request(app, name, request, n, profile=profile, **kw))

    timed("caseload (caseworker)", lambda: worker.get("/survivors/"))
    timed("caseload review (supervisor)", lambda: supervisor.get("/supervision/caseload"))
    timed("survivor page", lambda: worker.get(f"/survivors/{subjects.survivor}"))
    timed("timeline", lambda: worker.get(f"/survivors/{subjects.survivor}/timeline"))
    timed("duplicate search (API)", lambda: worker.post(
        "/api/v1/survivors/duplicates", json=subjects.search, headers=token))
    if "letter" not in skip:
        print("    letter", file=sys.stderr)
        rows.append(measure_letter(app, worker, subjects, n))
    if "report" in skip:
        return rows, subjects

    print("    donor report", file=sys.stderr)
    form = supervisor.get("/reports/new")
    assert form.status_code == 200, form.status_code
    csrf = CSRF_RE.search(form.text).group(1)
    rows.append(measure_request(
        app, "donor report (draft, 12 months)", lambda: supervisor.post("/reports/new", data={
            "csrf_token": csrf, "programme": "", "first_month": REPORT_PERIOD[0],
            "last_month": REPORT_PERIOD[1]}), report_runs, expect=302, warmups=1))
    rows[-1]["runs"] = report_runs
    return rows, subjects


# --- wrk -----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str | None:
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0:
        print("  installing wrk (apt-get)", file=sys.stderr)
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                       "apt-get install -y -qq wrk >/dev/null", shell=True, check=False)
    else:
        print("  wrk is missing: sudo apt-get install wrk (skipping the load test)",
              file=sys.stderr)
    return shutil.which("wrk")


def serve(app_spec: str, env: dict, chdir: Path, log: Path):
    """gunicorn, 2 workers, on a free loopback port; returns (process, base URL)."""
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    process = subprocess.Popen(
        [gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(chdir),
         "--access-logfile", "-", "--log-level", "warning", app_spec],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=str(chdir))
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, base
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"gunicorn did not listen on {port}: see {log}")


def stop(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def http(method: str, url: str, *, body: dict | None = None, cookie: str | None = None):
    import http.client

    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Host": parts.netloc}
    data = None
    if cookie:
        headers["Cookie"] = cookie
    if body is not None:
        data = urllib.parse.urlencode(body)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, parts.path, body=data, headers=headers)
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    cookies = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    conn.close()
    return response.status, text, cookies


def wrk_run(wrk: str, url: str, duration: int, cookie: str | None) -> dict:
    command = [wrk, "-t2", "-c8", f"-d{duration}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        out)
    if sockets:
        errors += sum(int(x) for x in sockets.groups())
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p99": float(p99.group(1)) * scale, "errors": errors,
            "requests": total, "raw": out}


# wrk takes the two servers in turns, a third of the duration each time, as the pages are
# measured in turns with their baselines: the machine's speed drifts from one minute to the
# next (two runs of the same server a minute apart differed by up to a fifth), which tilted a
# ratio of one bare run followed by one app run either way.
WRK_TURNS = 3


def combined(runs: list[dict]) -> dict:
    """The turns of one server as one run: all its requests over all its seconds, the worst
    turn's p99, every error."""
    seconds = sum(r["requests"] / r["rps"] for r in runs if r["rps"])
    requests = sum(r["requests"] for r in runs)
    return {"rps": requests / seconds if seconds else 0.0,
            "p99": max(r["p99"] for r in runs), "errors": sum(r["errors"] for r in runs),
            "requests": requests, "turns": [round(r["rps"], 1) for r in runs]}


def wait_for_quiet_chain(app, timeout: float = 30.0) -> None:
    """Until no request appends to the audit chain (its head unchanged for half a second)."""
    from sqlalchemy import func, select

    from casework.audit.models import AuditEvent
    from casework.extensions import db

    last, deadline = None, time.monotonic() + timeout
    with app.app_context():
        while time.monotonic() < deadline:
            with db.engine.connect() as conn:
                head = conn.execute(select(func.max(AuditEvent.id))).scalar()
            if head == last:
                return
            last = head
            time.sleep(0.5)


def wrk_bench(app, url: str, subjects: Subjects, duration: int) -> dict | None:
    """The survivor page under load through gunicorn, beside the bare Flask app, in turns."""
    wrk = ensure_wrk()
    if not wrk:
        return None
    client = login(app, subjects.worker)
    page = f"/survivors/{subjects.survivor}"
    CACHE.mkdir(exist_ok=True)
    statements_file = CACHE / "survivor-page-statements.pickle"
    turn = max(1, round(duration / WRK_TURNS))

    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    env.update({
        "CASEWORK_CONFIG": "production",
        "CASEWORK_DATABASE_URL": url,
        "CASEWORK_SECRET_KEY": base64.b64encode(os.urandom(36)).decode(),
        "CASEWORK_DATA_KEYS": DATA_KEYS,
        "CASEWORK_BLIND_INDEX_KEY": BLIND_INDEX_KEY,
        # Caseworkers need no second factor here (supervisor,admin by default); nothing
        # throttles successful requests; the login throttle counts failures only.
        "CASEWORK_MFA_REQUIRED_ROLES": "supervisor,admin",
        "CASEWORK_PUBLIC_URL": "http://127.0.0.1",
    })
    env_bare = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    env_bare.update({"BENCH_DATABASE_URL": url, "BENCH_STATEMENTS": str(statements_file)})
    runs: dict[str, list[dict]] = {"bare": [], "app": []}
    statements: list = []
    process, base = serve("casework:create_app()", env, ROOT, CACHE / "gunicorn-app.log")
    try:
        status, text, cookies = http("GET", base + "/login")
        assert status == 200, status
        token = CSRF_RE.search(text).group(1)
        status, text, new = http("POST", base + "/login", cookie="; ".join(cookies), body={
            "username": subjects.worker, "password": PASSWORD, "csrf_token": token})
        assert status == 302, (status, text[:300])
        cookie = "; ".join(c for c in new if c.startswith("casework_session="))
        status, _text, _c = http("GET", base + page, cookie=cookie)
        assert status == 200, f"survivor page through gunicorn: {status}"
        for number in range(1, WRK_TURNS + 1):
            # The statements of one survivor page, captured anew each turn: the bare app
            # appends the audit row that comes next in the chain and rolls it back, which
            # only works until the app commits rows of its own (it is idle meanwhile, once
            # the requests wrk left in flight have finished).
            wait_for_quiet_chain(app)
            statements, replay = capture(app, lambda: client.get(page))
            replay.close()
            statements_file.write_bytes(pickle.dumps(statements))
            bare, bare_base = serve("bare_app:create_app()", env_bare, ROOT / "bench",
                                    CACHE / "gunicorn-bare.log")
            try:
                status, _text, _c = http("GET", bare_base + page)
                assert status == 200, f"bare app: {status}"
                print(f"  wrk turn {number}/{WRK_TURNS}, {turn} s each: the bare Flask app",
                      file=sys.stderr)
                runs["bare"].append(wrk_run(wrk, bare_base + page, turn, None))
            finally:
                stop(bare)
            print(f"  wrk turn {number}/{WRK_TURNS}, {turn} s each: the app (gunicorn, "
                  f"2 workers)", file=sys.stderr)
            runs["app"].append(wrk_run(wrk, base + page, turn, cookie))
        status, _text, _c = http("GET", base + page, cookie=cookie)
        still_logged_in = status == 200
    finally:
        stop(process)

    result = {name: combined(r) for name, r in runs.items()}
    result["app"]["still_logged_in"] = still_logged_in
    result["statements"] = len(statements)
    result["turn"] = turn
    return result


# --- main ----------------------------------------------------------------------------------------

def print_table(results: dict, n: int, survivors: int, file=None) -> None:
    """The one table (also printed to stderr after each engine, so that a run cut short
    keeps what it measured)."""
    out = file or sys.stdout
    print(f"\nCasework at scale: {survivors:,} survivors; median and p95 of {n} requests (ms), "
          "each beside its baseline measured in the same run", file=out)
    print(f"{'engine':<11} {'measure':<32} {'median':>8} {'p95':>8} {'baseline':>9} "
          f"{'ratio':>6}  baseline", file=out)
    for engine, rows in results.items():
        for r in rows:
            ratio = r["median"] / r["baseline"] if r["baseline"] else float("inf")
            kind = r["baseline_kind"] + (f"; {r['runs']} runs" if "runs" in r else "")
            print(f"{engine:<11} {r['name']:<32} {r['median']:>8.1f} {r['p95']:>8.1f} "
                  f"{r['baseline']:>9.1f} {ratio:>6.2f}  {kind}", file=out)


GOAL_PAGES = ("caseload (caseworker)", "caseload review (supervisor)", "survivor page")


def goals(results: dict) -> bool:
    rows = results.get("postgresql")
    if not rows:
        print("goals (issue 10): not judged (no PostgreSQL run)")
        return True
    ok = True
    for r in rows:
        if r["name"] in GOAL_PAGES:
            ratio = r["median"] / r["baseline"]
            met = ratio <= PAGE_GOAL_RATIO and r["median"] < PAGE_GOAL_MS
            ok &= met
            print(f"goal {r['name']} on PostgreSQL: <= {PAGE_GOAL_RATIO:.0f}x baseline and "
                  f"< {PAGE_GOAL_MS:.0f} ms median: {'met' if met else 'NOT met'} "
                  f"({ratio:.2f}x, {r['median']:.1f} ms)")
    return ok


def print_wrk(w: dict, duration: int) -> bool:
    app, bare = w["app"], w["bare"]
    ratio = app["rps"] / bare["rps"] if bare["rps"] else 0.0
    print(f"\nwrk -t2 -c8 --latency, survivor page, gunicorn 2 workers, PostgreSQL "
          f"({w['statements']} statements a request); the two servers in turns, "
          f"{len(app['turns'])} x {w['turn']} s each")
    print(f"{'server':<28} {'requests/s':>10} {'p99 ms':>8} {'errors':>7} {'requests':>9}"
          f"  requests/s of each turn")
    for name, r in (("app (caseworker session)", app), ("bare Flask app", bare)):
        print(f"{name:<28} {r['rps']:>10.1f} {r['p99']:>8.1f} {r['errors']:>7} "
              f"{r['requests']:>9}  {', '.join(str(t) for t in r['turns'])}")
    ok = ratio >= WRK_RATIO_GOAL and app["errors"] == 0 and app.get("still_logged_in", True)
    print(f"goal requests/s app/bare >= {WRK_RATIO_GOAL} and errors 0: "
          f"{'met' if ok else 'NOT met'} ({ratio:.2f}, {app['errors']} errors"
          f"{'' if app.get('still_logged_in', True) else ', session lost'})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--survivors", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--report-runs", type=int, default=3)
    parser.add_argument("--sqlite-report", action="store_true",
                        help="measure the donor report on SQLite too (minutes a draft there "
                        "at this scale: left out by default)")
    parser.add_argument("--duration", type=int, default=30,
                        help="seconds of wrk on each server (in three turns)")
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument("--skip", default="", help="comma-separated: letter, report (the "
                        "donor report takes minutes a draft on SQLite at this scale)")
    parser.add_argument("--reseed", action="store_true", help="rebuild the cached databases")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile summary of each page that misses its goal")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if set(engines) - {"sqlite", "postgresql"} or not engines:
        parser.error("--engines takes sqlite and/or postgresql")
    if args.survivors < TEAMS * 10:
        parser.error(f"--survivors must be at least {TEAMS * 10}")

    os.environ["CASEWORK_MFA_REQUIRED_ROLES"] = ""  # the test client logs supervisors in
    from casework import create_app
    from casework.extensions import db

    results, wrk_result, ok = {}, None, True
    for engine in engines:
        print(f"{engine}:", file=sys.stderr)
        url = database_url(engine, f"scale_{args.survivors}", args.reseed)
        app = create_app(app_config(url))
        if not is_seeded(app, SEED_VERSION, args.survivors):
            seed(app, args.survivors, args.records)
        else:
            print(f"  reusing the seeded database of {args.survivors:,} survivors",
                  file=sys.stderr)
        rows, subjects = measure_engine(app, args.requests, args.report_runs, args.profile,
                                        frozenset(filter(None, args.skip.split(",")))
                                        | ({"report"} if engine == "sqlite"
                                           and not args.sqlite_report else set()))
        results[engine] = rows
        print_table({engine: rows}, args.requests, args.survivors, file=sys.stderr)
        if engine == "postgresql" and not args.no_wrk:
            wrk_result = wrk_bench(app, url, subjects, args.duration)
        with app.app_context():
            db.engine.dispose()

    print_table(results, args.requests, args.survivors)
    ok &= goals(results)
    if wrk_result:
        ok &= print_wrk(wrk_result, args.duration)
    if args.profile:
        for engine, rows in results.items():
            for r in rows:
                if "profile" in r and r["name"] in GOAL_PAGES and not (
                        r["median"] / r["baseline"] <= PAGE_GOAL_RATIO
                        and r["median"] < PAGE_GOAL_MS):
                    print(f"\ncProfile, {engine}, {r['name']} (10 requests, cumulative):")
                    print(r["profile"])
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
