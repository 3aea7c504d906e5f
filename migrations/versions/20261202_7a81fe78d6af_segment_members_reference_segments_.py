"""segment members reference segments through triggers

A segment's first fill inserts up to one member row per profile, and the foreign key
crm_segment_members.segment_id -> crm_segments.id checked each row on its own (a query and a lock of
the same segment row, about as much as writing the row). It is replaced by triggers that check each
statement's segments once (PostgreSQL: statement-level, locking them FOR KEY SHARE like a foreign key
check; SQLite: row triggers) and delete a segment's members with it. The statements are
crm_segments.models.triggers.MEMBER_SEGMENT_TRIGGERS, which the models run after create_all too.

Revision ID: 7a81fe78d6af
Revises: cff515ade0e4
Create Date: 2026-12-02 04:45:05.865452
"""

from collections.abc import Sequence

from alembic import op

from crm_segments.models.triggers import (
    MEMBER_SEGMENT_FUNCTIONS,
    MEMBER_SEGMENT_TRIGGER_NAMES,
    MEMBER_SEGMENT_TRIGGERS,
)

revision: str = '7a81fe78d6af'
down_revision: str | None = 'cff515ade0e4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:
    with op.batch_alter_table('crm_segment_members', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_crm_segment_members_segment_id_crm_segments'),
                                 type_='foreignkey')
    on_members, on_segments = MEMBER_SEGMENT_TRIGGERS[op.get_bind().dialect.name]
    for statement in (*on_members, *on_segments):
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, trigger in MEMBER_SEGMENT_TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}" if postgresql
                   else f"DROP TRIGGER IF EXISTS {trigger}")
    if postgresql:
        for function in MEMBER_SEGMENT_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    with op.batch_alter_table('crm_segment_members', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_crm_segment_members_segment_id_crm_segments'),
                                    'crm_segments', ['segment_id'], ['id'], ondelete='CASCADE')
