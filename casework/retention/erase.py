"""The erasure routine, shared by erasure on request and the retention run.

What is destroyed is derived from the tiers the models declare (casework/access), in one
place (``erasable_columns``):

* every **identifying** field of the survivor (names, birth date, contact, address);
* every **free-text** field of the **sensitive** and **privileged** tiers, on the survivor and
  on every record about them (services, plans, referrals, counselling notes, consents, closure
  and erasure requests, reassignments...). Coded values (vocabularies: risk level, exploitation
  types...), dates and the case number stay: they identify no one and keep the statistics;
* the stored referral letters' PDFs (the row, reference and SHA-256 stay, so the public
  verification page answers "withdrawn: do not use");
* working rows about the survivor: those of models that declare ``__erasure__ = "delete"``
  or carry no tiered field at all (break-glass grants and their reasons, blind-index/search-key
  rows): deleted.

Consent records stay (they are the history of what was allowed, and letters refer to them);
the database lets their free text be cleared once the survivor is marked erased (triggers in
casework/consent/models.py). The audit log is not touched: it stores field names, never
values of identifying fields.

Values are written through the ORM attributes, so encrypted columns (casework/crypto.py) are
handled like plain ones. On SQLite ``secure_delete`` is switched on for the connection, so the
old values are overwritten in the file rather than left in free space.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, Text, delete, select

from .. import crypto
from ..access.fields import field_specs
from ..extensions import db
from ..survivors.models import Survivor

# Categories, as the certificate and the retention report name them.
IDENTIFYING = "identifying details"
FREE_TEXT = "free-text notes"
LETTERS = "stored referral letters"
WORKING_ROWS = "access grants and search keys"
CATEGORIES = (IDENTIFYING, FREE_TEXT, LETTERS, WORKING_ROWS)

# The categories as the deletion certificate names them (the keys above stay English: they
# are the retention command's output and the audit's field names).
CATEGORY_LABELS = {
    IDENTIFYING: _l("Identifying details"),
    FREE_TEXT: _l("Free-text notes"),
    LETTERS: _l("Stored referral letters"),
    WORKING_ROWS: _l("Access grants and search keys"),
}

KEPT = (_l("Case number, dates and status of the case"),
        _l("Coded, non-identifying values (age band, gender, citizenship, exploitation types)"),
        _l("Services received, as anonymous records counted by the statistics"),
        _l("The consent log's decisions (without their free text)"),
        _l("The audit log (it holds no identifying values)"))



@dataclass
class ErasureCounts:
    by_category: Counter = field(default_factory=Counter)

    def add(self, category: str, n: int = 1) -> None:
        if n:
            self.by_category[category] += n

    def merge(self, other: ErasureCounts) -> None:
        self.by_category.update(other.by_category)

    def as_dict(self) -> dict[str, int]:
        return {category: self.by_category.get(category, 0) for category in CATEGORIES}


def _is_free_text(column, vocab: str | None) -> bool:
    if vocab:
        return False
    # An encrypted column (casework/crypto.py) keeps the type of the value it holds.
    kind = getattr(column.type, "logical", column.type)
    return isinstance(kind, (String, Text))


def _survivor_fk(mapper) -> str | None:
    """The attribute of ``mapper`` that points at survivors.id, if any."""
    for attr in mapper.column_attrs:
        for column in attr.columns:
            if any(fk.column.table.name == "survivors" and fk.column.name == "id"
                   for fk in column.foreign_keys):
                return attr.key
    return None


@cache
def erasable_columns() -> tuple[tuple[type, str, tuple[tuple[str, str, bool], ...]], ...]:
    """(model, attribute naming the survivor or "" for Survivor itself, ((field, category,
    nullable), ...)) for every model holding data about a survivor; an empty tuple means the
    rows are deleted (``__erasure__ = "delete"``, or no tiered field at all)."""
    result = []
    for mapper in sorted(db.Model.registry.mappers, key=lambda m: m.class_.__name__):
        model = mapper.class_
        key = "" if model is Survivor else _survivor_fk(mapper)
        if key is None:
            continue
        specs = field_specs(model)
        columns = []
        for attr in mapper.column_attrs:
            spec = specs.get(attr.key)
            if spec is None:
                continue
            column = attr.columns[0]
            if spec.tier == "identifying":
                columns.append((attr.key, IDENTIFYING, column.nullable))
            elif spec.tier in ("sensitive", "privileged") and _is_free_text(column, spec.vocab):
                columns.append((attr.key, FREE_TEXT, column.nullable))
        if getattr(model, "__erasure__", None) == "delete" or not specs:
            result.append((model, key, ()))
        elif columns:
            result.append((model, key, tuple(columns)))
    return tuple(result)


def _secure_delete() -> None:
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA secure_delete = ON")


def erase(survivor: Survivor, now: datetime, *, apply: bool = True) -> ErasureCounts:
    """Destroy ``survivor``'s identifying data and free text (or, ``apply=False``, count what
    would be destroyed). Leaves the anonymous record; the caller audits and commits."""
    from ..referrals.letters import letter_aad
    from ..referrals.models import Referral, ReferralLetter

    counts = ErasureCounts()
    if apply:
        _secure_delete()
        # Marked first: the consent triggers let free text go once the survivor is erased.
        if not survivor.is_closed:
            survivor.status, survivor.closed_at = "Closed", now
        survivor.erased_at = now
        db.session.flush()
    for model, key, columns in erasable_columns():
        if model is Survivor:
            rows = [survivor]
        else:
            rows = list(db.session.scalars(
                select(model).where(getattr(model, key) == survivor.id)))
        if not columns:
            counts.add(WORKING_ROWS, len(rows))
            if apply and rows:
                db.session.execute(delete(model).where(getattr(model, key) == survivor.id))
            continue
        for row in rows:
            for name, category, nullable in columns:
                value = getattr(row, name)
                if value is None or value == "":
                    continue
                counts.add(category)
                if apply:
                    setattr(row, name, None if nullable else "")
    letters = list(db.session.scalars(
        select(ReferralLetter).join(Referral, ReferralLetter.referral_id == Referral.id)
        .where(Referral.survivor_id == survivor.id)))
    for letter in letters:
        if letter.size:
            counts.add(LETTERS)
            if apply:
                # An encrypted empty document (key rotation expects a blob), size 0: erased.
                letter.pdf, letter.size = crypto.encrypt(b"", letter_aad(letter)), 0
                if letter.revoked_at is None:
                    # The verification page tells a partner not to use the letter any more.
                    letter.revoked_at, letter.revocation = now, "consent_withdrawn"
    if apply:
        db.session.flush()
    return counts
