"""consent history: who changed consent, what it was before, bounces and complaints

crm_consent_changes gains ``actor`` (who: a person, an API key, the number that texted, the provider),
``previous_source`` and ``previous_at`` (the profile's consent before the change, so a START can give
back what a STOP withdrew) and ``restores_id`` (the STOP a START undid); ``source`` may also be
"bounce" and "complaint". On SQLite the table is copied (it has no triggers and nothing refers to it).

Revision ID: b35c253633b5
Revises: e7d41c9a2b86
Create Date: 2026-12-05 05:11:21.167686
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b35c253633b5'
down_revision: str | None = 'e7d41c9a2b86'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = ('import', 'api', 'form', 'ui', 'unsubscribe_link', 'sms_keyword', 'webhook', 'demo')
NEW_SOURCES = (*SOURCES, 'bounce', 'complaint')
CHECK = 'ck_crm_consent_changes_consent_change_source'


def _source_check(batch_op: object, sources: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{s}'" for s in sources)
    batch_op.create_check_constraint(op.f(CHECK), sa.text(f"source IN ({listed})"))  # type: ignore[attr-defined]


def upgrade() -> None:
    with op.batch_alter_table('crm_consent_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('previous_source', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('previous_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('restores_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_foreign_key(op.f('fk_crm_consent_changes_restores_id_crm_consent_changes'),
                                    'crm_consent_changes', ['restores_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_constraint(op.f(CHECK), type_='check')
        _source_check(batch_op, NEW_SOURCES)
    # The model gives the default; the server default was only for the rows already there.
    with op.batch_alter_table('crm_consent_changes', schema=None) as batch_op:
        batch_op.alter_column('actor', server_default=None)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM crm_consent_changes WHERE source IN ('bounce', 'complaint')"))
    with op.batch_alter_table('crm_consent_changes', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CHECK), type_='check')
        _source_check(batch_op, SOURCES)
        batch_op.drop_constraint(op.f('fk_crm_consent_changes_restores_id_crm_consent_changes'),
                                 type_='foreignkey')
        batch_op.drop_column('restores_id')
        batch_op.drop_column('previous_at')
        batch_op.drop_column('previous_source')
        batch_op.drop_column('actor')
