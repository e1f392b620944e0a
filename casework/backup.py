"""Encrypted backups: ``flask --app casework backup create [--output FILE]`` and
``flask --app casework backup restore FILE [--yes]``.

What is backed up
    SQLite: a consistent copy of the live database made with SQLite's online backup API
    (``sqlite3.Connection.backup``), safe while the app runs. PostgreSQL: ``pg_dump
    --format=custom --no-owner --no-privileges``, streamed straight into the encryption, so
    no plaintext dump touches the disk.

The file (``.cwbk``, format version 1)
    ``b"CWBACKUP"`` | format version (u16, big-endian) | header length (u32) | header (JSON:
    engine, created_at, schema_revision from alembic_version, key_id, segment_size, HKDF salt,
    nonce prefix, dump tool) | the dump, encrypted in segments.

    The dump is cut into segments of ``segment_size`` bytes (1 MiB), each sealed with
    AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar, Rogaway and Vizár, 2015; as in
    Tink's streaming AEAD), so that a database of any size streams through one segment of
    memory:

    * file key   = HKDF-SHA256(BACKUP_KEY, salt = 32 random bytes of this file)
    * nonce of i = nonce prefix (7 random bytes) | i (u32) | final (1 on the last segment)
    * AAD of i   = every header byte (from the magic on) | i (u32) | final

    A changed header byte fails every segment; a segment moved, dropped or altered fails its
    own tag; a file cut short ends on a segment that was not sealed as final; bytes appended
    after the final segment make the final one fail. The key id (an HMAC of a constant under
    the key) tells a wrong key apart from damage without revealing anything about the key.

Restoring, safely
    Nothing is touched until the whole backup has been authenticated (SQLite: decrypted into a
    temporary file beside the database and checked with ``PRAGMA quick_check``; PostgreSQL: a
    first pass that authenticates every segment and discards the plaintext). The backup must
    be of the same engine, and its schema revision one of this code's migrations. An empty
    database is restored after a yes at the prompt (or ``--yes``). A database that holds rows
    is only replaced with ``--yes``, and its present contents are first saved as
    ``casework-pre-restore-<time>.cwbk`` beside the other backups. SQLite then swaps the file
    in with one ``os.replace``; PostgreSQL pipes the dump into ``pg_restore --clean --if-exists
    --no-owner --single-transaction``, so a failure leaves the database as it was. Casework
    must be stopped while it restores (a SQLite database still open elsewhere is refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import click
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from . import audit
from .extensions import db

MAGIC = b"CWBACKUP"
FORMAT_VERSION = 1
SUFFIX = ".cwbk"
SEGMENT_SIZE = 1 << 20
TAG_BYTES = 16
KEY_BYTES = 32
SALT_BYTES = 32
NONCE_PREFIX_BYTES = 7
MAX_HEADER_BYTES = 64 * 1024
HKDF_INFO = b"casework backup v1: segment key"
KEY_ID_LABEL = b"casework backup v1: key id"
SQLITE_MAGIC = b"SQLite format 3\x00"
AUDIT_ACTOR = "cli"

# progress(label, total bytes or None) -> a context manager yielding update(bytes done).
Progress = Callable[[str, int | None], object]


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message is one line for the operator."""


@contextmanager
def _no_progress(label: str, total: int | None):
    yield lambda done: None


# --- the key ------------------------------------------------------------------------------------


def backup_key(create: bool = False) -> bytes:
    """BACKUP_KEY (CASEWORK_BACKUP_KEY); in development instance/backup_key, made at the first
    backup when ``create``."""
    config = current_app.config
    value = config.get("BACKUP_KEY")
    if not value and config.get("BACKUP_KEY_FILE"):
        from config import ConfigError, read_or_create_backup_key

        try:
            value = read_or_create_backup_key(config["BACKUP_KEY_FILE"], create)
        except ConfigError as exc:
            raise BackupError(f"{config['BACKUP_KEY_FILE']}: {exc}") from None
    if not value:
        raise BackupError("no backup key: set CASEWORK_BACKUP_KEY (base64 of 32 bytes, not one "
                          "of CASEWORK_DATA_KEYS, kept apart from the backups)")
    try:
        key = base64.b64decode(str(value).strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise BackupError("CASEWORK_BACKUP_KEY must be base64 of 32 bytes")
    if key in _data_keys():
        raise BackupError("CASEWORK_BACKUP_KEY must be a key of its own, not one of "
                          "CASEWORK_DATA_KEYS")
    return key


def _data_keys() -> set[bytes]:
    try:
        entries = json.loads(current_app.config.get("DATA_KEYS") or "{}")
        return {base64.b64decode(v) for v in entries.values()}
    except (TypeError, ValueError, AttributeError, binascii.Error):
        return set()


def key_id(key: bytes) -> str:
    """Names a key without revealing it: the first 8 bytes of an HMAC of a constant."""
    return hmac.new(key, KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


# --- the file format ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    engine: str
    created_at: str
    schema_revision: str | None
    key_id: str
    segment_size: int
    salt: bytes
    nonce_prefix: bytes
    dump: str
    raw: bytes  # the header bytes as stored, magic included: every segment's AAD begins so

    @classmethod
    def new(cls, engine: str, created: datetime, revision: str | None, key: bytes,
            dump: str) -> Header:
        fields = {
            "format": "casework-backup",
            "engine": engine,
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "schema_revision": revision,
            "key_id": key_id(key),
            "segment_size": SEGMENT_SIZE,
            "salt": base64.b64encode(secrets.token_bytes(SALT_BYTES)).decode(),
            "nonce_prefix": base64.b64encode(secrets.token_bytes(NONCE_PREFIX_BYTES)).decode(),
            "dump": dump,
        }
        body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        raw = MAGIC + struct.pack(">HI", FORMAT_VERSION, len(body)) + body
        return cls._from_fields(fields, raw)

    @classmethod
    def _from_fields(cls, fields: dict, raw: bytes) -> Header:
        return cls(
            engine=fields["engine"],
            created_at=fields["created_at"],
            schema_revision=fields["schema_revision"],
            key_id=fields["key_id"],
            segment_size=fields["segment_size"],
            salt=base64.b64decode(fields["salt"], validate=True),
            nonce_prefix=base64.b64decode(fields["nonce_prefix"], validate=True),
            dump=fields.get("dump", ""),
            raw=raw,
        )

    @classmethod
    def read(cls, stream: BinaryIO) -> Header:
        magic = stream.read(len(MAGIC))
        if magic != MAGIC:
            raise BackupError("not a Casework backup (.cwbk) file, or its first bytes are "
                              "damaged; nothing was restored")
        fixed = stream.read(6)
        if len(fixed) != 6:
            raise BackupError("the backup is truncated inside its header; nothing was restored")
        version, length = struct.unpack(">HI", fixed)
        if version != FORMAT_VERSION:
            raise BackupError(f"backup format version {version} is not one this Casework reads "
                              f"(it reads version {FORMAT_VERSION}); nothing was restored")
        if length > MAX_HEADER_BYTES:
            raise BackupError("the backup's header is damaged; nothing was restored")
        body = stream.read(length)
        if len(body) != length:
            raise BackupError("the backup is truncated inside its header; nothing was restored")
        try:
            fields = json.loads(body)
            header = cls._from_fields(fields, MAGIC + fixed + body)
            valid = (
                fields.get("format") == "casework-backup"
                and header.engine in ("sqlite", "postgresql")
                and isinstance(header.created_at, str)
                and isinstance(header.schema_revision, str | None)
                and isinstance(header.key_id, str)
                and type(header.segment_size) is int
                and 1024 <= header.segment_size <= 64 * SEGMENT_SIZE
                and len(header.salt) == SALT_BYTES
                and len(header.nonce_prefix) == NONCE_PREFIX_BYTES
            )
        except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
            valid = False
        if not valid:
            raise BackupError("the backup's header is damaged; nothing was restored")
        return header

    def _aead(self, key: bytes) -> AESGCM:
        file_key = HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=self.salt,
                        info=HKDF_INFO).derive(key)
        return AESGCM(file_key)

    def _nonce_and_aad(self, index: int, final: bool) -> tuple[bytes, bytes]:
        position = struct.pack(">IB", index, 1 if final else 0)
        return self.nonce_prefix + position, self.raw + position


class SegmentWriter:
    """Encrypts what is written to it into segments of ``header.segment_size`` bytes."""

    def __init__(self, out: BinaryIO, key: bytes, header: Header):
        self.out = out
        self.header = header
        self.aead = header._aead(key)
        self.pending = bytearray()
        self.index = 0

    def write(self, data: bytes) -> None:
        self.pending += data
        size = self.header.segment_size
        # Keep at least one byte back: only close() knows which segment is the final one.
        while len(self.pending) > size:
            self._seal(bytes(self.pending[:size]), final=False)
            del self.pending[:size]

    def close(self) -> None:
        self._seal(bytes(self.pending), final=True)
        self.pending = bytearray()

    def _seal(self, chunk: bytes, final: bool) -> None:
        if self.index > 0xFFFF_FFFF:
            raise BackupError("the database is too large for one backup file")
        nonce, aad = self.header._nonce_and_aad(self.index, final)
        self.out.write(self.aead.encrypt(nonce, chunk, aad))
        self.index += 1


def decrypt_segments(stream: BinaryIO, key: bytes, header: Header) -> Iterator[bytes]:
    """The plaintext, one authenticated segment at a time (nothing unauthenticated is
    yielded); raises BackupError at the first segment that fails."""
    aead = header._aead(key)
    size = header.segment_size + TAG_BYTES
    current = _read_up_to(stream, size)
    if not current:
        raise BackupError("the backup is truncated: nothing follows its header; nothing was "
                          "restored")
    index = 0
    while True:
        following = _read_up_to(stream, size)
        final = not following
        nonce, aad = header._nonce_and_aad(index, final)
        try:
            plain = aead.decrypt(nonce, current, aad)
        except (InvalidTag, ValueError):
            raise BackupError(f"the backup is damaged, truncated or was tampered with (segment "
                              f"{index} fails authentication); nothing was restored") from None
        yield plain
        if final:
            return
        current, index = following, index + 1


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_header(path: Path) -> Header:
    with open(path, "rb") as stream:
        return Header.read(stream)


# --- the database -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    url: URL
    engine: str  # "sqlite" | "postgresql"

    @classmethod
    def configured(cls) -> Database:
        url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
        backend = url.get_backend_name()
        if backend == "sqlite":
            if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
                raise BackupError("an in-memory SQLite database cannot be backed up or restored")
        elif backend != "postgresql":
            raise BackupError(f"backups support SQLite and PostgreSQL, not {backend}")
        return cls(url, backend)

    @property
    def path(self) -> Path:
        return Path(self.url.database).resolve()

    def describe(self) -> str:
        if self.engine == "sqlite":
            return f"SQLite database {self.path}"
        return f"PostgreSQL database {self.url.database!r} on {self.url.host or 'localhost'}"


def _sqlite_revision(con: sqlite3.Connection) -> str | None:
    exists = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                         "AND name = 'alembic_version'").fetchone()
    if not exists:
        return None
    rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
    return ",".join(sorted(row[0] for row in rows)) or None


def _postgresql_revision() -> str | None:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return ",".join(sorted(rows)) or None


def _migrations() -> tuple[set[str], str | None]:
    """This code's revisions and its head."""
    from alembic.script import ScriptDirectory

    config = current_app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return {rev.revision for rev in script.walk_revisions()}, script.get_current_head()


def _pg_command_line(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the child's environment with it
    (PGPASSWORD): nothing secret appears on a command line."""
    params = {"host": url.host, "port": str(url.port) if url.port else None,
              "user": url.username, "dbname": url.database}
    for name, value in url.query.items():
        params[name] = value if isinstance(value, str) else value[-1]

    def quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    conninfo = " ".join(f"{name}={quote(value)}" for name, value in params.items() if value)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = url.password
    return conninfo, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools of the "
                          f"server's major version (e.g. postgresql-client-15)")
    return found


def _tool_message(stream: BinaryIO) -> str:
    """The first error line pg_dump or pg_restore wrote (else its last line)."""
    stream.seek(0)
    lines = [line.strip() for line in stream.read().decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if "error:" in line or "FATAL" in line]
    return (errors or lines or ["no message"])[0 if errors else -1]


def _release_connections() -> None:
    db.session.remove()
    db.engine.dispose()


def _tables_with_rows(database: Database) -> list[str]:
    """The application's tables in the database that hold at least one row."""
    names = [table.name for table in db.metadata.sorted_tables]
    if database.engine == "sqlite":
        path = database.path
        if not path.exists() or path.stat().st_size == 0:
            return []
        try:
            con = sqlite3.connect(path, timeout=30)
            try:
                present = {row[0] for row in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                return [name for name in names if name in present and con.execute(
                    f'SELECT 1 FROM "{name}" LIMIT 1').fetchone()]
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a readable SQLite database ({exc}); move it away "
                              f"before restoring") from None
    with db.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        return [name for name in names if name in present and conn.execute(
            text(f'SELECT 1 FROM "{name}" LIMIT 1')).first()]


# --- create -------------------------------------------------------------------------------------


@dataclass
class BackupResult:
    path: Path
    header: Header
    size: int


def backup_dir() -> Path:
    configured = current_app.config.get("BACKUP_DIR")
    folder = Path(configured) if configured else Path(current_app.instance_path) / "backups"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def default_path(created: datetime, prefix: str = "casework-backup") -> Path:
    folder = backup_dir()
    stem = f"{prefix}-{created.strftime('%Y%m%dT%H%M%SZ')}"
    path, n = folder / f"{stem}{SUFFIX}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{SUFFIX}"
    return path


def create_backup(output: Path | None = None, *, progress: Progress = _no_progress,
                  record: bool = True, prefix: str = "casework-backup") -> BackupResult:
    """Write an encrypted backup of the configured database; audited as backup.created."""
    key = backup_key(create=True)
    database = Database.configured()
    created = datetime.now(UTC)
    path = Path(output) if output else default_path(created, prefix)
    if path.exists():
        raise BackupError(f"{path} already exists; name another file with --output")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a folder")
    if database.engine == "sqlite" and not database.path.exists():
        raise BackupError(f"the database file {database.path} does not exist")

    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            if database.engine == "sqlite":
                header = _dump_sqlite(database, out, key, created, progress)
            else:
                header = _dump_postgresql(database, out, key, created, progress)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    size = path.stat().st_size
    if record:
        audit.record(None, "backup.created", actor_username=AUDIT_ACTOR,
                     reason=f"{path.name}: {database.engine}, {size} bytes, schema revision "
                            f"{header.schema_revision or 'none'}, backup key {header.key_id}")
        db.session.commit()
    return BackupResult(path, header, size)


def _dump_sqlite(database: Database, out: BinaryIO, key: bytes, created: datetime,
                 progress: Progress) -> Header:
    # The copy sits beside the database (where its plaintext lives anyway), never beside the
    # backups, and is removed as soon as it is encrypted.
    fd, snapshot = tempfile.mkstemp(dir=database.path.parent,
                                    prefix=f".{database.path.name}.backup-")
    os.close(fd)
    try:
        source = sqlite3.connect(database.path, timeout=30)
        target = sqlite3.connect(snapshot)
        try:
            source.backup(target)  # one step: a consistent snapshot while the app writes on
            revision = _sqlite_revision(target)
        finally:
            target.close()
            source.close()
        header = Header.new("sqlite", created, revision, key, f"sqlite {sqlite3.sqlite_version}")
        out.write(header.raw)
        writer = SegmentWriter(out, key, header)
        with open(snapshot, "rb") as plain, \
                progress("Encrypting the SQLite copy", os.path.getsize(snapshot)) as update:
            while chunk := plain.read(SEGMENT_SIZE):
                writer.write(chunk)
                update(len(chunk))
        writer.close()
        return header
    finally:
        for leftover in ("", "-journal", "-wal", "-shm"):
            Path(f"{snapshot}{leftover}").unlink(missing_ok=True)


def _dump_postgresql(database: Database, out: BinaryIO, key: bytes, created: datetime,
                     progress: Progress) -> Header:
    pg_dump = _tool("pg_dump")
    version = subprocess.run([pg_dump, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    header = Header.new("postgresql", created, _postgresql_revision(), key, version)
    conninfo, env = _pg_command_line(database.url)
    out.write(header.raw)
    writer = SegmentWriter(out, key, header)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [pg_dump, "--format=custom", "--no-owner", "--no-privileges", "--no-password",
             f"--dbname={conninfo}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=env,
        )
        try:
            with progress("Dumping and encrypting (pg_dump)", None) as update:
                while chunk := proc.stdout.read(SEGMENT_SIZE):
                    writer.write(chunk)
                    update(len(chunk))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        proc.stdout.close()
        if proc.wait() != 0:
            raise BackupError(f"pg_dump failed: {_tool_message(errors)}")
    writer.close()
    return header


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- restore ------------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    header: Header
    database: str
    previous_contents: Path | None
    upgrade_needed: bool
    warning: str | None = None


def check_backup(path: Path, key: bytes, database: Database) -> Header:
    """The header's checks: key, engine, schema revision family. Reads no segment."""
    header = read_header(path)
    if header.key_id != key_id(key):
        raise BackupError(f"this backup was made with backup key {header.key_id}, but "
                          f"CASEWORK_BACKUP_KEY is key {key_id(key)} (or the header is "
                          f"damaged); nothing was restored")
    if header.engine != database.engine:
        raise BackupError(f"this is a {header.engine} backup and the database is "
                          f"{database.engine}; nothing was restored")
    if header.schema_revision is not None:
        known, _ = _migrations()
        unknown = [rev for rev in header.schema_revision.split(",") if rev not in known]
        if unknown:
            raise BackupError(f"the backup's schema revision {unknown[0]} is not one of this "
                              f"Casework's migrations (a newer version, or another "
                              f"application); nothing was restored")
    return header


def restore_backup(path: Path, *, yes: bool = False,
                   confirm: Callable[[str], bool] | None = None,
                   progress: Progress = _no_progress) -> RestoreResult:
    """Replace the configured database's contents with the backup at ``path``.

    Refuses, changing nothing, unless every segment authenticates under the configured key.
    An empty database needs ``yes`` or ``confirm(question)``; one holding rows needs ``yes``
    and is first saved to a pre-restore backup."""
    path = Path(path)
    key = backup_key(create=False)
    database = Database.configured()
    header = check_backup(path, key, database)

    filled = _tables_with_rows(database)
    if filled and not yes:
        raise BackupError(f"the {database.describe()} is not empty ({len(filled)} tables hold "
                          f"rows); restoring replaces all of it: run again with --yes (its "
                          f"present contents are saved to a backup first)")
    if not filled and not yes:
        question = (f"Restore the backup made {header.created_at} (schema revision "
                    f"{header.schema_revision or 'none'}) into the empty "
                    f"{database.describe()}?")
        if confirm is None or not confirm(question):
            raise BackupError("restore cancelled; nothing was changed")

    _release_connections()
    if database.engine == "sqlite":
        previous = _restore_sqlite(path, key, header, database, filled, progress)
    else:
        previous = _restore_postgresql(path, key, header, database, filled, progress)
    _release_connections()

    _, head = _migrations()
    result = RestoreResult(header, database.describe(), previous,
                           upgrade_needed=header.schema_revision not in (None, head))
    reason = (f"from {path.name}, made {header.created_at}, schema revision "
              f"{header.schema_revision or 'none'}")
    if previous:
        reason += f"; the previous contents were saved to {previous.name}"
    try:
        audit.record(None, "backup.restored", actor_username=AUDIT_ACTOR, reason=reason)
        db.session.commit()
    except SQLAlchemyError as exc:  # an older schema may not take today's audit row
        db.session.rollback()
        result.warning = (f"the restore is done, but its audit event could not be written "
                          f"({exc.__class__.__name__}); run flask db upgrade")
    return result


def _save_previous(filled: list[str]) -> Path | None:
    if not filled:
        return None
    saved = create_backup(record=False, prefix="casework-pre-restore")
    _release_connections()
    return saved.path


def _restore_sqlite(path: Path, key: bytes, header: Header, database: Database,
                    filled: list[str], progress: Progress) -> Path | None:
    target = database.path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, restored = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.restore-")
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as stream:
            Header.read(stream)
            with progress("Decrypting and checking", path.stat().st_size) as update:
                for chunk in decrypt_segments(stream, key, header):
                    out.write(chunk)
                    update(len(chunk) + TAG_BYTES)
            out.flush()
            os.fsync(out.fileno())
        _check_sqlite_copy(Path(restored), header)
        _take_sqlite_file(target)
        previous = _save_previous(filled)
        if target.exists():
            os.chmod(restored, stat.S_IMODE(target.stat().st_mode))
        os.replace(restored, target)
    except BaseException:
        Path(restored).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return previous


def _check_sqlite_copy(copy: Path, header: Header) -> None:
    with open(copy, "rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError("the backup does not hold a SQLite database; nothing was restored")
    con = sqlite3.connect(copy)
    try:
        check = con.execute("PRAGMA quick_check").fetchone()[0]
        revision = _sqlite_revision(con)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the backup's SQLite database is unreadable ({exc}); nothing was "
                          f"restored") from None
    finally:
        con.close()
    if check != "ok":
        raise BackupError(f"the backup's SQLite database fails its check ({check}); nothing "
                          f"was restored")
    if revision != header.schema_revision:
        raise BackupError(f"the backup's database is at schema revision {revision}, its "
                          f"header says {header.schema_revision}; nothing was restored")
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)


def _take_sqlite_file(target: Path) -> None:
    """Make sure no one else has the database open and that it has no write-ahead log left,
    which would otherwise be replayed into the restored file."""
    if not target.exists():
        return
    in_use = BackupError(f"{target} is open in another process: stop Casework before "
                         f"restoring; nothing was changed")
    try:
        con = sqlite3.connect(target, timeout=2, isolation_level=None)
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            mode = con.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        raise in_use from None
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{target} is not a readable SQLite database ({exc}); move it away "
                          f"before restoring") from None
    if str(mode).lower() != "delete" or any(
            Path(f"{target}{suffix}").exists() for suffix in ("-wal", "-journal")):
        raise in_use


def _restore_postgresql(path: Path, key: bytes, header: Header, database: Database,
                        filled: list[str], progress: Progress) -> Path | None:
    pg_restore = _tool("pg_restore")
    size = path.stat().st_size
    # First pass: authenticate every segment, keep nothing.
    with open(path, "rb") as stream:
        Header.read(stream)
        with progress("Checking the backup", size) as update:
            for chunk in decrypt_segments(stream, key, header):
                update(len(chunk) + TAG_BYTES)
    others = _other_sessions()
    if others:
        raise BackupError(f"{others} other sessions are connected to the "
                          f"{database.describe()}: stop Casework before restoring; nothing was "
                          f"changed")
    previous = _save_previous(filled)

    conninfo, env = _pg_command_line(database.url)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
             "--exit-on-error", "--no-password", f"--dbname={conninfo}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=env,
        )
        try:
            with open(path, "rb") as stream, progress("Restoring (pg_restore)", size) as update:
                if Header.read(stream).raw != header.raw:
                    raise BackupError("the backup changed while it was being restored; nothing "
                                      "was restored")
                for chunk in decrypt_segments(stream, key, header):
                    proc.stdin.write(chunk)
                    update(len(chunk) + TAG_BYTES)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # pg_restore stopped early; its own message follows
        except BaseException:
            # Killing pg_restore ends its connection: the single transaction rolls back.
            proc.kill()
            proc.wait()
            raise
        if proc.wait() != 0:
            raise BackupError(f"pg_restore failed and rolled back (nothing was restored): "
                              f"{_tool_message(errors)}")
    return previous


# A connection closed a moment ago (this process's own pool, just disposed) stays listed in
# pg_stat_activity until its server process has exited, which it does after the client has
# gone: only sessions still there after this long are someone else's.
CLOSING_SESSIONS_GRACE = 2.0  # seconds


def _other_sessions(grace: float | None = None) -> int:
    """How many other client sessions are connected to the configured PostgreSQL database,
    once the ones just closed have had ``grace`` seconds to leave."""
    deadline = time.monotonic() + (CLOSING_SESSIONS_GRACE if grace is None else grace)
    try:
        with db.engine.connect() as conn:
            while True:
                others = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                )).scalar_one()
                # pg_stat_activity is read once per transaction: end it to read afresh.
                conn.rollback()
                if not others or time.monotonic() >= deadline:
                    return others
                time.sleep(0.05)
    finally:
        _release_connections()


# --- CLI: flask --app casework backup create|restore --------------------------------------------


@contextmanager
def _click_progress(label: str, total: int | None):
    if total is None:
        click.echo(f"{label}…", err=True)
        yield lambda done: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@contextmanager
def _one_line_errors():
    """Every failure as one line for the operator, never a traceback."""
    try:
        yield
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise click.ClickException(f"database error: {message[0] if message else exc}") from None
    except OSError as exc:
        raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
                                   ) from None


@click.group("backup", cls=AppGroup)
def backup_group():
    """Encrypted backups of the database (key: CASEWORK_BACKUP_KEY)."""


@backup_group.command("create")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of instance/backups/casework-backup-<UTC time>.cwbk.")
def backup_create(output):
    """Write an encrypted backup of the whole database."""
    with _one_line_errors():
        result = create_backup(output, progress=_click_progress)
    click.echo(f"Backup written to {result.path} ({_size(result.size)}, {result.header.engine}, "
               f"schema revision {result.header.schema_revision or 'none'}, backup key "
               f"{result.header.key_id}). Keep the key apart from the backups.")


@backup_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True,
              help="Do not ask. Needed to replace a database that is not empty (its contents "
                   "are saved to a pre-restore backup first).")
def backup_restore(file, yes):
    """Replace the database's contents with backup FILE (stop Casework first)."""
    with _one_line_errors():
        result = restore_backup(
            file, yes=yes, progress=_click_progress,
            confirm=lambda question: click.confirm(question, default=False),
        )
    click.echo(f"Restored {file.name} (made {result.header.created_at}) into the "
               f"{result.database}.")
    if result.previous_contents:
        click.echo(f"Its previous contents are in {result.previous_contents}.")
    if result.upgrade_needed:
        click.echo("The backup predates this version's schema: run flask --app casework db "
                   "upgrade.")
    if result.warning:
        click.echo(f"Warning: {result.warning}", err=True)
