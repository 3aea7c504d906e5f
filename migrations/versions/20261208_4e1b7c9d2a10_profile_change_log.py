"""profile change log: what incremental segment refreshes read

crm_profile_changes is written by triggers on the CRM tables (the statements are
crm_segments.models.triggers.change_log_triggers, as they were before the log recorded the table
written: migration 8d3e5b1f6a24 adds that);
crm_refresh_marks keeps how far the RFM scores have read it and where it was pruned; each segment
keeps how far it has read it, the digest of the rule its membership was computed with and when it was
last recomputed in full; crm_opportunities gets an index on created_at, the range a time edge of
"first opportunity within N days" reads.

Revision ID: 4e1b7c9d2a10
Revises: 5e7b0c3f1a42
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_segments.models.triggers import (
    CHANGE_LOG_FUNCTIONS,
    CHANGE_LOG_TRIGGER_NAMES,
    change_log_triggers,
)

revision: str = '4e1b7c9d2a10'
down_revision: str | None = '5e7b0c3f1a42'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_profile_changes',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('profile_id', sa.BigInteger(), nullable=True),
        sa.Column('tx', sa.BigInteger(), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_profile_changes')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_crm_profile_changes_tx', 'crm_profile_changes', ['tx'], unique=False)
    op.create_table(
        'crm_refresh_marks',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('position', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_crm_refresh_marks')),
    )
    op.create_index('ix_crm_opportunities_created_at', 'crm_opportunities', ['created_at'], unique=False)
    op.add_column('crm_segments', sa.Column('refreshed_through', sa.BigInteger(), nullable=True))
    op.add_column('crm_segments', sa.Column('refreshed_rule', sa.String(length=64), nullable=True))
    op.add_column('crm_segments', sa.Column('last_full_refresh_at', sa.DateTime(timezone=True), nullable=True))
    for statement in change_log_triggers(sources=False).get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, trigger in CHANGE_LOG_TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}" if postgresql
                   else f"DROP TRIGGER IF EXISTS {trigger}")
    if postgresql:
        for function in CHANGE_LOG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    # Not a batch copy of crm_segments: its triggers name it (SQLite drops a column in place).
    for column in ('last_full_refresh_at', 'refreshed_rule', 'refreshed_through'):
        op.execute(f"ALTER TABLE crm_segments DROP COLUMN {column}")
    op.drop_index('ix_crm_opportunities_created_at', table_name='crm_opportunities')
    op.drop_table('crm_refresh_marks')
    op.drop_index('ix_crm_profile_changes_tx', table_name='crm_profile_changes')
    op.drop_table('crm_profile_changes')
