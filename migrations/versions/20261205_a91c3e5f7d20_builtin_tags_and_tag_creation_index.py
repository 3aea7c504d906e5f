"""built-in tags, and an index to count a person's recent tag creations

crm_tags.is_builtin marks the tags shipped with the product (the tags of the shipped auto-tag rules):
only admins change them. ix_crm_tags_created_by_at serves the per-person limit on new tags a minute.

Revision ID: a91c3e5f7d20
Revises: c4a7e2d95f10
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a91c3e5f7d20'
down_revision: str | None = 'c4a7e2d95f10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTERs (no table copy on SQLite: triggers of crm_profile_tags refer to crm_tags).
    op.add_column('crm_tags', sa.Column('is_builtin', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_crm_tags_created_by_at', 'crm_tags', ['created_by_id', 'created_at'], unique=False)
    # The tags the shipped rules apply are the built-in ones.
    op.execute(sa.text(
        "UPDATE crm_tags SET is_builtin = :yes WHERE id IN "
        "(SELECT tag_id FROM crm_auto_tag_rules WHERE is_builtin = :yes)").bindparams(yes=True))


def downgrade() -> None:
    op.drop_index('ix_crm_tags_created_by_at', table_name='crm_tags')
    op.drop_column('crm_tags', 'is_builtin')
