"""change log source: which table a logged write went to

crm_profile_changes.source names the table written (NULL: a profile inserted or deleted, or anyone
may have changed), so an incremental refresh re-evaluates a segment only for the writes to the tables
its rule reads. The log's triggers are replaced by ones that fill it; rows logged before have no
source and are read by every segment.

Revision ID: 8d3e5b1f6a24
Revises: c4d7e2a9f613
Create Date: 2026-12-16 06:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_segments.models.triggers import CHANGE_LOG_TRIGGER_NAMES, change_log_triggers

revision: str = '8d3e5b1f6a24'
down_revision: str | None = 'c4d7e2a9f613'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _replace_triggers(*, sources: bool) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":  # CREATE TRIGGER IF NOT EXISTS would keep the old ones
        for _table, trigger in CHANGE_LOG_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in change_log_triggers(sources=sources).get(dialect, ()):
        op.execute(statement)


def upgrade() -> None:
    op.add_column('crm_profile_changes', sa.Column('source', sa.String(length=40), nullable=True))
    _replace_triggers(sources=True)


def downgrade() -> None:
    _replace_triggers(sources=False)
    op.execute("ALTER TABLE crm_profile_changes DROP COLUMN source")
