"""segment members and consent history reference profiles through triggers

crm_segment_members.profile_id and crm_consent_changes.profile_id were foreign keys, checked and
locked row by row: an import of 100,000 profiles wrote 100,000 memberships and 100,000 consent rows,
each checking its profile. They are replaced by triggers that check each statement's rows at once and
delete a profile's memberships and consent history with it
(crm_segments.models.triggers.MEMBER_CONSENT_PROFILE_TRIGGERS, which the models run after create_all
too). On SQLite the members table is rebuilt without its foreign key, so its own triggers (the
segment check and the source counts) are created again.

Revision ID: e8a3f5c1b742
Revises: 8d3e5b1f6a24
Create Date: 2026-12-17 06:10:00.000000
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from alembic import op

from crm_segments.models.segment_sources import SEGMENT_SOURCE_TRIGGERS
from crm_segments.models.triggers import (
    MEMBER_CONSENT_PROFILE_FUNCTIONS,
    MEMBER_CONSENT_PROFILE_TRIGGER_NAMES,
    MEMBER_CONSENT_PROFILE_TRIGGERS,
    MEMBER_SEGMENT_TRIGGERS,
)

revision: str = 'e8a3f5c1b742'
down_revision: str | None = '8d3e5b1f6a24'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("crm_segment_members", "crm_consent_changes")


def _recreate_member_triggers(dialect: str) -> None:
    # A SQLite batch rebuild drops the members' triggers (the source counts' skip those still there).
    if dialect == "sqlite":
        on_members, _ = MEMBER_SEGMENT_TRIGGERS["sqlite"]
        for statement in (*on_members, *SEGMENT_SOURCE_TRIGGERS["sqlite"]):
            op.execute(statement)


@contextmanager
def _triggers_elsewhere_kept(dialect: str) -> Iterator[None]:
    """SQLite refuses to rename the rebuilt members table while triggers on other tables (the segments'
    and the profiles') name it and the old one is gone; in legacy mode it renames without checking
    them, and they name the same table again once it is back."""
    if dialect != "sqlite":
        yield
        return
    op.execute("PRAGMA legacy_alter_table = ON")
    yield
    op.execute("PRAGMA legacy_alter_table = OFF")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with _triggers_elsewhere_kept(dialect):
        for table in _TABLES:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(batch_op.f(f"fk_{table}_profile_id_crm_profiles"), type_="foreignkey")
    _recreate_member_triggers(dialect)
    for statement in MEMBER_CONSENT_PROFILE_TRIGGERS[dialect]:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, trigger in MEMBER_CONSENT_PROFILE_TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}" if dialect == "postgresql"
                   else f"DROP TRIGGER IF EXISTS {trigger}")
    if dialect == "postgresql":
        for function in MEMBER_CONSENT_PROFILE_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    with _triggers_elsewhere_kept(dialect):
        for table in _TABLES:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.create_foreign_key(batch_op.f(f"fk_{table}_profile_id_crm_profiles"), "crm_profiles",
                                            ["profile_id"], ["id"], ondelete="CASCADE")
    _recreate_member_triggers(dialect)
