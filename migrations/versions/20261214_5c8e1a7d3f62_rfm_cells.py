"""rfm cells: the RFM grid counted per owner, kept by triggers

crm_rfm_cells counts customers, their monetary scores and what they spent per (owner, recency,
frequency), written by triggers on crm_rfm_scores and crm_profiles (the statements are
crm_segments.models.rfm_cells.RFM_CELL_TRIGGERS, which the models run after create_all too); the
scores already there are counted while both tables are locked against writes. The scores' latest
computation time is read from an index on computed_at.

Revision ID: 5c8e1a7d3f62
Revises: 9b2d6f4a8c31
Create Date: 2026-12-14 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_segments.models.rfm_cells import (
    BACKFILL,
    RFM_CELL_FUNCTIONS,
    RFM_CELL_TRIGGER_NAMES,
    RFM_CELL_TRIGGERS,
)

revision: str = '5c8e1a7d3f62'
down_revision: str | None = '9b2d6f4a8c31'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        'crm_rfm_cells',
        sa.Column('owner_key', sa.Integer(), nullable=False),
        sa.Column('recency', sa.Integer(), nullable=False),
        sa.Column('frequency', sa.Integer(), nullable=False),
        sa.Column('customers', sa.Integer(), nullable=False),
        sa.Column('monetary_sum', sa.Integer(), nullable=False),
        sa.Column('spent', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.PrimaryKeyConstraint('owner_key', 'recency', 'frequency', name=op.f('pk_crm_rfm_cells')),
    )
    op.create_index('ix_crm_rfm_scores_computed_at', 'crm_rfm_scores', ['computed_at'], unique=False)
    if dialect == 'postgresql':
        op.execute('LOCK TABLE crm_rfm_scores, crm_profiles IN SHARE MODE')
    op.execute(BACKFILL)
    for statement in RFM_CELL_TRIGGERS.get(dialect, ()):
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table, trigger in RFM_CELL_TRIGGER_NAMES:
        op.execute(f'DROP TRIGGER IF EXISTS {trigger}' + (f' ON {table}' if postgresql else ''))
    if postgresql:
        for function in RFM_CELL_FUNCTIONS:
            op.execute(f'DROP FUNCTION IF EXISTS {function}')
    op.drop_index('ix_crm_rfm_scores_computed_at', table_name='crm_rfm_scores')
    op.drop_table('crm_rfm_cells')
