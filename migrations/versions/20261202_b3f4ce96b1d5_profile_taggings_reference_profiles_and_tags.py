"""profile taggings and tag events reference profiles and tags through triggers

crm_profile_tags.entity_id -> crm_profiles.id, crm_profile_tags.tag_id -> crm_tags.id and
crm_tag_events.profile_id -> crm_profiles.id were foreign keys, which check and lock the referenced
row for every row written: tagging 100,000 profiles in bulk dirtied (and WAL-logged) most pages of
the profiles table and locked the same tag 100,000 times. They are replaced by triggers that check
each statement's rows at once and delete a profile's (or a tag's) taggings with it; on PostgreSQL an
advisory lock, held shared by writers and exclusively by deletions of profiles, takes the place of
the profile row locks. The statements are crm_segments.models.triggers.TAGGING_REFERENCE_TRIGGERS,
which the models run after create_all too.

Revision ID: b3f4ce96b1d5
Revises: 7a81fe78d6af
Create Date: 2026-12-02 04:48:52.246186
"""

from collections.abc import Sequence

from alembic import op

from crm_segments.models.triggers import (
    TAGGING_REFERENCE_FUNCTIONS,
    TAGGING_REFERENCE_TRIGGER_NAMES,
    TAGGING_REFERENCE_TRIGGERS,
)

revision: str = 'b3f4ce96b1d5'
down_revision: str | None = '7a81fe78d6af'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def upgrade() -> None:
    with op.batch_alter_table('crm_profile_tags', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_crm_profile_tags_entity_id_crm_profiles'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_crm_profile_tags_tag_id_crm_tags'), type_='foreignkey')

    with op.batch_alter_table('crm_tag_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_crm_tag_events_profile_id_crm_profiles'),
                                 type_='foreignkey')

    for statement in TAGGING_REFERENCE_TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, trigger in TAGGING_REFERENCE_TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}" if postgresql
                   else f"DROP TRIGGER IF EXISTS {trigger}")
    if postgresql:
        for function in TAGGING_REFERENCE_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")

    with op.batch_alter_table('crm_tag_events', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_crm_tag_events_profile_id_crm_profiles'), 'crm_profiles',
                                    ['profile_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('crm_profile_tags', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_crm_profile_tags_tag_id_crm_tags'), 'crm_tags',
                                    ['tag_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_crm_profile_tags_entity_id_crm_profiles'), 'crm_profiles',
                                    ['entity_id'], ['id'], ondelete='CASCADE')
