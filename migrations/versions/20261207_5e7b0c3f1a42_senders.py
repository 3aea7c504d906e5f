"""senders: running sender processes and their heartbeats, for taking over a dead one's claims

Revision ID: 5e7b0c3f1a42
Revises: 5b8e2d4c7a13
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5e7b0c3f1a42'
down_revision: str | None = '5b8e2d4c7a13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_senders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_senders')),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table('crm_senders')
