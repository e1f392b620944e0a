"""The bare baseline of the survivor page under load (bench/scale.py; not a test).

A minimal Flask app that, for every request, runs the statements one survivor page request
ran (captured from the engine by bench/scale.py into ``BENCH_STATEMENTS``, a pickle) on a raw
psycopg connection of its own, in one transaction rolled back (the audit append included, as
in the single-request baseline), and returns a small HTML string. No ORM, no access policy,
no templates, no sessions: what is left of a request when only its SQL is done.

Served by gunicorn: ``BENCH_DATABASE_URL=postgresql://... BENCH_STATEMENTS=... gunicorn -w 2
--chdir bench 'bare_app:create_app()'``.
"""

from __future__ import annotations

import os
import pickle
import threading

from flask import Flask


def create_app() -> Flask:
    import psycopg
    from common import run_statements  # bench/common.py (gunicorn runs in bench/)

    url = os.environ["BENCH_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with open(os.environ["BENCH_STATEMENTS"], "rb") as f:
        statements = pickle.load(f)
    local = threading.local()
    app = Flask(__name__)

    def connection():
        conn = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = local.conn = psycopg.connect(url)
        return conn

    @app.route("/survivors/<survivor_id>")
    def survivor(survivor_id):
        conn = connection()
        with conn.cursor() as cursor:
            rows = run_statements(cursor, statements)
        conn.rollback()
        return (f"<!doctype html><title>Survivor</title><p>{survivor_id}: "
                f"{len(statements)} statements, {rows} rows</p>")

    return app
