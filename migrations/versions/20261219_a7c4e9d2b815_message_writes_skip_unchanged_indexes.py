"""a message's writes on its way out skip the indexes they need not touch

A message row is written three times on its way out (claimed, marked sending, its answer), and each
write adds an entry to every index of crm_messages whose predicate does not leave the row out: ten
a write, thirty a message. Now the provider's id and the sending time, empty until the answer, are
indexed only where set (the claim and the mark skip both), and the index on profile_id alone goes,
as (profile_id, channel, attempted_at) serves the same lookups and the cascade of a profile's
deletion: 23 entries a message instead of 30.

Revision ID: a7c4e9d2b815
Revises: f1c6a2d8e504
Create Date: 2026-12-19 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7c4e9d2b815'
down_revision: str | None = 'f1c6a2d8e504'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROVIDER_ID_SET = 'provider_message_id IS NOT NULL'
SENT = 'sent_at IS NOT NULL'


def upgrade() -> None:
    op.drop_index('ix_crm_messages_profile_id', table_name='crm_messages')
    op.drop_index('ix_crm_messages_provider_message_id', table_name='crm_messages')
    op.create_index('ix_crm_messages_provider_message_id', 'crm_messages', ['provider_message_id'],
                    unique=False, postgresql_where=sa.text(PROVIDER_ID_SET),
                    sqlite_where=sa.text(PROVIDER_ID_SET))
    op.drop_index('ix_crm_messages_sent_at', table_name='crm_messages')
    op.create_index('ix_crm_messages_sent_at', 'crm_messages', ['sent_at'], unique=False,
                    postgresql_where=sa.text(SENT), sqlite_where=sa.text(SENT))


def downgrade() -> None:
    op.drop_index('ix_crm_messages_sent_at', table_name='crm_messages')
    op.create_index('ix_crm_messages_sent_at', 'crm_messages', ['sent_at'], unique=False)
    op.drop_index('ix_crm_messages_provider_message_id', table_name='crm_messages')
    op.create_index('ix_crm_messages_provider_message_id', 'crm_messages', ['provider_message_id'],
                    unique=False)
    op.create_index('ix_crm_messages_profile_id', 'crm_messages', ['profile_id'], unique=False)
