"""unconfirmed message status: unknown messages with no delivery event in time

crm_messages.status may also be "unconfirmed". Only the CHECK constraint changes. On SQLite it is
changed in the table's stored definition, the way SQLite documents for loosening a CHECK constraint
(https://sqlite.org/lang_altertable.html#otheralter): copying crm_messages would cascade the DROP of
the old table to the rows that refer to it (delivery events, consent history).

Revision ID: 1ca668684291
Revises: b35c253633b5
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '1ca668684291'
down_revision: str | None = 'b35c253633b5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = 'ck_crm_messages_message_status'
STATUSES = ('pending', 'sending', 'unknown', 'sent', 'delivered', 'opened', 'clicked', 'bounced', 'dropped',
            'failed', 'undelivered', 'unsubscribed', 'spam_report', 'suppressed', 'skipped')
NEW_STATUSES = (*STATUSES, 'unconfirmed')


def _listed(statuses: tuple[str, ...]) -> str:
    return ", ".join(f"'{s}'" for s in statuses)


def _set_check(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(CHECK), 'crm_messages', type_='check')
        op.create_check_constraint(op.f(CHECK), 'crm_messages', sa.text(f"status IN ({_listed(new)})"))
        return
    before = f"CHECK (status IN ({_listed(old)}))"
    after = f"CHECK (status IN ({_listed(new)}))"
    definition = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'crm_messages'").scalar_one()
    if before not in definition:
        raise RuntimeError(f"crm_messages has no constraint {before}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'crm_messages'",
                         (definition.replace(before, after),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _set_check(STATUSES, NEW_STATUSES)


def downgrade() -> None:
    op.execute(sa.text("UPDATE crm_messages SET status = 'unknown' WHERE status = 'unconfirmed'"))
    _set_check(NEW_STATUSES, STATUSES)
