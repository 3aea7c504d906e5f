"""saved views: a person's named filter, sort and columns of a list, shared with everyone by an admin

Revision ID: b5e8d1c4a927
Revises: 7a4c2e9b5d13
Create Date: 2026-12-13 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b5e8d1c4a927'
down_revision: str | None = '7a4c2e9b5d13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_saved_views',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('list_key', sa.String(length=40), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.Column('sort', sa.String(length=40), nullable=False),
        sa.Column('columns', sa.JSON(), nullable=False),
        sa.Column('shared', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['crm_users.id'],
                                name=op.f('fk_crm_saved_views_owner_id_crm_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_saved_views')),
        sa.UniqueConstraint('owner_id', 'list_key', 'name', name=op.f('uq_crm_saved_views_owner_id')),
    )
    op.create_index('ix_crm_saved_views_list_shared', 'crm_saved_views', ['list_key', 'shared'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_crm_saved_views_list_shared', table_name='crm_saved_views')
    op.drop_table('crm_saved_views')
