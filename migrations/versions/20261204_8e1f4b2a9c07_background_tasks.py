"""background tasks

Revision ID: 8e1f4b2a9c07
Revises: 5d2c9e7a41b3
Create Date: 2026-12-04 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '8e1f4b2a9c07'
down_revision: str | None = '5d2c9e7a41b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_tasks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=80), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['crm_users.id'],
                                name=op.f('fk_crm_tasks_created_by_id_crm_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_tasks')),
    )
    op.create_index('ix_crm_tasks_status', 'crm_tasks', ['status', 'id'], unique=False)
    op.create_index('ix_crm_tasks_subject', 'crm_tasks', ['subject', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_crm_tasks_subject', table_name='crm_tasks')
    op.drop_index('ix_crm_tasks_status', table_name='crm_tasks')
    op.drop_table('crm_tasks')
