"""Consent records and the consent texts they were given on.

Records are append-only: a withdrawal is a new record pointing at the grant it withdraws.
The database refuses to change them (triggers below) and to delete them unless their survivor
is being erased with them (the ``ON DELETE CASCADE`` of a retention run). One change is
allowed: once the survivor is erased (``survivors.erased_at`` set, casework/retention), the
free text of their consents (interpreter, notes) may be cleared, and nothing else.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime

from sqlalchemy import (
    DDL,
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import append_only, vocab
from ..auth.models import User
from ..extensions import db
from ..models_base import SurvivorOwned, UTCDateTime, UUIDPrimaryKey, utcnow
from ..referrals.models import Partner

PURPOSES = vocab.local("consent_purpose", [
    ("data_processing", "Data processing"),
    ("referral_sharing", "Sharing with a referral partner"),
    ("anonymised_statistics", "Anonymised statistics"),
    ("contact", "Contacting the survivor"),
])
SCOPES = vocab.local("consent_scope", [
    ("identity", "Identity (name, birth date)"),
    ("contact", "Contact details"),
    ("demographics", "Demographics"),
    ("trafficking_context", "Trafficking context"),
    ("service_history", "Services received"),
])
STATUSES = vocab.local("consent_status", [
    ("granted", "Granted"),
    ("refused", "Refused"),
    ("withdrawn", "Withdrawn"),
])
METHODS = vocab.local("consent_method", [
    ("written", "Written"),
    ("verbal", "Verbal"),
    ("guardian", "By a guardian (minor)"),
])

OPERATIONAL = {"tier": "operational"}
READ_ONLY = {"tier": "operational", "read_only": True}


class ConsentForm(UUIDPrimaryKey, db.Model):
    """The text a survivor is shown, per version and language. Never changed once stored:
    a consent records the SHA-256 of the text it was given on."""

    __tablename__ = "consent_forms"
    __table_args__ = (UniqueConstraint("version", "language"),)

    version: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(3))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @staticmethod
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sql_in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Consent(UUIDPrimaryKey, SurvivorOwned, db.Model):
    """One decision of a survivor (or their guardian), recorded once and never changed."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(_sql_in("purpose", PURPOSES.values), name="purpose"),
        CheckConstraint(_sql_in("status", STATUSES.values), name="status"),
        CheckConstraint(_sql_in("method", METHODS.values), name="method"),
        # A partner is named exactly when the purpose is sharing with a partner.
        CheckConstraint(
            "(purpose = 'referral_sharing' AND partner_id IS NOT NULL)"
            " OR (purpose <> 'referral_sharing' AND partner_id IS NULL)",
            name="partner_for_sharing",
        ),
        # A withdrawal, and only a withdrawal, points at the record it withdraws.
        CheckConstraint(
            "(status = 'withdrawn' AND withdraws_id IS NOT NULL)"
            " OR (status <> 'withdrawn' AND withdraws_id IS NULL)",
            name="withdrawal_target",
        ),
        # A grant is withdrawn at most once.
        Index("uq_consents_withdraws_id", "withdraws_id", unique=True,
              sqlite_where=db.text("withdraws_id IS NOT NULL"),
              postgresql_where=db.text("withdraws_id IS NOT NULL")),
        Index("ix_consents_survivor_purpose_partner", "survivor_id", "purpose", "partner_id",
              "recorded_at"),
    )

    purpose: Mapped[str] = mapped_column(String(30), info={**OPERATIONAL, "vocab": PURPOSES.name})
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"),
                                                         info=OPERATIONAL)
    # Groups of survivor fields that may be shared (casework/referrals/letters maps them).
    scope: Mapped[list[str]] = mapped_column(JSON, default=list,
                                             info={**OPERATIONAL, "vocab": SCOPES.name})
    status: Mapped[str] = mapped_column(String(10), info={**OPERATIONAL, "vocab": STATUSES.name})
    method: Mapped[str] = mapped_column(String(10), info={**OPERATIONAL, "vocab": METHODS.name})
    # The language the consent was explained and given in (says which language the survivor
    # speaks, like the survivor's primary language: demographic).
    language: Mapped[str] = mapped_column(String(3), info={"tier": "demographic",
                                                           "vocab": "iso639"})
    # The interpreter's name (free text naming a person: sensitive). Empty: no interpreter.
    interpreter: Mapped[str | None] = mapped_column(String(120), info={"tier": "sensitive"})
    # Free text: for a withdrawal, the survivor's reason.
    notes: Mapped[str | None] = mapped_column(Text, info={"tier": "sensitive"})
    form_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consent_forms.id"))
    form_version: Mapped[str] = mapped_column(String(20), info=OPERATIONAL)
    form_language: Mapped[str] = mapped_column(String(3), info=READ_ONLY)
    form_sha256: Mapped[str] = mapped_column(String(64), info=READ_ONLY)
    expires_on: Mapped[date | None] = mapped_column(Date, info=OPERATIONAL)
    withdraws_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consents.id"),
                                                           info=READ_ONLY)
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), info=READ_ONLY)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, info=READ_ONLY)

    partner: Mapped[Partner | None] = relationship()
    form: Mapped[ConsentForm] = relationship()
    recorder: Mapped[User] = relationship(foreign_keys=[recorded_by])

    def in_force_on(self, day: date) -> bool:
        """Granted and not expired on ``day`` (withdrawal is a separate record)."""
        return self.status == "granted" and (self.expires_on is None or self.expires_on >= day)

    def __repr__(self) -> str:
        return f"<Consent {self.purpose} {self.status}>"


# --- append-only, enforced by the database ---------------------------------------------------
# The same statements must be in the migration that creates these tables.
_ERASED = "NOT EXISTS (SELECT 1 FROM survivors WHERE survivors.id = OLD.survivor_id)"
# An erased survivor's consents may have their free text cleared (casework/retention).
_SURVIVOR_ERASED = ("EXISTS (SELECT 1 FROM survivors WHERE survivors.id = OLD.survivor_id"
                    " AND survivors.erased_at IS NOT NULL)")
_KEPT_COLUMNS = ("id", "survivor_id", "purpose", "partner_id", "scope", "status", "method",
                 "language", "form_id", "form_version", "form_language", "form_sha256",
                 "expires_on", "withdraws_id", "recorded_by", "recorded_at")
_CLEARING_FREE_TEXT = (f"{_SURVIVOR_ERASED} AND NEW.interpreter IS NULL AND NEW.notes IS NULL"
                       " AND " + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _KEPT_COLUMNS))
# Key rotation (`flask keys rotate`, casework/encryption.py) re-encrypts the free text: a new
# ciphertext of the same fields, nothing else changed and no value added or removed.
_SAME_PRESENCE = ("(NEW.interpreter IS NULL) = (OLD.interpreter IS NULL)"
                  " AND (NEW.notes IS NULL) = (OLD.notes IS NULL)")
_REENCRYPTING = (f"{_SAME_PRESENCE} AND typeof(NEW.interpreter) IN ('blob', 'null')"
                 " AND typeof(NEW.notes) IN ('blob', 'null') AND "
                 + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _KEPT_COLUMNS))
APPEND_ONLY_DDL = {
    "sqlite": [
        f"""CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
           WHEN NOT ({_CLEARING_FREE_TEXT}) AND NOT ({_REENCRYPTING})
           BEGIN SELECT RAISE(ABORT, 'consents is append-only'); END""",
        """CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
           WHEN EXISTS (SELECT 1 FROM survivors WHERE survivors.id = OLD.survivor_id)
           BEGIN SELECT RAISE(ABORT, 'consents is append-only'); END""",
        """CREATE TRIGGER consent_forms_no_update BEFORE UPDATE ON consent_forms
           BEGIN SELECT RAISE(ABORT, 'consent_forms is append-only'); END""",
    ],
    "postgresql": [
        f"""CREATE OR REPLACE FUNCTION consents_append_only() RETURNS trigger AS $$
           BEGIN
             IF TG_OP = 'DELETE' THEN
               IF {_ERASED} THEN RETURN OLD; END IF;
             ELSIF TG_TABLE_NAME = 'consents' THEN
               IF {_SURVIVOR_ERASED} AND NEW.interpreter IS NULL AND NEW.notes IS NULL
                  AND (to_jsonb(NEW) - 'interpreter' - 'notes')
                      = (to_jsonb(OLD) - 'interpreter' - 'notes') THEN
                 RETURN NEW;
               END IF;
               IF {_SAME_PRESENCE}
                  AND (to_jsonb(NEW) - 'interpreter' - 'notes')
                      = (to_jsonb(OLD) - 'interpreter' - 'notes') THEN
                 RETURN NEW;
               END IF;
             END IF;
             RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only';
           END; $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER consents_no_change BEFORE UPDATE OR DELETE ON consents
           FOR EACH ROW EXECUTE FUNCTION consents_append_only()""",
        """CREATE TRIGGER consent_forms_no_update BEFORE UPDATE ON consent_forms
           FOR EACH ROW EXECUTE FUNCTION consents_append_only()""",
    ],
}
DROP_APPEND_ONLY_DDL = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS consents_no_update",
        "DROP TRIGGER IF EXISTS consents_no_delete",
        "DROP TRIGGER IF EXISTS consent_forms_no_update",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS consents_no_change ON consents",
        "DROP TRIGGER IF EXISTS consent_forms_no_update ON consent_forms",
        "DROP FUNCTION IF EXISTS consents_append_only()",
    ],
}

# consent_forms is created before consents (consents refers to it), so every statement
# runs once both tables exist.
for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(Consent.__table__, "after_create",
                     DDL(_statement).execute_if(dialect=_dialect))


append_only.register(APPEND_ONLY_DDL, DROP_APPEND_ONLY_DDL)
