"""user session version

Revision ID: d41f7c2b9e60
Revises: b387cd602a35
Create Date: 2026-12-05 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'd41f7c2b9e60'
down_revision: str | None = 'b387cd602a35'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('crm_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('crm_users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
