"""dashboard indexes: messages by sending day, conversions by day, RFM cells, acquisition sources

Revision ID: 5b8e2d4c7a13
Revises: 1ca668684291
Create Date: 2026-12-07 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5b8e2d4c7a13'
down_revision: str | None = '1ca668684291'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MET = 'goal_met_at IS NOT NULL'


def upgrade() -> None:
    op.create_index('ix_crm_messages_sent_at', 'crm_messages', ['sent_at'], unique=False)
    op.create_index('ix_crm_workflow_enrollments_goal_met', 'crm_workflow_enrollments', ['goal_met_at'],
                    unique=False, postgresql_where=sa.text(MET), sqlite_where=sa.text(MET))
    op.create_index('ix_crm_rfm_scores_cell', 'crm_rfm_scores', ['recency', 'frequency', 'profile_id'],
                    unique=False)
    op.create_index('ix_crm_profiles_acquisition_source', 'crm_profiles', ['acquisition_source'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_crm_profiles_acquisition_source', table_name='crm_profiles')
    op.drop_index('ix_crm_rfm_scores_cell', table_name='crm_rfm_scores')
    op.drop_index('ix_crm_workflow_enrollments_goal_met', table_name='crm_workflow_enrollments')
    op.drop_index('ix_crm_messages_sent_at', table_name='crm_messages')
