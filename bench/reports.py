"""Benchmark of donor impact report generation over 1,000,000 service records (not a test).

A dedicated database is seeded once with synthetic survivors and their service records
(tests/report_data.py: shelter stays, counselling sessions, enrolments, legal matters,
referrals; about 10 records a survivor) — SQLite ``.bench-cache/reports-<records>.sqlite``,
PostgreSQL the database ``casework_bench_reports_<records>`` — and reused by later runs
(``--reseed`` rebuilds it).

Then, ``--runs`` times (default 5), a supervisor drafts the whole organisation's report for
the twelve months of 2025 (``reports.service.create_draft``: every aggregation, disclosure
control, storing the draft; rolled back after each run), and, alternating with it, the same
aggregations as bare SQL: every statement the draft ran, captured from the engine, replayed
straight on a DB-API cursor. It prints the median seconds of each and their ratio (goal:
at most 1.5).

Usage: ``python bench/reports.py [--engine sqlite|postgresql] [--records 1000000]
[--runs 5] [--reseed] [--check]``. PostgreSQL: ``CASEWORK_BENCH_PG_ADMIN``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    PASSWORD,
    analyze,
    database_url,
    is_seeded,
    mark_seeded,
    reset_schema,
)

SEED_VERSION = 3  # bump when the schema or the seed changes
RECORDS_PER_SURVIVOR = 10
GOAL = 1.5
PERIOD = (date(2025, 1, 1), date(2025, 12, 31))


def seed(app, records: int) -> None:

    from casework.auth.service import create_user
    from casework.extensions import db
    from tests.report_data import seed_caseload

    started = time.perf_counter()
    reset_schema(app)
    with app.test_request_context("/"):
        create_user("bench.sup", "supervisor", PASSWORD, team="Bench")
        lead = create_user("bench.cw", "caseworker", PASSWORD, team="Bench")
        db.session.commit()
        lead_id = lead.id
    survivors = records // RECORDS_PER_SURVIVOR

    def progress(done, total):
        print(f"\r  seeding {total:,} survivors with about {records:,} service records: "
              f"{done:,} ({time.perf_counter() - started:.0f} s)", end="", file=sys.stderr,
              flush=True)

    with app.app_context(), db.engine.begin() as conn:
        caseload = seed_caseload(conn, rng=random.Random(records), survivors=survivors,
                                 records_per_survivor=RECORDS_PER_SURVIVOR,
                                 first_day=date(2023, 1, 1), last_day=date(2025, 12, 31),
                                 lead_id=lead_id, progress=progress)
        mark_seeded(conn, SEED_VERSION, records)
    analyze(app)
    print(f"\r  seeded {survivors:,} survivors and {caseload.records:,} service records in "
          f"{time.perf_counter() - started:.0f} s" + " " * 20, file=sys.stderr)


def measure(app, runs: int) -> dict[str, float]:
    from sqlalchemy import event, select

    from casework.auth.models import User
    from casework.extensions import db
    from casework.reports import service

    captured: list = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters, executemany))

    def draft(capture: bool = False) -> None:
        with app.test_request_context("/"):
            user = db.session.scalar(select(User).where(User.username == "bench.sup"))
            if capture:
                event.listen(db.engine, "before_cursor_execute", listener)
            try:
                service.create_draft(user, None, *PERIOD)
                db.session.flush()
            finally:
                if capture:
                    event.remove(db.engine, "before_cursor_execute", listener)
                db.session.rollback()

    draft()  # warm-up (caches)
    draft(capture=True)
    # The aggregations only: the statements that read (the draft's INSERTs are its own work).
    reads = [(sql, params) for sql, params, many in captured
             if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    raw = None

    def bare() -> None:
        nonlocal raw
        if raw is None:
            with app.app_context():
                raw = db.engine.raw_connection()
        cursor = raw.cursor()
        for sql, params in reads:
            cursor.execute(sql, params)
            cursor.fetchall()
        cursor.close()
        raw.rollback()

    timings = {"report": [], "sql": []}
    for _ in range(runs):
        for name, fn in (("report", draft), ("sql", bare)):
            started = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - started)
    result = {name: statistics.median(values) for name, values in timings.items()}
    result["statements"] = len(reads)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()
    if args.records < 1000:
        parser.error("--records must be at least 1000")

    os.environ.setdefault("CASEWORK_MFA_REQUIRED_ROLES", "")
    from casework import create_app
    from casework.extensions import db

    url = database_url(args.engine, f"reports_{args.records}", args.reseed)
    app = create_app({"CONFIG": "test", "DATABASE_URL": url})
    if not is_seeded(app, SEED_VERSION, args.records):
        seed(app, args.records)
    else:
        print(f"  reusing the seeded database of {args.records:,} service records",
              file=sys.stderr)
    result = measure(app, args.runs)
    with app.app_context():
        db.engine.dispose()
    ratio = result["report"] / result["sql"] if result["sql"] else float("inf")
    print(f"\nDonor report — {args.engine}, {args.records:,} service records, whole "
          f"organisation, 12 months; median of {args.runs} runs (seconds)")
    print(f"{'report':>9} {'bare SQL':>9} {'ratio':>7} {'statements':>10}")
    print(f"{result['report']:>9.3f} {result['sql']:>9.3f} {ratio:>7.2f} "
          f"{result['statements']:>10}")
    print(f"goal: report/SQL <= {GOAL} {'met' if ratio <= GOAL else 'NOT met'}")
    return 1 if args.check and ratio > GOAL else 0


if __name__ == "__main__":
    sys.exit(main())
