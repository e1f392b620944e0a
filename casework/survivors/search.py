"""Search-before-create through keyed blind indexes (ARCHITECTURE.md, principle 5).

Names, birth dates, phone numbers and emails are encrypted at rest (casework/encryption.py),
so they cannot be searched in SQL. Each survivor instead has rows in ``survivor_search_keys``
``(survivor_id, kind, digest)`` where ``digest`` is HMAC-SHA256 under ``BLIND_INDEX_KEY`` (a
key of its own) of ``kind:normalised value``, truncated to 16 bytes: equal values give equal
digests, so a lookup is an indexed equality on (kind, digest), and nothing in the table can
be read back or compared with another installation's.

Kinds:
- ``name``: each token of first name, last name and "known as" after normalisation (NFKD,
  marks stripped, casefolded, đ→d and the like, punctuation to spaces);
- ``phon``: the phonetic key of each ASCII token (Match Rating Approach codex, jellyfish),
  so "Nguyen", "Nguyễn" and "Ngyuen" share one (NGYN);
- ``dob``: the ISO birth date; ``phone``: the last 9 digits; ``email``: casefolded.

A survivor is a possible duplicate when (the rule, in ``matching_ids``):
- the phone number or the email is the same; or
- the birth date is the same and at least one name token sounds alike; or
- at least two of the searched name tokens sound alike and at most one does not
  ("Ngyuen Lan" finds "Nguyen Thi Lan", and the other way round).
Names that share two common parts ("Nguyen Thi Hoa" and "Nguyen Thi Lan") are shown as
possible matches too: a duplicate missed costs more than one looked at.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
import uuid
from datetime import date

import jellyfish
from flask import current_app
from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    String,
    and_,
    case,
    delete,
    distinct,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UUIDPrimaryKey

DIGEST_BYTES = 16
NAME_FIELDS = ("first_name", "last_name", "known_as")
INDEXED_FIELDS = (*NAME_FIELDS, "date_of_birth", "phone", "email")
# Letters NFKD does not decompose into a base letter and a mark.
_FOLD = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l",
                       "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ı": "i", "þ": "th"})
_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)


class SurvivorSearchKey(UUIDPrimaryKey, db.Model):
    __tablename__ = "survivor_search_keys"
    # Keyed digests of names, birth date and phone: erasure deletes them with the names.
    __erasure__ = "delete"
    __table_args__ = (Index("ix_survivor_search_keys_kind_digest", "kind", "digest"),)

    survivor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("survivors.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    digest: Mapped[bytes] = mapped_column(LargeBinary(DIGEST_BYTES))


class BlindIndexKeyError(RuntimeError):
    """BLIND_INDEX_KEY is missing or malformed."""


def _key() -> bytes:
    value = current_app.config.get("BLIND_INDEX_KEY")
    try:
        key = base64.b64decode(value or "", validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise BlindIndexKeyError("BLIND_INDEX_KEY must be base64 of 32 bytes")
    return key


def normalise(text: str | None) -> str:
    """NFKD, marks stripped, casefolded, special letters folded, spaces collapsed."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = folded.casefold().translate(_FOLD)
    return " ".join(_SEPARATORS.sub(" ", folded).split())


def name_tokens(*names: str | None) -> list[str]:
    tokens = []
    for name in names:
        tokens.extend(t for t in normalise(name).split() if len(t) >= 2 and t not in tokens)
    return tokens


def phonetic(token: str) -> str | None:
    if not token.isascii() or not token.isalpha():
        return None
    return jellyfish.match_rating_codex(token) or None


def digest(kind: str, value: str) -> bytes:
    return hmac.new(_key(), f"{kind}:{value}".encode(), hashlib.sha256).digest()[:DIGEST_BYTES]


def _phone_key(phone: str | None) -> str | None:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-9:] if len(digits) >= 6 else None


def keys_for(values: dict) -> set[tuple[str, bytes]]:
    """(kind, digest) pairs of the identifying values in ``values`` (field -> value)."""
    out: set[tuple[str, bytes]] = set()
    for token in name_tokens(*(values.get(f) for f in NAME_FIELDS)):
        out.add(("name", digest("name", token)))
        code = phonetic(token)
        if code:
            out.add(("phon", digest("phon", code)))
    dob = values.get("date_of_birth")
    if isinstance(dob, date):
        out.add(("dob", digest("dob", dob.isoformat())))
    phone = _phone_key(values.get("phone"))
    if phone:
        out.add(("phone", digest("phone", phone)))
    email = (values.get("email") or "").strip().casefold()
    if email:
        out.add(("email", digest("email", email)))
    return out


def reindex(survivor) -> None:
    """Replace the survivor's search keys by those of its current values."""
    if survivor.id is None:
        survivor.id = uuid.uuid4()
    db.session.execute(delete(SurvivorSearchKey)
                       .where(SurvivorSearchKey.survivor_id == survivor.id))
    values = {name: getattr(survivor, name) for name in INDEXED_FIELDS}
    db.session.add_all(SurvivorSearchKey(survivor_id=survivor.id, kind=kind, digest=d)
                       for kind, d in sorted(keys_for(values)))


def matching_ids(values: dict, limit: int = 50) -> list[uuid.UUID]:
    """Ids of survivors that may be the person described by ``values``, best first.

    A survivor matches on the same phone or email; on the same birth date and a name that
    sounds alike (one phonetic key in common); or, without those, on two or more phonetic
    keys covering all but one of the searched name's. Best first: most keys in common.
    Counted by the database (GROUP BY, HAVING): a common name matches thousands of keys at
    national scale, which are not worth carrying into Python one by one.
    """
    keys = keys_for(values)
    if not keys:
        return []
    searched_phon = len({d for kind, d in keys if kind == "phon"})
    key = SurvivorSearchKey

    def count_of(*kinds):
        return func.sum(case((key.kind.in_(kinds), 1), else_=0))

    strong, dob = count_of("phone", "email"), count_of("dob")
    # Distinct keys: the sets the rule speaks of (a key stored twice counts once).
    alike = func.count(distinct(case((key.kind == "phon", key.digest))))
    score = func.count(distinct(key.digest))
    rows = db.session.execute(
        select(key.survivor_id)
        .where(tuple_(key.kind, key.digest).in_(sorted(keys)))
        .group_by(key.survivor_id)
        .having(or_(strong > 0,
                    and_(dob > 0, alike >= 1),
                    and_(alike >= 2, alike >= searched_phon - 1)))
        .order_by(score.desc(), key.survivor_id)
        .limit(limit)
    ).scalars()
    return list(rows)
