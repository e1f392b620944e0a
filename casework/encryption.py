"""Encryption at rest of fields (ARCHITECTURE.md, principle 5 and "Data protection").

Which fields: every column whose tier is ``identifying``, and every free-text column (String
or Text without a vocabulary) of tier ``sensitive`` or ``privileged`` — decided here, from
the columns' ``info``, for every model (``should_encrypt``). A column may say
``info["encrypted"] = True/False`` to override the rule.

How: such a column's type becomes ``crypto.Encrypted(original type)``: in the database a
BLOB/BYTEA holding ``crypto.encrypt`` blobs, with ``aad(table, column, row id)`` as
associated data so a blob moved to another row or column does not decrypt. A SQLAlchemy
TypeDecorator cannot do the encryption because it never sees the row id; the ORM does:

- ``before_insert`` / ``before_update`` (mapper events) replace the plaintext of the changed
  encrypted attributes by their blobs (giving a new row its UUID first), and
  ``after_insert`` / ``after_update`` put the plaintext back as the committed value, so the
  object never stays dirty and the rest of the app keeps reading ``survivor.first_name``;
- ``load`` / ``refresh`` (instance events) decrypt the blobs a query loaded — only the
  attributes that were loaded (``load_only`` and deferred columns keep working).

Plaintext values are never ``bytes`` (they are ``str`` or ``date``), which is how a loaded
blob is told from a value already decrypted. Core statements bypass the ORM: the column type
refuses anything but a blob or None, so plaintext cannot be written that way; bulk inserts
(tests/report_data.py, bench/) leave these columns NULL. A date is stored as its ISO text.

Nothing may filter or sort on an encrypted column (the SQL would compare ciphertexts):
exact-match search goes through the blind indexes of casework/survivors/search.py.

``rotate_all`` (``flask keys rotate``) re-encrypts under the newest key every blob still
under an older one, table by table in batches, one commit per batch: an interruption leaves
each row under the old or the new key (both in the ring), and a rerun skips the rows already
done. It also rotates the blobs encrypted by hand elsewhere (``RAW_BLOBS``). The consent log
is append-only; its triggers let exactly this through: new ciphertexts of its free text with
nothing else changed (casework/consent/models.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Date, String, Text, event, func, select, update
from sqlalchemy.orm import Mapper, attributes

from . import crypto
from .crypto import DecryptionError, Encrypted

TIERS_ENCRYPTED_FREE_TEXT = ("sensitive", "privileged")

# Columns encrypted by their own module (not through the ORM events), rotated with the rest.
RAW_BLOBS = (("users", "mfa_secret"), ("referral_letters", "pdf"))


def should_encrypt(column) -> bool:
    """The one rule of which columns are encrypted at rest."""
    info = column.info
    if "encrypted" in info:
        return bool(info["encrypted"])
    tier = info.get("tier")
    if tier == "identifying":
        return True
    return (tier in TIERS_ENCRYPTED_FREE_TEXT and "vocab" not in info
            and isinstance(column.type, String | Text))


@dataclass(frozen=True)
class _Field:
    key: str  # the mapped attribute
    column: str  # the column name
    is_date: bool


# mapper -> (table name, primary key attribute, encrypted fields)
_MAPPED: dict = {}


def _encode(field: _Field, value) -> bytes:
    if field.is_date:
        return value.isoformat().encode() if isinstance(value, date) else str(value).encode()
    return str(value).encode()


def _aad(table: str, field: _Field, row_id) -> bytes:
    return crypto.aad(table, field.column, row_id)


def decrypt_value(table: str, column: str, row_id, blob: bytes, is_date: bool = False,
                  ring: str | None = None):
    """Decrypt one stored blob (under ``ring``, a DATA_KEYS value; default the app's), with
    an error that says which field of which row failed."""
    try:
        text = crypto.decrypt(blob, crypto.aad(table, column, row_id), keys=ring).decode()
    except DecryptionError as exc:
        raise DecryptionError(f"{table}.{column} of row {row_id} cannot be decrypted: {exc}") \
            from None
    return date.fromisoformat(text) if is_date else text


@event.listens_for(Mapper, "instrument_class")
def _install(mapper, class_) -> None:
    table = getattr(mapper, "local_table", None)
    if table is None or not hasattr(table, "columns"):
        return
    fields = []
    for column in table.columns:
        if isinstance(column.type, Encrypted):
            logical = column.type.logical
        elif should_encrypt(column):
            logical = column.type
            column.type = Encrypted(logical)
        else:
            continue
        fields.append(_Field(column.key, column.name, isinstance(logical, Date)))
    if not fields:
        return
    pk = [c for c in table.columns if c.primary_key]
    if len(pk) != 1:
        raise TypeError(f"{table.name}: encrypted fields need a single-column primary key")
    _MAPPED[class_] = (table.name, pk[0].key, tuple(fields))
    for name, handler in (("before_insert", _before_write), ("before_update", _before_write),
                          ("after_insert", _after_write), ("after_update", _after_write)):
        event.listen(mapper, name, handler)
    event.listen(class_, "load", _on_load)
    event.listen(class_, "refresh", _on_refresh)


def _spec(target):
    return _MAPPED[type(target)]


def _before_write(mapper, connection, target) -> None:
    table, pk, fields = _spec(target)
    if getattr(target, pk) is None:
        setattr(target, pk, uuid.uuid4())
    row_id = getattr(target, pk)
    plain = {}
    state = attributes.instance_state(target)
    for field in fields:
        value = state.dict.get(field.key)
        if value is None or isinstance(value, bytes):
            continue
        if state.key is not None and not attributes.get_history(target, field.key).has_changes():
            continue
        plain[field.key] = value
        setattr(target, field.key, crypto.encrypt(_encode(field, value), _aad(table, field, row_id)))
    target.__dict__["_encryption_plain"] = plain


def _after_write(mapper, connection, target) -> None:
    plain = target.__dict__.pop("_encryption_plain", None) or {}
    for key, value in plain.items():
        attributes.set_committed_value(target, key, value)


def _decrypt_loaded(target, keys=None) -> None:
    """Replace the blobs just loaded (``load`` and ``refresh`` events) with their plain
    values, in the instance's dict as the loader itself wrote them: they are loaded, not
    changed, and nothing about them is pending (set_committed_value's bookkeeping would
    find nothing to do, a few microseconds for each of a list's hundred values)."""
    table, pk, fields = _spec(target)
    loaded = attributes.instance_dict(target)
    row_id = loaded.get(pk)
    ring = None  # the app's keys, read once for the object's fields
    for field in fields:
        if keys is not None and field.key not in keys:
            continue
        value = loaded.get(field.key)
        if isinstance(value, bytes):
            ring = ring or crypto.configured_keys()
            loaded[field.key] = decrypt_value(table, field.column, row_id, value, field.is_date,
                                              ring)


def _on_load(target, context) -> None:
    _decrypt_loaded(target)


def _on_refresh(target, context, attrs) -> None:
    _decrypt_loaded(target, set(attrs) if attrs else None)


def encrypt_value(table, column: str, row_id, value) -> bytes | None:
    """The blob to store for ``value`` in ``table.column`` of row ``row_id`` (Core inserts)."""
    if value is None:
        return None
    field = _Field(column, column, isinstance(crypto.logical_type(table.c[column]), Date))
    return crypto.encrypt(_encode(field, value), _aad(table.name, field, row_id))


def decrypt_row(table, row, app=None) -> dict:
    """A row read with Core (``select(table)``), its encrypted columns decrypted (with the
    keys of ``app``, or of the current app)."""
    if app is not None:
        with app.app_context():
            return decrypt_row(table, row)
    values = dict(row)
    pk = [c for c in table.columns if c.primary_key][0].name
    for column in table.columns:
        if isinstance(column.type, Encrypted) and isinstance(values.get(column.name), bytes):
            values[column.name] = decrypt_value(table.name, column.name, values[pk],
                                                values[column.name],
                                                isinstance(column.type.logical, Date))
    return values


# --- which columns, and rotation -----------------------------------------------------------------


def encrypted_columns(metadata) -> list[tuple[str, list[str]]]:
    """(table, [column, ...]) of every column holding blobs, RAW_BLOBS included."""
    out: dict[str, list[str]] = {}
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, Encrypted) or (table.name, column.name) in RAW_BLOBS:
                out.setdefault(table.name, []).append(column.name)
    return list(out.items())


def rows_to_scan(session, metadata) -> int:
    total = 0
    for name, _columns in encrypted_columns(metadata):
        table = metadata.tables[name]
        total += session.scalar(select(func.count()).select_from(table)) or 0
    return total


def rotate_all(session, metadata, batch_size: int = 500, progress=None) -> dict[str, int]:
    """Re-encrypt every blob under the newest key; returns rows re-encrypted per table.

    ``progress(n)`` is called with the number of rows scanned after each batch. Each batch is
    committed: stopped at any point, every row is still readable, and running again continues
    (rows already under the newest key are left as they are).
    """
    if batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    crypto.key_ring()  # a configuration error shows before anything is read
    done: dict[str, int] = {}
    for name, columns in encrypted_columns(metadata):
        table = metadata.tables[name]
        pk = [c for c in table.columns if c.primary_key][0]
        cols = [table.c[c] for c in columns]
        last = None
        changed_in_table = 0
        while True:
            query = select(pk, *cols).order_by(pk).limit(batch_size)
            if last is not None:
                query = query.where(pk > last)
            rows = session.execute(query).all()
            if not rows:
                break
            for row in rows:
                row_id = row[0]
                values = {}
                for column, blob in zip(columns, row[1:], strict=True):
                    if blob is None or not crypto.needs_rotation(blob):
                        continue
                    values[column] = crypto.rotate(blob, crypto.aad(name, column, row_id))
                if values:
                    session.execute(update(table).where(pk == row_id).values(**values))
                    changed_in_table += 1
            session.commit()
            last = rows[-1][0]
            if progress is not None:
                progress(len(rows))
        done[name] = changed_in_table
    return done


def under_old_keys(session, metadata) -> int:
    """How many stored blobs are not under the newest key (0 once rotation has finished)."""
    count = 0
    for name, columns in encrypted_columns(metadata):
        table = metadata.tables[name]
        for row in session.execute(select(*(table.c[c] for c in columns))):
            count += sum(1 for blob in row if blob is not None and crypto.needs_rotation(blob))
    return count


__all__ = ["RAW_BLOBS", "encrypted_columns", "rotate_all", "should_encrypt",
           "under_old_keys"]
