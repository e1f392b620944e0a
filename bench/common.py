"""What the benchmarks share (bench/caseload.py, bench/reports.py, bench/scale.py).

- Where a seeded database lives and how it is reused: SQLite files under ``.bench-cache/``,
  PostgreSQL databases ``casework_bench_*`` created on the server of
  ``CASEWORK_BENCH_PG_ADMIN``; a marker table records the seed's version and size, so a later
  run reuses the database and ``--reseed`` rebuilds it.
- The bare-SQL baseline of a request: every statement the request ran, captured from the
  engine, replayed straight on a raw DB-API cursor in one transaction and rolled back.
- Timing: median and p95 of a list of milliseconds.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CACHE = ROOT / ".bench-cache"
PG_ADMIN = os.environ.get("CASEWORK_BENCH_PG_ADMIN",
                          "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-password-123"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def database_url(engine: str, name: str, reseed: bool) -> str:
    """The URL of the bench database ``name`` (``.bench-cache/<name>.sqlite`` or the
    PostgreSQL database ``casework_bench_<name>``), created empty when missing, dropped
    first when ``reseed``."""
    if engine == "sqlite":
        CACHE.mkdir(exist_ok=True)
        path = CACHE / f"{name}.sqlite"
        if reseed:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    dbname = f"casework_bench_{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        if reseed:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (dbname,)).fetchone():
            conn.execute(f'CREATE DATABASE "{dbname}"')
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{dbname}"


def marker_table():
    from sqlalchemy import Column, Integer, MetaData, Table

    return Table("bench_seed_marker", MetaData(), Column("version", Integer),
                 Column("size", Integer))


def is_seeded(app, version: int, size: int) -> bool:
    from sqlalchemy import inspect, select

    from casework.extensions import db

    with app.app_context():
        if not inspect(db.engine).has_table("bench_seed_marker"):
            return False
        marker = marker_table()
        with db.engine.connect() as conn:
            row = conn.execute(select(marker.c.version, marker.c.size)).first()
        return row is not None and tuple(row) == (version, size)


def reset_schema(app) -> None:
    """An empty schema (the app's tables, no marker): a seed starts here."""
    from casework.extensions import db

    with app.app_context():
        db.drop_all()
        marker_table().drop(db.engine, checkfirst=True)
        db.create_all()


def mark_seeded(conn, version: int, size: int) -> None:
    """Written last, in the seed's transaction: a seed cut short is not reused."""
    from sqlalchemy import insert

    marker = marker_table()
    marker.create(conn)
    conn.execute(insert(marker).values(version=version, size=size))


def analyze(app) -> None:
    from casework.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


class Progress:
    """One line on stderr, rewritten: ``label: done/total [#####.....] 12 s``."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.started = label, total, time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        now = time.perf_counter()
        total = total or self.total
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        width = 30
        filled = int(width * done / total) if total else width
        print(f"\r  {self.label}: {done:,}/{total:,} [{'#' * filled}{'.' * (width - filled)}] "
              f"{now - self.started:.0f} s", end="", file=sys.stderr, flush=True)

    def done(self, message: str) -> float:
        elapsed = time.perf_counter() - self.started
        print(f"\r  {message} in {elapsed:.1f} s" + " " * 40, file=sys.stderr)
        return elapsed


def login(app, username: str, password: str = PASSWORD):
    """A test client logged in through the login form (CSRF on, as in production)."""
    client = app.test_client()
    token = CSRF_RE.search(client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token})
    assert response.status_code == 302, response.text[:300]
    return client


def api_headers(app, username: str, password: str = PASSWORD) -> dict:
    response = app.test_client().post("/api/v1/auth/token",
                                      json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def no_commit():
    """While active, the request's commit rolls back instead: a write can be repeated. What
    the commit would have written first (the ORM's flush, the audit events waiting for it)
    is still sent, so that a captured request holds every statement a real one runs."""
    from casework.audit import write_pending
    from casework.extensions import db

    def rollback_instead():
        db.session.flush()
        write_pending(db.session())
        db.session.rollback()

    return patch.object(db.session, "commit", rollback_instead)


def capture(app, request: Callable[[], object], *, expect: int | tuple = 200):
    """Every statement ``request()`` runs (reads, the audit appends, the session and user
    lookups, the navigation's alert count...), captured from the engine, and a function that
    replays them straight on a DB-API cursor in one transaction, rolled back.

    The captured request itself is rolled back rather than committed, so that the replays
    can append the same audit rows (each replay rolls back too; the audit table is
    append-only). Run the replays before requests that commit rows of their own, or
    between requests that do not (``time_against_replay``)."""
    from sqlalchemy import event

    from casework.extensions import db

    captured = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters, executemany))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with no_commit():
            response = request()
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert response.status_code in expected, (response.status_code, response.text[:300])
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    # One transaction for the replay: the request's own BEGINs (SQLite: BEGIN IMMEDIATE; the
    # server-side session store opens one of its own at the request's edges) are folded into
    # the replay's single BEGIN.
    statements = [(sql, params, many) for sql, params, many in captured
                  if sql.strip().upper() not in ("COMMIT", "ROLLBACK")
                  and not sql.strip().upper().startswith("BEGIN")]
    begin = "BEGIN IMMEDIATE" if any(sql.strip().upper().startswith("BEGIN")
                                     for sql, _p, _m in captured) else None
    raw = None

    def run():
        nonlocal raw
        if raw is None:
            with app.app_context():
                raw = db.engine.raw_connection()
        cursor = raw.cursor()
        if begin:
            cursor.execute(begin)
        run_statements(cursor, statements)
        cursor.close()
        raw.rollback()

    def close():
        if raw is not None:
            raw.close()

    run.close = close
    return statements, run


def run_statements(cursor, statements) -> int:
    """Run captured ``(sql, params, executemany)`` statements on a DB-API cursor, fetching
    every result; how many rows came back."""
    rows = 0
    for sql, params, many in statements:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        if cursor.description is not None:
            rows += len(cursor.fetchall())
    return rows


def time_ms(fn: Callable[[], object], times: int) -> list[float]:
    values = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        values.append((time.perf_counter() - started) * 1000)
    return values


def time_against_replay(request: Callable[[], object], replay: Callable[[], object],
                        times: int) -> tuple[list[float], list[float]]:
    """Milliseconds of ``request`` and of its captured statements' ``replay``, ``times``
    each, taken in turns, the request's commit rolled back (``no_commit``) as the replay's
    is: both send the same statements and neither commits, and whatever else the machine
    does meanwhile slows both alike (on a shared machine speed drifts by a third from one
    minute to the next, which would tilt a ratio of two runs taken one after the other)."""
    requests, replays = [], []
    for _ in range(times):
        replays.extend(time_ms(replay, 1))
        with no_commit():
            requests.extend(time_ms(request, 1))
    return requests, replays


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
