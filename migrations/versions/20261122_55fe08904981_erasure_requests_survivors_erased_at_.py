"""Erasure requests, survivors.erased_at, organisations.retention_years_after_closure; the
consents of an erased survivor may have their free text cleared (casework/retention).

Revision ID: 55fe08904981
Revises: ca4dd703ec97
Create Date: 2026-11-22 20:58:20.605947

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '55fe08904981'
down_revision = 'ca4dd703ec97'
branch_labels = None
depends_on = None

# The statements of casework/consent/models.py (APPEND_ONLY_DDL), before and after.
NEW_SQLITE_UPDATE_TRIGGER = "CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents\n           WHEN NOT (EXISTS (SELECT 1 FROM survivors WHERE survivors.id = OLD.survivor_id AND survivors.erased_at IS NOT NULL) AND NEW.interpreter IS NULL AND NEW.notes IS NULL AND NEW.id IS OLD.id AND NEW.survivor_id IS OLD.survivor_id AND NEW.purpose IS OLD.purpose AND NEW.partner_id IS OLD.partner_id AND NEW.scope IS OLD.scope AND NEW.status IS OLD.status AND NEW.method IS OLD.method AND NEW.language IS OLD.language AND NEW.form_id IS OLD.form_id AND NEW.form_version IS OLD.form_version AND NEW.form_language IS OLD.form_language AND NEW.form_sha256 IS OLD.form_sha256 AND NEW.expires_on IS OLD.expires_on AND NEW.withdraws_id IS OLD.withdraws_id AND NEW.recorded_by IS OLD.recorded_by AND NEW.recorded_at IS OLD.recorded_at)\n           BEGIN SELECT RAISE(ABORT, 'consents is append-only'); END"
OLD_SQLITE_UPDATE_TRIGGER = "CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents\n           BEGIN SELECT RAISE(ABORT, 'consents is append-only'); END"
NEW_PG_FUNCTION = "CREATE OR REPLACE FUNCTION consents_append_only() RETURNS trigger AS $$\n           BEGIN\n             IF TG_OP = 'DELETE' THEN\n               IF NOT EXISTS (SELECT 1 FROM survivors WHERE survivors.id = OLD.survivor_id) THEN RETURN OLD; END IF;\n             ELSIF TG_TABLE_NAME = 'consents' THEN\n               IF EXISTS (SELECT 1 FROM survivors WHERE survivors.id = OLD.survivor_id AND survivors.erased_at IS NOT NULL) AND NEW.interpreter IS NULL AND NEW.notes IS NULL\n                  AND (to_jsonb(NEW) - 'interpreter' - 'notes')\n                      = (to_jsonb(OLD) - 'interpreter' - 'notes') THEN\n                 RETURN NEW;\n               END IF;\n             END IF;\n             RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only';\n           END; $$ LANGUAGE plpgsql"
OLD_PG_FUNCTION = "CREATE OR REPLACE FUNCTION consents_append_only() RETURNS trigger AS $$\n           BEGIN\n             IF TG_OP = 'DELETE' THEN\n               IF NOT EXISTS (SELECT 1 FROM survivors WHERE survivors.id = OLD.survivor_id) THEN RETURN OLD; END IF;\n             END IF;\n             RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only';\n           END; $$ LANGUAGE plpgsql"


def _consent_triggers(sqlite_trigger, pg_function):
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS consents_no_update")
        op.execute(sqlite_trigger)
    else:
        op.execute(pg_function)


def upgrade():
    op.create_table('erasure_requests',
    sa.Column('requested_by', sa.Uuid(), nullable=False),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.LargeBinary(), nullable=True),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('certificate', sa.LargeBinary(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('survivor_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name=op.f('ck_erasure_requests_decided')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'refused')", name=op.f('ck_erasure_requests_status')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_erasure_requests_decided_by_users')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_erasure_requests_requested_by_users')),
    sa.ForeignKeyConstraint(['survivor_id'], ['survivors.id'], name=op.f('fk_erasure_requests_survivor_id_survivors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_requests'))
    )
    op.create_index('ix_erasure_requests_status', 'erasure_requests', ['status'], unique=False)
    op.create_index(op.f('ix_erasure_requests_survivor_id'), 'erasure_requests', ['survivor_id'], unique=False)
    op.create_index('uq_erasure_requests_pending', 'erasure_requests', ['survivor_id'], unique=True, sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.add_column('organisations', sa.Column('retention_years_after_closure', sa.Integer(), nullable=True))
    op.add_column('survivors', sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    _consent_triggers(NEW_SQLITE_UPDATE_TRIGGER, NEW_PG_FUNCTION)


def downgrade():
    _consent_triggers(OLD_SQLITE_UPDATE_TRIGGER, OLD_PG_FUNCTION)
    op.drop_column('survivors', 'erased_at')
    op.drop_column('organisations', 'retention_years_after_closure')
    op.drop_index('uq_erasure_requests_pending', table_name='erasure_requests', sqlite_where=sa.text("status = 'pending'"), postgresql_where=sa.text("status = 'pending'"))
    op.drop_index(op.f('ix_erasure_requests_survivor_id'), table_name='erasure_requests')
    op.drop_index('ix_erasure_requests_status', table_name='erasure_requests')
    op.drop_table('erasure_requests')
