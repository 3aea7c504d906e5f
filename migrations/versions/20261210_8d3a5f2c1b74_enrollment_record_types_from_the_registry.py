"""enrollment record types from the registry: no CHECK on crm_workflow_enrollments.trigger_record_type

An enrollment names the record that triggered it (a quote's sent date, an invoice's due date) by its
type. Which types exist is the record type registry's business (crm_segments/models/record_types.py),
so a registered type enrolls with no change of this table: the CHECK constraint goes and the column
takes names of up to 32 characters. On SQLite the stored table definition changes in place, as the
unconfirmed message status migration explains.

Revision ID: 8d3a5f2c1b74
Revises: 6c2f9a1d8e35
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8d3a5f2c1b74'
down_revision: str | None = '6c2f9a1d8e35'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = 'crm_workflow_enrollments'
CHECK = 'ck_crm_workflow_enrollments_workflow_trigger_record_type'
CHECKED = "trigger_record_type IN ('profile', 'quote', 'job', 'opportunity', 'ticket')"
OLD_COLUMN, NEW_COLUMN = 'trigger_record_type VARCHAR(11),', 'trigger_record_type VARCHAR(32),'
# The constraint as SQLAlchemy wrote it into the stored CREATE TABLE, with the comma before it; the
# enrollment status CHECK follows it.
CONSTRAINT = f', \n\tCONSTRAINT {CHECK} CHECK ({CHECKED})'
NEXT_CONSTRAINT = ', \n\tCONSTRAINT ck_crm_workflow_enrollments_workflow_enrollment_status'


def _rewrite_sqlite(changes: list[tuple[str, str]]) -> None:
    bind = op.get_bind()
    definition = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).scalar_one()
    for before, after in changes:
        if before not in definition:
            raise RuntimeError(f"{TABLE} has no {before}")
        definition = definition.replace(before, after)
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (definition, TABLE))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rewrite_sqlite([(OLD_COLUMN, NEW_COLUMN), (CONSTRAINT, '')])
        return
    op.drop_constraint(op.f(CHECK), TABLE, type_='check')
    op.alter_column(TABLE, 'trigger_record_type', type_=sa.String(32), existing_type=sa.String(11),
                    existing_nullable=True)


def downgrade() -> None:
    # Enrollments about types the old constraint does not know cannot stay.
    op.execute(sa.text(f"DELETE FROM {TABLE} WHERE trigger_record_type IS NOT NULL AND NOT ({CHECKED})"))
    if op.get_bind().dialect.name == 'sqlite':
        _rewrite_sqlite([(NEW_COLUMN, OLD_COLUMN), (NEXT_CONSTRAINT, CONSTRAINT + NEXT_CONSTRAINT)])
        return
    op.alter_column(TABLE, 'trigger_record_type', type_=sa.String(11), existing_type=sa.String(32),
                    existing_nullable=True)
    op.create_check_constraint(op.f(CHECK), TABLE, sa.text(CHECKED))
