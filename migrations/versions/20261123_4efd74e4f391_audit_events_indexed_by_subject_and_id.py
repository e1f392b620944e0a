"""audit events indexed by subject and id: a record's access log (its latest events, newest
first) is read in index order and stops after the page, however long its history

Revision ID: 4efd74e4f391
Revises: 0b7e4c1a9d52
Create Date: 2026-11-23 02:17:30.254006

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '4efd74e4f391'
down_revision = '0b7e4c1a9d52'
branch_labels = None
depends_on = None


# Plain index statements, no batch mode: the append-only table keeps its triggers (SQLite's
# batch mode would copy the table and lose them).
def upgrade():
    op.create_index('ix_audit_events_subject_id_id', 'audit_events', ['subject_id', 'id'],
                    unique=False)
    op.drop_index('ix_audit_events_subject_id', table_name='audit_events')


def downgrade():
    op.create_index('ix_audit_events_subject_id', 'audit_events', ['subject_id'], unique=False)
    op.drop_index('ix_audit_events_subject_id_id', table_name='audit_events')
