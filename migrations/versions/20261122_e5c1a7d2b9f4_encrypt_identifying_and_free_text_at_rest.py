"""Encrypt identifying fields and sensitive free text at rest; survivor search keys

Every column the rule of casework/encryption.py (``should_encrypt``) selects becomes a
BLOB/BYTEA of AES-256-GCM blobs. Existing values are encrypted with the configured key ring
(``DATA_KEYS``: the migration runs in the app context of Flask-Migrate); the downgrade
decrypts them back. Each column is replaced by add, fill, drop and rename (no SQLite batch
rebuild, which would lose the survivors' expression index and the consents' triggers).

Revision ID: e5c1a7d2b9f4
Revises: 55fe08904981
Create Date: 2026-11-22 21:20:00

"""
import warnings
from datetime import date

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e5c1a7d2b9f4'
down_revision = '55fe08904981'
branch_labels = None
depends_on = None

TEXT, DATE = "text", "date"
# table -> [(column, kind, plaintext type, nullable)] as they were at this revision.
COLUMNS = {
    "survivors": [
        ("closure_reason", TEXT, sa.Text(), True),
        ("first_name", TEXT, sa.String(100), True),
        ("last_name", TEXT, sa.String(100), True),
        ("known_as", TEXT, sa.String(100), True),
        ("date_of_birth", DATE, sa.Date(), True),
        ("phone", TEXT, sa.String(40), True),
        ("email", TEXT, sa.String(254), True),
        ("address", TEXT, sa.Text(), True),
        ("narrative", TEXT, sa.Text(), True),
        ("risk_notes", TEXT, sa.Text(), True),
    ],
    "closure_requests": [("reason", TEXT, sa.Text(), False), ("comment", TEXT, sa.Text(), True)],
    "consents": [("interpreter", TEXT, sa.String(120), True), ("notes", TEXT, sa.Text(), True)],
    "legal_matters": [("notes", TEXT, sa.Text(), True)],
    "legal_hearings": [("notes", TEXT, sa.Text(), True)],
    "placements": [("discharge_reason", TEXT, sa.Text(), True)],
    "plan_items": [("objective", TEXT, sa.Text(), True)],
    "reassignments": [("reason", TEXT, sa.Text(), False)],
    "referrals": [
        ("reason", TEXT, sa.Text(), True),
        ("decline_reason", TEXT, sa.Text(), True),
        ("withdraw_reason", TEXT, sa.Text(), True),
        ("return_comment", TEXT, sa.Text(), True),
    ],
    "training_enrolments": [("withdraw_reason", TEXT, sa.Text(), True)],
    "counselling_sessions": [("notes", TEXT, sa.Text(), True)],
}
BATCH = 500


def _keys():
    from flask import current_app

    return current_app.config["DATA_KEYS"]


def _convert(table, column, new_type, transform, nullable):
    """Replace ``table.column`` by a column of ``new_type`` holding ``transform(row id, value)``."""
    bind = op.get_bind()
    temp = f"{column}__new"
    op.add_column(table, sa.Column(temp, new_type, nullable=True))
    t = sa.table(table, sa.column("id", sa.Uuid()), sa.column(column), sa.column(temp))
    last = None
    while True:
        query = (sa.select(t.c.id, t.c[column]).where(t.c[column].is_not(None))
                 .order_by(t.c.id).limit(BATCH))
        if last is not None:
            query = query.where(t.c.id > last)
        rows = bind.execute(query).all()
        if not rows:
            break
        for row_id, value in rows:
            bind.execute(sa.update(t).where(t.c.id == row_id)
                         .values({temp: transform(row_id, value)}))
        last = rows[-1][0]
    op.drop_column(table, column)
    op.execute(f'ALTER TABLE {table} RENAME COLUMN {temp} TO {column}')
    if not nullable:
        if bind.dialect.name == "sqlite":
            # Rebuilding the table reflects the tables it refers to (survivors), whose
            # expression index SQLAlchemy cannot reflect: that index is not rebuilt here.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Skipped unsupported reflection")
                with op.batch_alter_table(table) as batch_op:
                    batch_op.alter_column(column, existing_type=new_type, nullable=False)
        else:
            op.alter_column(table, column, existing_type=new_type, nullable=False)


def _encrypter(table, column, kind):
    from casework import crypto

    keys = _keys()

    def transform(row_id, value):
        if kind == DATE:
            value = value.isoformat() if isinstance(value, date) else str(value)
        return crypto.encrypt(str(value).encode(), crypto.aad(table, column, row_id), keys=keys)

    return transform


def _decrypter(table, column, kind):
    from casework import crypto

    keys = _keys()

    def transform(row_id, blob):
        text = crypto.decrypt(bytes(blob), crypto.aad(table, column, row_id), keys=keys).decode()
        return date.fromisoformat(text) if kind == DATE else text

    return transform


def _with_consent_triggers_lifted(work):
    """Consents are append-only, and their triggers name the free-text columns: off while
    those columns are re-encoded, then back (as the models define them)."""
    from casework.consent.models import APPEND_ONLY_DDL, DROP_APPEND_ONLY_DDL

    dialect = op.get_bind().dialect.name
    for statement in DROP_APPEND_ONLY_DDL.get(dialect, []):
        op.execute(statement)
    work()
    for statement in APPEND_ONLY_DDL.get(dialect, []):
        op.execute(statement)


def upgrade():
    op.create_table('survivor_search_keys',
    sa.Column('survivor_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('digest', sa.LargeBinary(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['survivor_id'], ['survivors.id'], name=op.f('fk_survivor_search_keys_survivor_id_survivors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survivor_search_keys'))
    )
    op.create_index('ix_survivor_search_keys_kind_digest', 'survivor_search_keys', ['kind', 'digest'], unique=False)
    op.create_index(op.f('ix_survivor_search_keys_survivor_id'), 'survivor_search_keys', ['survivor_id'], unique=False)

    for table, columns in COLUMNS.items():
        def work(table=table, columns=columns):
            for column, kind, _plain, nullable in columns:
                _convert(table, column, sa.LargeBinary(), _encrypter(table, column, kind),
                         nullable)
        if table == "consents":
            _with_consent_triggers_lifted(work)
        else:
            work()
    # Existing survivors get their search keys from `flask keys reindex` (casework/cli.py).


def downgrade():
    for table, columns in COLUMNS.items():
        def work(table=table, columns=columns):
            for column, kind, plain, nullable in columns:
                _convert(table, column, plain, _decrypter(table, column, kind), nullable)
        if table == "consents":
            _with_consent_triggers_lifted(work)
        else:
            work()
    op.drop_index(op.f('ix_survivor_search_keys_survivor_id'), table_name='survivor_search_keys')
    op.drop_index('ix_survivor_search_keys_kind_digest', table_name='survivor_search_keys')
    op.drop_table('survivor_search_keys')
