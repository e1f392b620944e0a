"""Encryption at rest: AES-256-GCM with a key ring (ARCHITECTURE.md, "Data protection").

Keys come from ``app.config["DATA_KEYS"]``: a JSON object ``{"key id": "base64 of 32 bytes"}``
whose LAST entry is the newest key. New data is always encrypted under the newest key; older
keys stay in the ring so that what they encrypted can still be read until ``flask keys
rotate`` re-encrypts it (``needs_rotation`` tells which blobs still use an older key).

A blob is ``len(key id) (1 byte) || key id (UTF-8) || nonce (12 random bytes) || ciphertext
and GCM tag``. The associated data binds a blob to where it is stored (``aad(table, column,
row id)``): a blob copied into another row or column does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import LargeBinary, TypeDecorator

NONCE_BYTES = 12
KEY_BYTES = 32


class KeyRingError(RuntimeError):
    """DATA_KEYS is missing or malformed (a configuration error, shown to the operator)."""


class DecryptionError(ValueError):
    """The blob is damaged, was moved to another place, or its key is not in the ring."""


@lru_cache(maxsize=8)
def parse_key_ring(config_value: str) -> tuple[tuple[str, bytes], ...]:
    """(key id, key) pairs in configuration order, the newest last."""
    try:
        entries = json.loads(config_value)
    except (TypeError, ValueError):
        raise KeyRingError('DATA_KEYS must be a JSON object {"key id": "base64 key"}') from None
    if not isinstance(entries, dict) or not entries:
        raise KeyRingError('DATA_KEYS must be a non-empty JSON object {"key id": "base64 key"}')
    ring = []
    for key_id, encoded in entries.items():
        if not key_id or len(key_id.encode()) > 255:
            raise KeyRingError("a DATA_KEYS key id must have 1 to 255 bytes")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise KeyRingError(f"DATA_KEYS[{key_id!r}] is not base64") from None
        if len(key) != KEY_BYTES:
            raise KeyRingError(f"DATA_KEYS[{key_id!r}] must decode to {KEY_BYTES} bytes")
        ring.append((key_id, key))
    return tuple(ring)


def configured_keys() -> str:
    """The app's DATA_KEYS setting (as configured: ``parse_key_ring`` reads it)."""
    value = current_app.config.get("DATA_KEYS")
    if not value:
        raise KeyRingError("DATA_KEYS is not configured")
    return value


def key_ring(config_value: str | None = None) -> tuple[tuple[str, bytes], ...]:
    return parse_key_ring(config_value if config_value is not None else configured_keys())


def aad(table: str, column: str, row_id) -> bytes:
    """Associated data binding a blob to one column of one row."""
    return f"{table}/{column}/{row_id}".encode()


def encrypt(plaintext: bytes, aad: bytes, *, keys: str | None = None) -> bytes:
    """Encrypt under the newest key of the ring."""
    key_id, key = key_ring(keys)[-1]
    nonce = os.urandom(NONCE_BYTES)
    kid = key_id.encode()
    return bytes([len(kid)]) + kid + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def split(blob: bytes) -> tuple[str, bytes, bytes]:
    """(key id, nonce, ciphertext) of a blob; DecryptionError if it cannot be one."""
    if not blob or len(blob) < 1 + blob[0] + NONCE_BYTES + 16:
        raise DecryptionError("not an encrypted blob")
    length = blob[0]
    try:
        key_id = blob[1:1 + length].decode()
    except UnicodeDecodeError:
        raise DecryptionError("not an encrypted blob") from None
    nonce = blob[1 + length:1 + length + NONCE_BYTES]
    return key_id, nonce, blob[1 + length + NONCE_BYTES:]


@lru_cache(maxsize=8)
def _ciphers(config_value: str) -> dict[str, AESGCM]:
    """An AES-GCM cipher for each key of a ring (its DATA_KEYS value), made once (a list
    decrypts a hundred values; the cipher holds no state between calls)."""
    return {key_id: AESGCM(key) for key_id, key in parse_key_ring(config_value)}


def decrypt(blob: bytes, aad: bytes, *, keys: str | None = None) -> bytes:
    """Decrypt with whichever key of the ring (``keys``, default the app's DATA_KEYS)
    encrypted ``blob``."""
    key_id, nonce, ciphertext = split(blob)
    cipher = _ciphers(keys if keys is not None else configured_keys()).get(key_id)
    if cipher is None:
        raise DecryptionError(f"key {key_id!r} is not in the key ring")
    try:
        return cipher.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise DecryptionError("the blob was altered or belongs elsewhere") from None


def key_id_of(blob: bytes) -> str:
    return split(blob)[0]


def needs_rotation(blob: bytes, *, keys: str | None = None) -> bool:
    """True when ``blob`` is not encrypted under the newest key (``flask keys rotate``)."""
    return key_id_of(blob) != key_ring(keys)[-1][0]


def rotate(blob: bytes, aad: bytes, *, keys: str | None = None) -> bytes:
    """Re-encrypt ``blob`` under the newest key (unchanged if it already is)."""
    if not needs_rotation(blob, keys=keys):
        return blob
    return encrypt(decrypt(blob, aad, keys=keys), aad, keys=keys)


# --- the column type of encrypted fields (casework/encryption.py encrypts and decrypts) -------


class Encrypted(TypeDecorator):
    """A column that stores ``encrypt`` blobs (BYTEA/BLOB) of a value of type ``logical``.

    The type only stores bytes: the ORM events of casework/encryption.py turn the plaintext
    of a mapped attribute into a blob just before a flush (the associated data needs the row
    id, which a type never sees) and back after a load. Anything else given to such a column
    is refused, so plaintext can never reach the table by another path (a Core insert with a
    name in it fails loudly instead of storing it). ``logical`` keeps what the value is (its
    kind and maximum length) for validation and the API.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, logical):
        super().__init__()
        self.logical = logical

    def process_bind_param(self, value, dialect):
        if value is None or isinstance(value, bytes):
            return value
        raise TypeError("an encrypted column takes an encrypted blob or None, not plaintext")

    def __repr__(self) -> str:
        return f"Encrypted({self.logical!r})"


def logical_type(column):
    """The type of the value a column holds (the plaintext's, for an encrypted column)."""
    return column.type.logical if isinstance(column.type, Encrypted) else column.type
