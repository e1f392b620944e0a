"""Encrypted backups (casework/backup.py), on the engine of the run: a backup restored into an
empty database gives identical data, triggers included; the file holds no plaintext; a wrong
key or a damaged file is refused with one clear line and changes nothing; the CLI creates and
restores; production without a backup key refuses to back up but still starts."""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy.exc
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.pool import NullPool

import config
from casework import audit, backup, create_app
from casework.backup import BackupError, Header, create_backup, restore_backup
from casework.extensions import db
from tests.conftest import ENGINE, PG_ADMIN_URL, Factory

CANARY_FIRST = "Quorvelline"
CANARY_LAST = "Zabthistlewood"
CANARY_USER = "canary-ubqx"
OTHER_KEY = base64.b64encode(b"\x07" * 32).decode()


# --- databases of these tests only ----------------------------------------------------------------


class Databases:
    """Databases these tests create (PostgreSQL: unique names on CASEWORK_TEST_PG_ADMIN) and
    drop again; nothing else is touched."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.created: list[str] = []
        self.apps = []

    def url(self, label: str) -> str:
        if ENGINE == "sqlite":
            return f"sqlite:///{self.folder / f'{label}.db'}"
        name = f"casework_backup_{label}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"

    def app(self, url: str, **settings):
        app = create_app({"CONFIG": "test", "DATABASE_URL": url,
                          "BACKUP_DIR": str(self.folder / "backups"), **settings})
        self.apps.append(app)
        return app

    def close(self):
        for app in self.apps:
            with app.app_context():
                db.engine.dispose()
        for name in self.created:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def module_databases(tmp_path_factory):
    databases = Databases(tmp_path_factory.mktemp("backup"))
    yield databases
    databases.close()


@pytest.fixture
def databases(tmp_path):
    databases = Databases(tmp_path)
    yield databases
    databases.close()


@pytest.fixture(scope="module")
def source(module_databases):
    """A migrated database with users, survivors (one named with the canary) and audit
    events, made through the same factories as the ``make`` fixture."""
    app = module_databases.app(module_databases.url("source"))
    with app.app_context():
        upgrade()
    make = Factory(app)
    make.user("supervisor", team="North")
    lead = make.user("caseworker", team="North", username=CANARY_USER)
    make.user("counsellor", team="North")
    make.survivor(lead, first_name=CANARY_FIRST, last_name=CANARY_LAST, phone="+15550100")
    make.survivor(lead, first_name="Second", last_name="Synthetic")
    with app.test_request_context("/"):
        audit.record(None, "auth.login_failed", actor_username="nobody-known")
        audit.record(None, "digest.sent", actor_username="digest", reason="1 alerts")
        db.session.commit()
    return app


# --- comparing databases ------------------------------------------------------------------------


def snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table of the metadata, and alembic_version, as the database stores
    them (no type processing), in primary-key order."""
    rows: dict[str, list[tuple]] = {}
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
            query = f'SELECT * FROM "{table.name}" ORDER BY ' + ", ".join(f'"{c}"' for c in order)
            rows[table.name] = [tuple(row) for row in conn.execute(text(query))]
        rows["alembic_version"] = sorted(
            conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return rows


def triggers(app) -> set[str]:
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        return set(conn.execute(text(query)).scalars())


def last_event(rows: dict) -> tuple:
    return rows["audit_events"][-1]


def action_of(event_row: tuple) -> str:
    return event_row[4]  # id, occurred_at, actor_id, actor_username, action, ...


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- restore gives identical data ---------------------------------------------------------------


def test_restore_into_an_empty_database_gives_identical_data(source, databases, tmp_path):
    before = snapshot(source)
    assert before["survivors"] and before["users"] and before["alembic_version"]
    with source.app_context():
        made = create_backup(tmp_path / "full.cwbk")
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600

    # The source gained exactly its backup.created event, which the backup cannot hold.
    after = snapshot(source)
    assert {t: r for t, r in after.items() if t != "audit_events"} == \
        {t: r for t, r in before.items() if t != "audit_events"}
    assert after["audit_events"][:-1] == before["audit_events"]
    assert action_of(last_event(after)) == "backup.created"

    target = databases.app(databases.url("restored"))
    asked = []
    with target.app_context():
        result = restore_backup(made.path, confirm=lambda q: asked.append(q) or True)
    assert asked and "empty" in asked[0]
    assert result.previous_contents is None and not result.upgrade_needed

    restored = snapshot(target)
    assert restored.keys() == before.keys()
    for table, rows in before.items():
        if table == "audit_events":
            continue
        assert restored[table] == rows, f"{table} differs after the restore"
    # The audit log is the source's, row by row, followed by the restore's own event, and
    # its chain verifies.
    assert restored["audit_events"][:-1] == before["audit_events"]
    assert action_of(last_event(restored)) == "backup.restored"
    with target.app_context():
        assert audit.verify().ok

    # The append-only triggers came back with the data.
    assert triggers(target) == triggers(source)
    assert {"audit_events_no_update", "audit_events_no_delete"} <= triggers(target) \
        or "audit_events_no_change" in triggers(target)
    with target.app_context():
        for statement in ("UPDATE audit_events SET reason = 'edited' WHERE id = 1",
                          "DELETE FROM audit_events WHERE id = 1"):
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
                with db.engine.begin() as conn:
                    conn.execute(text(statement))


def test_backup_file_holds_no_plaintext(source, tmp_path):
    with source.app_context():
        made = create_backup(tmp_path / "canary.cwbk")
        key = backup.backup_key()
    data = made.path.read_bytes()
    for canary in (CANARY_FIRST, CANARY_LAST, CANARY_USER, "+15550100"):
        assert canary.encode() not in data
        assert canary.encode("utf-16-le") not in data

    # The canaries are in the dump itself, so their absence above is the encryption's doing.
    with open(made.path, "rb") as stream:
        header = Header.read(stream)
        plain = b"".join(backup.decrypt_segments(stream, key, header))
    if ENGINE == "postgresql":  # pg_dump compresses table data: let pg_restore read it out
        plain = subprocess.run(["pg_restore", "--data-only", "-f", "-"], input=plain,
                               capture_output=True, check=True).stdout
    # (Survivor names are encrypted at rest as well, casework/encryption.py: a username is not.)
    for canary in (CANARY_USER,):
        assert canary.encode() in plain


# --- damaged or foreign backups change nothing -------------------------------------------------


@pytest.fixture(scope="module")
def small_segment_backup(source, module_databases):
    """A backup of the source in 4 KiB segments, so that it has many of them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backup, "SEGMENT_SIZE", 4096)
        with source.app_context():
            made = create_backup(module_databases.folder / "small-segments.cwbk")
    data = made.path.read_bytes()
    header_len = len(made.header.raw)
    segment = 4096 + backup.TAG_BYTES
    assert (len(data) - header_len) // segment >= 5
    return data, header_len, segment


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _segments(data, header_len, segment):
    body = data[header_len:]
    return [body[i:i + segment] for i in range(0, len(body), segment)]


def _swap_segments(data, header_len, segment):
    parts = _segments(data, header_len, segment)
    parts[1], parts[2] = parts[2], parts[1]
    return data[:header_len] + b"".join(parts)


def _change_created_at(data, header_len, segment):
    at = data.index(b'"created_at":"') + len(b'"created_at":"') + 3  # a digit of the year
    digit = data[at:at + 1]
    return data[:at] + (b"7" if digit != b"7" else b"8") + data[at + 1:]


def _change_key_id(data, header_len, segment):
    at = data.index(b'"key_id":"') + len(b'"key_id":"')
    return data[:at] + (b"0" if data[at:at + 1] != b"0" else b"1") + data[at + 1:]


DAMAGE = {
    "cut inside the header": (lambda d, h, s: d[:20], "truncated inside its header"),
    "nothing after the header": (lambda d, h, s: d[:h], "truncated"),
    "last segment dropped": (
        lambda d, h, s: d[:h + (len(_segments(d, h, s)) - 1) * s], "fails authentication"),
    "one byte short": (lambda d, h, s: d[:-1], "fails authentication"),
    "bytes appended": (lambda d, h, s: d + d[h:h + s], "fails authentication"),
    "segments swapped": (_swap_segments, "segment 1 fails authentication"),
    "flipped byte in the magic": (lambda d, h, s: _flip(d, 2), "not a Casework backup"),
    "flipped byte in the header length": (lambda d, h, s: _flip(d, 12), "header"),
    "changed date in the header": (_change_created_at, "segment 0 fails authentication"),
    "changed key id in the header": (_change_key_id, "made with backup key"),
    "flipped byte in the first segment": (lambda d, h, s: _flip(d, h + 10), "segment 0"),
    "flipped byte in a middle segment": (lambda d, h, s: _flip(d, h + 3 * s + 100), "segment 3"),
    "flipped byte in the final tag": (lambda d, h, s: _flip(d, len(d) - 1), "fails"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_backup_is_refused_and_changes_nothing(damage, source, small_segment_backup,
                                                       tmp_path):
    data, header_len, segment = small_segment_backup
    change, message = DAMAGE[damage]
    damaged = tmp_path / "damaged.cwbk"
    damaged.write_bytes(change(data, header_len, segment))
    _refused_without_change(source, damaged, message)


def test_backup_under_another_key_is_refused_and_changes_nothing(source, module_databases,
                                                                  small_segment_backup, tmp_path):
    data, _, _ = small_segment_backup
    path = tmp_path / "good.cwbk"
    path.write_bytes(data)
    other = module_databases.app(source.config["DATABASE_URL"], BACKUP_KEY=OTHER_KEY)
    _refused_without_change(other, path, "made with backup key .* but CASEWORK_BACKUP_KEY is")
    # ``other`` still holds a connection (its pool): restoring under it is refused.
    _refused_without_change(source, path, "stop Casework before restoring")
    with other.app_context():
        db.engine.dispose()
    # The file itself was fine: the right key restores it.
    with source.app_context():
        assert restore_backup(path, yes=True).previous_contents is not None


@pytest.mark.skipif(ENGINE != "postgresql", reason="sessions of a PostgreSQL server")
def test_sessions_closed_a_moment_ago_do_not_block_a_restore_but_open_ones_do(source):
    """A closed connection stays in pg_stat_activity until its server process has exited:
    restore must not be refused for the connections its own process just closed."""
    other = sqlalchemy.create_engine(source.config["DATABASE_URL"], poolclass=NullPool)
    held = [other.connect() for _ in range(4)]
    for conn in held:
        conn.execute(text("SELECT 1"))
    with source.app_context():
        assert backup._other_sessions(grace=0.2) == 4
        held.pop().close()
        assert backup._other_sessions(grace=0.2) == 3
        for conn in held:
            conn.close()
        assert backup._other_sessions() == 0


def test_backup_of_an_unknown_schema_revision_is_refused(source, tmp_path):
    with source.app_context():
        key = backup.backup_key()
        engine = db.engine.dialect.name
    from datetime import UTC, datetime

    header = Header.new(engine, datetime.now(UTC), "0123456789ab", key, "test")
    path = tmp_path / "foreign.cwbk"
    with open(path, "wb") as out:
        out.write(header.raw)
        writer = backup.SegmentWriter(out, key, header)
        writer.write(b"not a real dump")
        writer.close()
    _refused_without_change(source, path, "not one of this Casework's migrations")


def _refused_without_change(app, path: Path, message: str) -> None:
    before = snapshot(app)
    folder = Path(app.config["BACKUP_DIR"])
    backups_before = files_in(folder)
    database_folder = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///")).parent
    beside_before = files_in(database_folder) if ENGINE == "sqlite" else []
    with app.app_context(), pytest.raises(BackupError) as refused:
        restore_backup(path, yes=True)
    text_ = str(refused.value)
    assert re.search(message, text_), text_
    assert "\n" not in text_ and "nothing was" in text_
    assert snapshot(app) == before
    assert files_in(folder) == backups_before  # no pre-restore backup was made
    if ENGINE == "sqlite":  # and no decrypted copy is left beside the database
        assert files_in(database_folder) == beside_before


# --- confirmation -------------------------------------------------------------------------------


def test_an_empty_database_is_restored_only_after_a_yes(source, databases, tmp_path):
    with source.app_context():
        made = create_backup(tmp_path / "ask.cwbk")
    target = databases.app(databases.url("unconfirmed"))
    with target.app_context():
        with pytest.raises(BackupError, match="cancelled"):
            restore_backup(made.path, confirm=lambda question: False)
        with pytest.raises(BackupError, match="cancelled"):
            restore_backup(made.path)  # no prompt possible and no --yes
        if ENGINE == "sqlite":
            assert not Path(target.config["DATABASE_URL"].removeprefix("sqlite:///")).exists()
        else:
            with db.engine.connect() as conn:
                assert not conn.execute(text(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar()


# --- the command line ---------------------------------------------------------------------------


def test_cli_creates_and_restores(app, make, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "BACKUP_DIR", str(tmp_path / "backups"))
    lead = make.user("caseworker", team="North")
    make.survivor(lead, first_name=CANARY_FIRST)
    before = snapshot_without_alembic(app)
    runner = app.test_cli_runner()

    created = runner.invoke(args=["backup", "create"])
    assert created.exit_code == 0, created.output
    folder = tmp_path / "backups"
    [name] = files_in(folder)
    assert re.fullmatch(r"casework-backup-\d{8}T\d{6}Z\.cwbk", name)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert "Backup written to" in created.output

    again = runner.invoke(args=["backup", "create", "--output", str(folder / name)])
    assert again.exit_code == 1 and "already exists" in again.output

    make.user("caseworker", team="North")  # a change the restore must undo
    refused = runner.invoke(args=["backup", "restore", str(folder / name)])
    assert refused.exit_code == 1
    assert "is not empty" in refused.output and "--yes" in refused.output
    assert len([line for line in refused.output.splitlines() if line.startswith("Error")]) == 1

    restored = runner.invoke(args=["backup", "restore", "--yes", str(folder / name)])
    assert restored.exit_code == 0, restored.output
    assert "Restored" in restored.output and "previous contents" in restored.output
    after = snapshot_without_alembic(app)
    for table, rows in before.items():
        if table != "audit_events":
            assert after[table] == rows, table
    assert after["audit_events"][:-1] == before["audit_events"]
    assert action_of(last_event(after)) == "backup.restored"
    assert any(n.startswith("casework-pre-restore-") for n in files_in(folder))
    with app.app_context():
        assert audit.verify().ok


def snapshot_without_alembic(app) -> dict[str, list[tuple]]:
    """The session database of the suite is made by create_all, without alembic_version."""
    rows: dict[str, list[tuple]] = {}
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
            query = f'SELECT * FROM "{table.name}" ORDER BY ' + ", ".join(f'"{c}"' for c in order)
            rows[table.name] = [tuple(row) for row in conn.execute(text(query))]
    return rows


# --- the key ------------------------------------------------------------------------------------


@pytest.fixture
def no_casework_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CASEWORK_"):
            monkeypatch.delenv(name)


def test_production_without_backup_key_starts_but_refuses_to_back_up(
        no_casework_environment, monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    monkeypatch.setenv("CASEWORK_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("CASEWORK_DATA_KEYS", '{"k1": "' + base64.b64encode(b"\x02" * 32).decode()
                       + '"}')
    monkeypatch.setenv("CASEWORK_BLIND_INDEX_KEY", base64.b64encode(b"\x04" * 32).decode())
    monkeypatch.setenv("CASEWORK_DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    app = create_app("production")
    result = app.test_cli_runner().invoke(args=["backup", "create"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error:") and "CASEWORK_BACKUP_KEY" in line
    assert not (tmp_path / "instance" / "backups").exists()
    with app.app_context():
        db.engine.dispose()


def test_backup_key_is_checked_and_kept_apart(no_casework_environment, monkeypatch, tmp_path):
    monkeypatch.setenv("CASEWORK_BACKUP_KEY", "too-short")
    with pytest.raises(config.ConfigError, match="CASEWORK_BACKUP_KEY must be base64 of 32"):
        config.load_config("test")
    monkeypatch.setenv("CASEWORK_BACKUP_KEY", OTHER_KEY)
    assert config.load_config("test")["BACKUP_KEY"] == OTHER_KEY

    data_key = base64.b64encode(b"\x01" * 32).decode()  # TestConfig's data key
    app = create_app({"CONFIG": "test", "BACKUP_KEY": data_key})
    with app.app_context(), pytest.raises(BackupError, match="not one of CASEWORK_DATA_KEYS"):
        backup.backup_key()


def test_development_makes_its_backup_key_at_the_first_backup(no_casework_environment,
                                                               monkeypatch, tmp_path):
    instance = tmp_path / "instance"
    monkeypatch.setattr(config, "INSTANCE_DIR", instance)
    settings = config.load_config("development")
    key_file = instance / "backup_key"
    assert settings["BACKUP_KEY_FILE"] == str(key_file) and not key_file.exists()
    assert config.read_or_create_backup_key(key_file, create=False) is None
    made = config.read_or_create_backup_key(key_file, create=True)
    assert len(base64.b64decode(made)) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert config.read_or_create_backup_key(key_file, create=False) == made
