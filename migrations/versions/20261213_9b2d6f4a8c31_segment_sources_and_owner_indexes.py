"""segment sources and owner indexes: members per acquisition source, kept by triggers

crm_segment_sources counts each segment's members per acquisition source, written by triggers on
crm_segment_members and crm_profiles (the statements are
crm_segments.models.segment_sources.SEGMENT_SOURCE_TRIGGERS, which the models run after create_all
too); the memberships already there are counted while both tables are locked against writes. A sales
person's customers are read from the owner index alone (owner_id, id), and quotes awaiting an answer
counted per owner from (status, profile_id).

Revision ID: 9b2d6f4a8c31
Revises: b5e8d1c4a927
Create Date: 2026-12-13 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_segments.models.segment_sources import (
    BACKFILL,
    SEGMENT_SOURCE_FUNCTIONS,
    SEGMENT_SOURCE_TRIGGER_NAMES,
    SEGMENT_SOURCE_TRIGGERS,
)

revision: str = '9b2d6f4a8c31'
down_revision: str | None = 'b5e8d1c4a927'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        'crm_segment_sources',
        sa.Column('segment_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=80), nullable=False),
        sa.Column('members', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['segment_id'], ['crm_segments.id'],
                                name=op.f('fk_crm_segment_sources_segment_id_crm_segments'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('segment_id', 'source', name=op.f('pk_crm_segment_sources')),
    )
    if dialect == 'postgresql':
        op.execute('LOCK TABLE crm_segment_members, crm_profiles IN SHARE MODE')
    op.execute(BACKFILL)
    for statement in SEGMENT_SOURCE_TRIGGERS.get(dialect, ()):
        op.execute(statement)
    op.drop_index('ix_crm_profiles_owner_id', table_name='crm_profiles')
    op.create_index('ix_crm_profiles_owner_id', 'crm_profiles', ['owner_id', 'id'], unique=False)
    op.create_index('ix_crm_quotes_status_profile', 'crm_quotes', ['status', 'profile_id'], unique=False)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.drop_index('ix_crm_quotes_status_profile', table_name='crm_quotes')
    op.drop_index('ix_crm_profiles_owner_id', table_name='crm_profiles')
    op.create_index('ix_crm_profiles_owner_id', 'crm_profiles', ['owner_id'], unique=False)
    for table, trigger in SEGMENT_SOURCE_TRIGGER_NAMES:
        op.execute(f'DROP TRIGGER IF EXISTS {trigger}' + (f' ON {table}' if postgresql else ''))
    if postgresql:
        for function in SEGMENT_SOURCE_FUNCTIONS:
            op.execute(f'DROP FUNCTION IF EXISTS {function}')
    op.drop_table('crm_segment_sources')
