"""message record type length: crm_messages.record_type takes any registered type's name

A message names the record its template showed by its type, as its enrollment does
(crm_workflow_enrollments.trigger_record_type): up to 32 characters, so a registered type with a long
name can be sent about. On SQLite the stored table definition changes in place, as the unconfirmed
message status migration explains.

Revision ID: 3f6b9d2e7c58
Revises: 8d3a5f2c1b74
Create Date: 2026-12-11 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3f6b9d2e7c58'
down_revision: str | None = '8d3a5f2c1b74'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = 'crm_messages'
OLD_COLUMN, NEW_COLUMN = 'record_type VARCHAR(20),', 'record_type VARCHAR(32),'


def _rewrite_sqlite(before: str, after: str) -> None:
    bind = op.get_bind()
    definition = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).scalar_one()
    if definition.count(before) != 1:
        raise RuntimeError(f"{TABLE} has no single {before}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (definition.replace(before, after), TABLE))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rewrite_sqlite(OLD_COLUMN, NEW_COLUMN)
        return
    op.alter_column(TABLE, 'record_type', type_=sa.String(32), existing_type=sa.String(20),
                    existing_nullable=True)


def downgrade() -> None:
    # Longer names cannot stay: the message forgets which record it showed.
    op.execute(sa.text(f"UPDATE {TABLE} SET record_type = NULL, record_id = NULL "
                       "WHERE length(record_type) > 20"))
    if op.get_bind().dialect.name == 'sqlite':
        _rewrite_sqlite(NEW_COLUMN, OLD_COLUMN)
        return
    op.alter_column(TABLE, 'record_type', type_=sa.String(20), existing_type=sa.String(32),
                    existing_nullable=True)
