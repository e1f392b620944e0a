"""Migrations and models agree, and every revision upgrades and downgrades (both engines)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from casework import create_app
from casework.extensions import db, migrate
from tests.conftest import ENGINE, PG_ADMIN_URL


@pytest.fixture
def empty_database_url(tmp_path):
    if ENGINE == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"casework_mig_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrating_app(empty_database_url):
    app = create_app({"CONFIG": "test", "DATABASE_URL": empty_database_url})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _revisions(app):
    config = migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


# Alembic cannot reflect indexes on expressions, so it cannot compare them: the test checks
# that each exists by name instead.
EXPRESSION_INDEXES = {"ix_survivors_risk_rank_id"}


def _index_names(conn) -> set[str]:
    if conn.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {row[0] for row in conn.execute(text(query))}


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping")
def test_head_matches_models(migrating_app):
    upgrade()
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = [
            change for change in compare_metadata(context, db.metadata)
            if not (change[0] in ("add_index", "remove_index")
                    and change[1].name in EXPRESSION_INDEXES)
        ]
        assert EXPRESSION_INDEXES <= _index_names(conn)
    assert diff == [], f"models and migrations differ: {diff}"


def test_every_revision_upgrades_and_downgrades(migrating_app):
    revisions = _revisions(migrating_app)
    assert revisions, "no migrations found"
    for revision in revisions:
        upgrade(revision=revision)
    for revision in reversed(revisions):
        downgrade(revision=f"{revision}-1" if revision != revisions[0] else "base")
    tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set(), f"downgrade left tables behind: {tables}"
    upgrade()
    assert "survivors" in inspect(db.engine).get_table_names()


def test_migrated_audit_table_is_append_only(migrating_app):
    upgrade()
    from casework.audit import record

    with migrating_app.test_request_context("/"):
        record(None, "test.event", actor_username="migration-test")
        db.session.commit()
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text("UPDATE audit_events SET action = 'forged'"))
            db.session.flush()
        db.session.rollback()
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text("DELETE FROM audit_events"))
        db.session.rollback()
