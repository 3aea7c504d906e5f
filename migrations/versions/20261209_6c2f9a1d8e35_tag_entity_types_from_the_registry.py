"""tag entity types from the registry: no CHECK on entity_type of rules, bulk operations, tag events

crm_auto_tag_rules, crm_bulk_operations and crm_tag_events name the tagged entity's type in
entity_type. Which types exist is the record type registry's business (crm_segments/models/
record_types.py), checked by the services, so a registered type needs no change of these tables:
the CHECK constraints go and the column takes names of up to 32 characters. On SQLite the stored
table definitions change in place, as the unconfirmed message status migration explains.

Revision ID: 6c2f9a1d8e35
Revises: 4e1b7c9d2a10
Create Date: 2026-12-09 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '6c2f9a1d8e35'
down_revision: str | None = '4e1b7c9d2a10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {  # table -> the name its CHECK constraint was given
    'crm_auto_tag_rules': 'tag_entity_type',
    'crm_bulk_operations': 'bulk_entity_type',
    'crm_tag_events': 'tag_event_entity_type',
}
CHECKED = "entity_type IN ('profile', 'quote', 'job', 'opportunity')"
OLD_COLUMN, NEW_COLUMN = 'entity_type VARCHAR(11) NOT NULL', 'entity_type VARCHAR(32) NOT NULL'


_LAST_LINE = '\n)'  # how SQLAlchemy ends a CREATE TABLE


def _check(table: str) -> str:
    return f'ck_{table}_{TABLES[table]}'


def _constraint(table: str) -> str:
    """The constraint as SQLAlchemy wrote it into the stored CREATE TABLE, with the comma before it."""
    return f', \n\tCONSTRAINT {_check(table)} CHECK ({CHECKED})'


def _rewrite_sqlite(table: str, changes: list[tuple[str, str]]) -> None:
    bind = op.get_bind()
    definition = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar_one()
    for before, after in changes:
        if before not in definition:
            raise RuntimeError(f"{table} has no {before}")
        definition = definition.replace(before, after)
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (definition, table))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table in TABLES:
        if sqlite:
            _rewrite_sqlite(table, [(OLD_COLUMN, NEW_COLUMN), (_constraint(table), '')])
            continue
        op.drop_constraint(op.f(_check(table)), table, type_='check')
        op.alter_column(table, 'entity_type', type_=sa.String(32), existing_type=sa.String(11),
                        existing_nullable=False)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table in TABLES:
        # Rows of types the old constraint does not know cannot stay.
        op.execute(sa.text(f"DELETE FROM {table} WHERE NOT ({CHECKED})"))
        if sqlite:
            _rewrite_sqlite(table, [(NEW_COLUMN, OLD_COLUMN), (_LAST_LINE, _constraint(table) + _LAST_LINE)])
            continue
        op.alter_column(table, 'entity_type', type_=sa.String(11), existing_type=sa.String(32),
                        existing_nullable=False)
        op.create_check_constraint(op.f(_check(table)), table, sa.text(CHECKED))
