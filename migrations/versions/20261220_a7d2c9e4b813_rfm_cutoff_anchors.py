"""rfm cut-off anchors: the rows at the quintiles' cut-off positions, and the values' indexes

crm_rfm_cutoffs keeps, for each score and quintile, a copy of the score row at the cut-off position
when the scores were last computed; three indexes on crm_rfm_scores order each value as its score
ranks it, ties by profile. A rescoring after some buyers' purchases changed moves each cut-off along
its index by the rows that crossed it instead of sorting every buyer (PostgreSQL; SQLite recomputes
the scores in full). The table starts empty: the next computation fills it.

Revision ID: a7d2c9e4b813
Revises: a7c4e9d2b815
Create Date: 2026-12-20 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7d2c9e4b813'
down_revision: str | None = 'a7c4e9d2b815'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_rfm_cutoffs',
        sa.Column('score', sa.String(length=16), nullable=False),
        sa.Column('quintile', sa.Integer(), nullable=False),
        sa.Column('buyers', sa.Integer(), nullable=False),
        sa.Column('profile_id', sa.Integer(), nullable=False),
        sa.Column('last_purchase_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('purchase_count', sa.Integer(), nullable=False),
        sa.Column('total_spent', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.PrimaryKeyConstraint('score', 'quintile', name=op.f('pk_crm_rfm_cutoffs')),
    )
    for value in ('last_purchase_at', 'purchase_count', 'total_spent'):
        op.create_index(f'ix_crm_rfm_scores_{value}', 'crm_rfm_scores', [value, 'profile_id'], unique=False)


def downgrade() -> None:
    for value in ('total_spent', 'purchase_count', 'last_purchase_at'):
        op.drop_index(f'ix_crm_rfm_scores_{value}', table_name='crm_rfm_scores')
    op.drop_table('crm_rfm_cutoffs')
