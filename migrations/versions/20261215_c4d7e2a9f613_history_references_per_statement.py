"""segment events and workflow enrollments reference profiles, segments and workflows through triggers

crm_segment_events.profile_id / segment_id and crm_workflow_enrollments.profile_id / workflow_id were
foreign keys, which check and lock the referenced row for every row written: an import that enrolls
100,000 profiles ran 200,000 checks on the enrollments and 200,000 on their entry events. They are
replaced by triggers that check each statement's rows at once and delete a profile's, segment's or
workflow's events and enrollments with it (crm_segments.models.triggers.HISTORY_REFERENCE_TRIGGERS,
which the models run after create_all too). On SQLite the events table is rebuilt without its
foreign keys, so its day-count triggers are created again.

Revision ID: c4d7e2a9f613
Revises: 5c8e1a7d3f62
Create Date: 2026-12-15 05:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

from crm_segments.models.day_counts import DAY_COUNT_TRIGGERS
from crm_segments.models.triggers import (
    HISTORY_REFERENCE_FUNCTIONS,
    HISTORY_REFERENCE_TRIGGER_NAMES,
    HISTORY_REFERENCE_TRIGGERS,
)

revision: str = 'c4d7e2a9f613'
down_revision: str | None = '5c8e1a7d3f62'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOREIGN_KEYS = (
    ("crm_segment_events", "profile_id", "crm_profiles"),
    ("crm_segment_events", "segment_id", "crm_segments"),
    ("crm_workflow_enrollments", "profile_id", "crm_profiles"),
    ("crm_workflow_enrollments", "workflow_id", "crm_workflows"),
)


def _recreate_day_count_triggers(dialect: str) -> None:
    # A SQLite batch rebuild drops the table's triggers; these statements skip the ones still there.
    if dialect == "sqlite":
        for statement in DAY_COUNT_TRIGGERS["sqlite"]:
            op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in ("crm_segment_events", "crm_workflow_enrollments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, parent in (key for key in _FOREIGN_KEYS if key[0] == table):
                batch_op.drop_constraint(batch_op.f(f"fk_{table}_{column}_{parent}"), type_="foreignkey")
    _recreate_day_count_triggers(dialect)
    for statement in HISTORY_REFERENCE_TRIGGERS[dialect]:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, trigger in HISTORY_REFERENCE_TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}" if dialect == "postgresql"
                   else f"DROP TRIGGER IF EXISTS {trigger}")
    if dialect == "postgresql":
        for function in HISTORY_REFERENCE_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    for table in ("crm_segment_events", "crm_workflow_enrollments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, parent in (key for key in _FOREIGN_KEYS if key[0] == table):
                batch_op.create_foreign_key(batch_op.f(f"fk_{table}_{column}_{parent}"), parent,
                                            [column], ["id"], ondelete="CASCADE")
    _recreate_day_count_triggers(dialect)
