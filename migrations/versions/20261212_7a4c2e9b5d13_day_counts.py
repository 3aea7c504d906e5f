"""day counts: segment entries and exits per segment and day, messages per day, kept by triggers

crm_segment_days and crm_message_days are written by triggers on crm_segment_events and crm_messages
(the statements are crm_segments.models.day_counts.DAY_COUNT_TRIGGERS, which the models run after
create_all too), in the writer's transaction. The rows already there are counted while both tables
are locked against writes, so no row is missed or counted twice between the count and the triggers.
An index on the entered events' time gives the home page its latest entries without reading exits.

Revision ID: 7a4c2e9b5d13
Revises: 3f6b9d2e7c58
Create Date: 2026-12-12 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_segments.models.day_counts import (
    BACKFILL,
    DAY_COUNT_FUNCTIONS,
    DAY_COUNT_TRIGGER_NAMES,
    DAY_COUNT_TRIGGERS,
)

revision: str = '7a4c2e9b5d13'
down_revision: str | None = '3f6b9d2e7c58'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        'crm_segment_days',
        sa.Column('segment_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('entered', sa.Integer(), nullable=False),
        sa.Column('exited', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['segment_id'], ['crm_segments.id'],
                                name=op.f('fk_crm_segment_days_segment_id_crm_segments'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('segment_id', 'day', name=op.f('pk_crm_segment_days')),
    )
    op.create_table(
        'crm_message_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('slot', sa.SmallInteger(), nullable=False),
        sa.Column('sent', sa.Integer(), nullable=False),
        sa.Column('delivered', sa.Integer(), nullable=False),
        sa.Column('opened', sa.Integer(), nullable=False),
        sa.Column('clicked', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'slot', name=op.f('pk_crm_message_days')),
    )
    op.create_index('ix_crm_segment_events_entered_at', 'crm_segment_events', ['occurred_at', 'id'],
                    unique=False, postgresql_where=sa.text("kind = 'entered'"),
                    sqlite_where=sa.text("kind = 'entered'"))
    if dialect == 'postgresql':
        op.execute('LOCK TABLE crm_segment_events, crm_messages IN SHARE MODE')
    for statement in BACKFILL.get(dialect, ()):
        op.execute(statement)
    for statement in DAY_COUNT_TRIGGERS.get(dialect, ()):
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for table, trigger in DAY_COUNT_TRIGGER_NAMES:
        op.execute(f'DROP TRIGGER IF EXISTS {trigger}' + (f' ON {table}' if postgresql else ''))
    if postgresql:
        for function in DAY_COUNT_FUNCTIONS:
            op.execute(f'DROP FUNCTION IF EXISTS {function}')
    op.drop_index('ix_crm_segment_events_entered_at', table_name='crm_segment_events')
    op.drop_table('crm_message_days')
    op.drop_table('crm_segment_days')
