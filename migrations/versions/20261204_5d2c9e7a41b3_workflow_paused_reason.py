"""workflow paused reason

Revision ID: 5d2c9e7a41b3
Revises: f3f28486131b
Create Date: 2026-12-04 19:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5d2c9e7a41b3'
down_revision: str | None = 'f3f28486131b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('crm_workflows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('crm_workflows', schema=None) as batch_op:
        batch_op.drop_column('paused_reason')
