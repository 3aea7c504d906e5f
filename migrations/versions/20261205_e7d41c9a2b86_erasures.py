"""erasures: the audit of profiles erased (ids and counts, no personal data)

Revision ID: e7d41c9a2b86
Revises: d41f7c2b9e60
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e7d41c9a2b86'
down_revision: str | None = 'd41f7c2b9e60'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_erasures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('profile_id', sa.Integer(), nullable=False),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('erased_by_id', sa.Integer(), nullable=True),
        sa.Column('via', sa.Enum('ui', 'api', 'cli', name='erasure_via', native_enum=False,
                                 create_constraint=True), nullable=False),
        sa.Column('rows', sa.JSON(), nullable=False),
        sa.Column('outbox_files', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['erased_by_id'], ['crm_users.id'],
                                name=op.f('fk_crm_erasures_erased_by_id_crm_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_erasures')),
    )


def downgrade() -> None:
    op.drop_table('crm_erasures')
