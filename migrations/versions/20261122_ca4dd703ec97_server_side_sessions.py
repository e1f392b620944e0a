"""server-side sessions

Revision ID: ca4dd703ec97
Revises: 86a79482f9be
Create Date: 2026-11-22 20:57:27.968157

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ca4dd703ec97'
down_revision = '86a79482f9be'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('server_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_server_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_server_sessions'))
    )
    with op.batch_alter_table('server_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_server_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_server_sessions_user_id'), ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_server_sessions_user_id'), table_name='server_sessions')
    op.drop_index(op.f('ix_server_sessions_expires_at'), table_name='server_sessions')
    op.drop_table('server_sessions')
