"""users' own time zone; referral letters in Ukrainian (issue 8)

Revision ID: 0b7e4c1a9d52
Revises: e5c1a7d2b9f4
Create Date: 2026-11-22 23:00:00

"""
import warnings

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0b7e4c1a9d52'
down_revision = 'e5c1a7d2b9f4'
branch_labels = None
depends_on = None

OLD = "language IN ('en', 'es', 'fr', 'ar', 'th', 'vi')"
NEW = "language IN ('en', 'es', 'fr', 'ar', 'th', 'vi', 'uk')"


def _replace(check: str) -> None:
    # SQLite rebuilds the table; reflecting it reflects survivors too, whose expression index
    # SQLAlchemy cannot reflect (and need not: that table is not rebuilt).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection")
        with op.batch_alter_table('referrals', schema=None) as batch_op:
            batch_op.drop_constraint(op.f('ck_referrals_language'), type_='check')
            batch_op.create_check_constraint(op.f('ck_referrals_language'), check)


def upgrade():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection")
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
    _replace(NEW)


def downgrade():
    op.execute("UPDATE referrals SET language = 'en' WHERE language = 'uk'")
    _replace(OLD)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection")
        with op.batch_alter_table('users', schema=None) as batch_op:
            batch_op.drop_column('timezone')
