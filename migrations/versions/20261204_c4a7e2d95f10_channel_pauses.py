"""channel pauses

Revision ID: c4a7e2d95f10
Revises: 8e1f4b2a9c07
Create Date: 2026-12-04 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c4a7e2d95f10'
down_revision: str | None = '8e1f4b2a9c07'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'crm_channel_pauses',
        sa.Column('channel', sa.Enum('email', 'sms', name='channel_pause_channel', native_enum=False,
                                     create_constraint=True), nullable=False),
        sa.Column('provider', sa.Enum('sendgrid', 'twilio', 'local', name='channel_pause_provider',
                                      native_enum=False, create_constraint=True), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('error_code', sa.String(length=40), nullable=True),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resumed_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['resumed_by_id'], ['crm_users.id'],
                                name=op.f('fk_crm_channel_pauses_resumed_by_id_crm_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('channel', name=op.f('pk_crm_channel_pauses')),
    )


def downgrade() -> None:
    op.drop_table('crm_channel_pauses')
