"""Benchmark of the supervisors' caseload review (not a test).

For each size (default 1,000 and 100,000 survivors) a dedicated database is seeded with
synthetic survivors — SQLite: ``.bench-cache/caseload_<size>.sqlite``; PostgreSQL: the
database ``casework_bench_caseload_<size>``, created by this script — in bulk (SQLAlchemy
core ``insert()`` in batches of 5,000). A marker table records the seed's version and size,
so later runs reuse the database; ``--reseed`` rebuilds it.

Then, as the team's supervisor through the Flask test client, it requests the caseload
review page ``/supervision/caseload`` (default sorting: latest intake first, 50 a page) and
the API ``/api/v1/supervision/caseload`` ``--requests`` times each (default 30), in turns
with the page's SQL: every statement one page request runs (captured from the engine: the
user lookup, the page's SELECTs, the navigation's alert count, the audit appends), replayed
straight on a DB-API cursor in one transaction and rolled back (the requests' commits are
rolled back too). It prints the median milliseconds of each, then:

* growth: page median at the largest size / at the smallest (goal: <= 1.3, the page does not
  slow down with the data);
* overhead: page median / page-SQL median at each size (goal: <= 2): what Flask, the ORM, the
  access checks and the template add to the queries themselves.

Usage: ``python bench/caseload.py [--engine sqlite|postgresql] [--sizes 1000,100000]
[--requests 30] [--reseed] [--check]``. ``--check`` exits 1 when a goal is missed.
PostgreSQL: ``CASEWORK_BENCH_PG_ADMIN`` (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CSRF_RE,
    PASSWORD,
    analyze,
    capture,
    database_url,
    is_seeded,
    mark_seeded,
    no_commit,
    reset_schema,
)

SEED_VERSION = 5  # bump when the schema or the seed changes
BATCH = 5_000
GROWTH_GOAL = 1.3
OVERHEAD_GOAL = 2.0
PAGE = "/supervision/caseload"
API = "/api/v1/supervision/caseload"


def seed(app, size: int) -> None:
    """``size`` survivors: 90% led by the bench team's 20 caseworkers, 10% by another team's
    (outside the supervisor's scope), with support-plan items for a fifth of them."""
    from sqlalchemy import insert

    from casework.auth.service import create_user
    from casework.extensions import db
    from casework.plans.models import PlanItem
    from casework.survivors.models import Survivor, survivor_collaborators

    rng = random.Random(size)
    started = time.perf_counter()
    reset_schema(app)
    with app.test_request_context("/"):
        create_user("bench.sup", "supervisor", PASSWORD, team="Bench",
                    display_name="Bench Supervisor")
        team = [create_user(f"bench.cw{i:02d}", "caseworker", PASSWORD, team="Bench",
                            display_name=f"Bench Caseworker {i:02d}") for i in range(20)]
        others = [create_user(f"other.cw{i}", "caseworker", PASSWORD, team="Elsewhere",
                              display_name=f"Other Caseworker {i}") for i in range(3)]
        db.session.commit()
        team_ids = [u.id for u in team]
        other_ids = [u.id for u in others]

    now = datetime.now(UTC)
    today = date.today()
    first_intake = today - timedelta(days=5 * 365)
    statuses = ["Active"] * 7 + ["FollowUp"] * 2 + ["Closed"]
    risks = ["low", "low", "medium", "medium", "high", None]
    genders = ["Feminine", "Masculine", "NonBinary", None]
    bands = ["18-24", "25-34", "35-44", "45-54", None]
    with app.app_context(), db.engine.begin() as conn:
        survivors_t = Survivor.__table__
        plans_t = PlanItem.__table__
        collab_t = survivor_collaborators
        done = 0
        while done < size:
            count = min(BATCH, size - done)
            rows, plans, collaborators = [], [], []
            for i in range(done, done + count):
                sid = uuid.uuid4()
                status = rng.choice(statuses)
                lead = rng.choice(other_ids) if rng.random() < 0.1 else rng.choice(team_ids)
                intake = first_intake + timedelta(days=rng.randrange(5 * 365))
                rows.append({
                    "id": sid, "case_number": f"CW-{intake.year}-{i:07d}"[:16],
                    "status": status, "lead_caseworker_id": lead, "intake_date": intake,
                    "referral_source": None,
                    "closed_at": now if status == "Closed" else None,
                    "gender": rng.choice(genders), "age_band": rng.choice(bands),
                    "citizenship": [], "exploitation_types": [], "recruitment_methods": [],
                    "recruitment_platforms": [], "countries_of_exploitation": [],
                    "risk_level": rng.choice(risks), "created_at": now, "updated_at": now,
                })
                if rng.random() < 0.2:
                    due = today + timedelta(days=rng.randrange(-60, 60))
                    plans.append({"id": uuid.uuid4(), "survivor_id": sid, "type": "Financial",
                                  "due_on": due, "done_on": None, "assignee_id": lead,
                                  "created_at": now, "updated_at": now})
                if rng.random() < 0.05:
                    collaborators.append({"survivor_id": sid,
                                          "user_id": rng.choice(team_ids)})
            conn.execute(insert(survivors_t), rows)
            if plans:
                conn.execute(insert(plans_t), plans)
            if collaborators:
                conn.execute(insert(collab_t), collaborators)
            done += count
            print(f"\r  seeding {size:,} survivors: {done:,} ({time.perf_counter() - started:.0f} s)",
                  end="", file=sys.stderr, flush=True)
        mark_seeded(conn, SEED_VERSION, size)
    analyze(app)
    print(f"\r  seeded {size:,} survivors in {time.perf_counter() - started:.1f} s"
          + " " * 20, file=sys.stderr)


def login(app):
    client = app.test_client()
    token = CSRF_RE.search(client.get("/login").text).group(1)
    response = client.post("/login", data={"username": "bench.sup", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302, response.text[:300]
    api = app.test_client()
    response = api.post("/api/v1/auth/token", json={"username": "bench.sup",
                                                    "password": PASSWORD})
    assert response.status_code == 200, response.json
    return client, {"Authorization": f"Bearer {response.json['token']}"}


def measure(app, requests: int) -> dict[str, float]:
    web, headers = login(app)

    def page():
        response = web.get(PAGE)
        assert response.status_code == 200 and "CW-" in response.text, response.status_code

    def api():
        response = web.get(API, headers=headers)
        assert response.status_code == 200 and len(response.json["items"]) == 50

    for _ in range(5):  # warm-up: template compilation, SQL compilation caches, DB cache
        page()
        api()
    statements, sql = capture(app, lambda: web.get(PAGE))
    timings = {"page": [], "api": [], "sql": []}

    def timed(name, fn):
        started = time.perf_counter()
        fn()
        timings[name].append((time.perf_counter() - started) * 1000)

    # In turns, none committing (common.time_against_replay): the replays append the audit
    # rows the captured request would have, which works while no page commits rows of its own.
    for _ in range(requests):
        timed("sql", sql)
        with no_commit():
            timed("page", page)
            timed("api", api)
    result = {name: statistics.median(values) for name, values in timings.items()}
    result["statements"] = len(statements)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", default="1000,100000",
                        help="comma-separated numbers of survivors (default 1000,100000)")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--reseed", action="store_true", help="rebuild the cached databases")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    try:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes takes comma-separated integers, e.g. 1000,100000")
    if not sizes or min(sizes) < 60:
        parser.error("each size must be at least 60 (a full page and more)")

    os.environ.setdefault("CASEWORK_MFA_REQUIRED_ROLES", "")
    from casework import create_app

    results = {}
    for size in sizes:
        url = database_url(args.engine, f"caseload_{size}", args.reseed)
        app = create_app({"CONFIG": "test", "DATABASE_URL": url})
        if not is_seeded(app, SEED_VERSION, size):
            seed(app, size)
        else:
            print(f"  reusing the seeded database of {size:,} survivors", file=sys.stderr)
        results[size] = measure(app, args.requests)
        from casework.extensions import db

        with app.app_context():
            db.engine.dispose()

    smallest, largest = sizes[0], sizes[-1]
    print(f"\nCaseload review — {args.engine}, median of {args.requests} requests "
          "(ms; supervisor, first page of 50, latest intake first)")
    print(f"{'survivors':>10} {'page':>9} {'api':>9} {'page SQL':>9} {'page/SQL':>9} "
          f"{'statements':>10}")
    overhead_ok = growth_ok = True
    for size in sizes:
        r = results[size]
        overhead = r["page"] / r["sql"] if r["sql"] else float("inf")
        overhead_ok &= overhead <= OVERHEAD_GOAL
        print(f"{size:>10,} {r['page']:>9.1f} {r['api']:>9.1f} {r['sql']:>9.2f} "
              f"{overhead:>9.2f} {r['statements']:>10}")
    if len(sizes) > 1:
        growth = results[largest]["page"] / results[smallest]["page"]
        api_growth = results[largest]["api"] / results[smallest]["api"]
        growth_ok = growth <= GROWTH_GOAL
        print(f"growth {largest:,}/{smallest:,}: page {growth:.2f}, api {api_growth:.2f} "
              f"(goal <= {GROWTH_GOAL})")
    print(f"goals: growth <= {GROWTH_GOAL} {'met' if growth_ok else 'NOT met'}; "
          f"page/SQL <= {OVERHEAD_GOAL} {'met' if overhead_ok else 'NOT met'}")
    return 1 if args.check and not (growth_ok and overhead_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
