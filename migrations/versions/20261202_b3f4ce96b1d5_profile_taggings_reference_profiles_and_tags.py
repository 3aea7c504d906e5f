"""profile taggings and tag events reference profiles and tags through triggers

crm_profile_tags.entity_id -> crm_profiles.id, crm_profile_tags.tag_id -> crm_tags.id and
crm_tag_events.profile_id -> crm_profiles.id were foreign keys, which check and lock the referenced
row for every row written: tagging 100,000 profiles in bulk dirtied (and WAL-logged) most pages of
the profiles table and locked the same tag 100,000 times. They are replaced by triggers that check
each statement's rows at once and delete a profile's (or a tag's) taggings with it; on PostgreSQL an
advisory lock, held shared by writers and exclusively by deletions of profiles, takes the place of
the profile row locks. The statements are those of crm_segments.models.tags.TAGGING_REFERENCE_TRIGGERS
at this revision, copied so that this file does not change when the models do.

Revision ID: b3f4ce96b1d5
Revises: 7a81fe78d6af
Create Date: 2026-12-02 04:48:52.246186
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'b3f4ce96b1d5'
down_revision: str | None = '7a81fe78d6af'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL = (
    """CREATE OR REPLACE FUNCTION crm_profile_tags_check_profile() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            missing bigint;
        BEGIN
            IF current_setting('transaction_isolation') = 'read committed' THEN
                PERFORM pg_advisory_xact_lock_shared(7165064466093351283);
            ELSE
                PERFORM 1 FROM crm_profiles p WHERE p.id IN (SELECT w.entity_id FROM written w)
                    FOR KEY SHARE OF p;
            END IF;
            SELECT w.entity_id INTO missing FROM written w
                WHERE NOT EXISTS (SELECT 1 FROM crm_profiles p WHERE p.id = w.entity_id) LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                    MESSAGE = 'insert or update on table "crm_profile_tags": no profile with id ' || missing;
            END IF;
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_profile_tags_check_profile_insert AFTER INSERT ON crm_profile_tags
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION crm_profile_tags_check_profile()""",
    """CREATE OR REPLACE TRIGGER crm_profile_tags_check_profile_update AFTER UPDATE ON crm_profile_tags
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION crm_profile_tags_check_profile()""",
    """CREATE OR REPLACE FUNCTION crm_tag_events_check_profile() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            missing bigint;
        BEGIN
            IF current_setting('transaction_isolation') = 'read committed' THEN
                PERFORM pg_advisory_xact_lock_shared(7165064466093351283);
            ELSE
                PERFORM 1 FROM crm_profiles p WHERE p.id IN (SELECT w.profile_id FROM written w)
                    FOR KEY SHARE OF p;
            END IF;
            SELECT w.profile_id INTO missing FROM written w
                WHERE NOT EXISTS (SELECT 1 FROM crm_profiles p WHERE p.id = w.profile_id) LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                    MESSAGE = 'insert or update on table "crm_tag_events": no profile with id ' || missing;
            END IF;
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_tag_events_check_profile_insert AFTER INSERT ON crm_tag_events
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION crm_tag_events_check_profile()""",
    """CREATE OR REPLACE TRIGGER crm_tag_events_check_profile_update AFTER UPDATE ON crm_tag_events
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION crm_tag_events_check_profile()""",
    """CREATE OR REPLACE FUNCTION crm_profile_tags_check_tag() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            wanted integer[];
            found integer;
        BEGIN
            SELECT array_agg(tag_id) INTO wanted FROM (SELECT DISTINCT tag_id FROM written) w;
            IF wanted IS NULL THEN
                RETURN NULL;
            END IF;
            PERFORM 1 FROM crm_tags t WHERE t.id = ANY (wanted) FOR KEY SHARE OF t;
            GET DIAGNOSTICS found = ROW_COUNT;
            IF found < cardinality(wanted) THEN
                RAISE EXCEPTION 'insert or update on table "crm_profile_tags": no such tag'
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_profile_tags_check_tag_insert AFTER INSERT ON crm_profile_tags
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION crm_profile_tags_check_tag()""",
    """CREATE OR REPLACE TRIGGER crm_profile_tags_check_tag_update AFTER UPDATE ON crm_profile_tags
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION crm_profile_tags_check_tag()""",
    """CREATE OR REPLACE FUNCTION crm_tags_delete_profile_tags() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE EXCEPTION 'tags are deleted in READ COMMITTED transactions only'
                    USING ERRCODE = 'feature_not_supported';
            END IF;
            DELETE FROM crm_profile_tags t USING removed r WHERE t.tag_id = r.id;
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_tags_delete_profile_tags AFTER DELETE ON crm_tags
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
        EXECUTE FUNCTION crm_tags_delete_profile_tags()""",
    """CREATE OR REPLACE FUNCTION crm_tags_keep_profile_tag_ids() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM crm_profile_tags WHERE tag_id = OLD.id) THEN
                RAISE EXCEPTION 'update on table "crm_tags" changes the id of a tag in use'
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NEW;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_tags_keep_profile_tag_ids BEFORE UPDATE OF id ON crm_tags
        FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
        EXECUTE FUNCTION crm_tags_keep_profile_tag_ids()""",
    """CREATE OR REPLACE FUNCTION crm_profiles_lock_tag_references() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE EXCEPTION 'profiles and their tags are deleted in READ COMMITTED transactions only'
                    USING ERRCODE = 'feature_not_supported';
            END IF;
            PERFORM pg_advisory_xact_lock(7165064466093351283);
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_profiles_lock_tag_references BEFORE DELETE OR TRUNCATE
        ON crm_profiles FOR EACH STATEMENT EXECUTE FUNCTION crm_profiles_lock_tag_references()""",
    """CREATE OR REPLACE FUNCTION crm_profiles_delete_tag_references() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM crm_profile_tags t USING removed r WHERE t.entity_id = r.id;
            DELETE FROM crm_tag_events e USING removed r WHERE e.profile_id = r.id;
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_profiles_delete_tag_references AFTER DELETE ON crm_profiles
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT
        EXECUTE FUNCTION crm_profiles_delete_tag_references()""",
    """CREATE OR REPLACE FUNCTION crm_profiles_truncate_tag_references() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM crm_profile_tags;
            DELETE FROM crm_tag_events;
            RETURN NULL;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_profiles_truncate_tag_references AFTER TRUNCATE ON crm_profiles
        FOR EACH STATEMENT EXECUTE FUNCTION crm_profiles_truncate_tag_references()""",
    """CREATE OR REPLACE FUNCTION crm_profiles_keep_tag_reference_ids() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM crm_profile_tags WHERE entity_id = OLD.id)
                    OR EXISTS (SELECT 1 FROM crm_tag_events WHERE profile_id = OLD.id) THEN
                RAISE EXCEPTION 'update on table "crm_profiles" changes the id of a profile with tags'
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NEW;
        END $$""",
    """CREATE OR REPLACE TRIGGER crm_profiles_keep_tag_reference_ids BEFORE UPDATE OF id ON crm_profiles
        FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
        EXECUTE FUNCTION crm_profiles_keep_tag_reference_ids()""",
)
SQLITE = (
    """CREATE TRIGGER IF NOT EXISTS crm_profile_tags_check_profile_insert BEFORE INSERT ON crm_profile_tags
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_profiles WHERE id = NEW.entity_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER IF NOT EXISTS crm_profile_tags_check_profile_update
        BEFORE UPDATE OF entity_id ON crm_profile_tags
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_profiles WHERE id = NEW.entity_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER IF NOT EXISTS crm_tag_events_check_profile_insert BEFORE INSERT ON crm_tag_events
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_profiles WHERE id = NEW.profile_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER IF NOT EXISTS crm_tag_events_check_profile_update
        BEFORE UPDATE OF profile_id ON crm_tag_events
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_profiles WHERE id = NEW.profile_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER IF NOT EXISTS crm_profile_tags_check_tag_insert BEFORE INSERT ON crm_profile_tags
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_tags WHERE id = NEW.tag_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER IF NOT EXISTS crm_profile_tags_check_tag_update
        BEFORE UPDATE OF tag_id ON crm_profile_tags
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_tags WHERE id = NEW.tag_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER IF NOT EXISTS crm_tags_delete_profile_tags AFTER DELETE ON crm_tags
        FOR EACH ROW BEGIN DELETE FROM crm_profile_tags WHERE tag_id = OLD.id; END""",
    """CREATE TRIGGER IF NOT EXISTS crm_tags_keep_profile_tag_ids BEFORE UPDATE OF id ON crm_tags
        FOR EACH ROW WHEN OLD.id <> NEW.id AND EXISTS (SELECT 1 FROM crm_profile_tags WHERE tag_id = OLD.id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER IF NOT EXISTS crm_profiles_delete_tag_references AFTER DELETE ON crm_profiles
        FOR EACH ROW BEGIN
            DELETE FROM crm_profile_tags WHERE entity_id = OLD.id;
            DELETE FROM crm_tag_events WHERE profile_id = OLD.id;
        END""",
    """CREATE TRIGGER IF NOT EXISTS crm_profiles_keep_tag_reference_ids
        BEFORE UPDATE OF id ON crm_profiles FOR EACH ROW WHEN OLD.id <> NEW.id
            AND (EXISTS (SELECT 1 FROM crm_profile_tags WHERE entity_id = OLD.id)
                 OR EXISTS (SELECT 1 FROM crm_tag_events WHERE profile_id = OLD.id))
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
)
TRIGGERS = (
    ("crm_profile_tags", "crm_profile_tags_check_profile_insert"),
    ("crm_profile_tags", "crm_profile_tags_check_profile_update"),
    ("crm_tag_events", "crm_tag_events_check_profile_insert"),
    ("crm_tag_events", "crm_tag_events_check_profile_update"),
    ("crm_profile_tags", "crm_profile_tags_check_tag_insert"),
    ("crm_profile_tags", "crm_profile_tags_check_tag_update"),
    ("crm_tags", "crm_tags_delete_profile_tags"),
    ("crm_tags", "crm_tags_keep_profile_tag_ids"),
    ("crm_profiles", "crm_profiles_lock_tag_references"),
    ("crm_profiles", "crm_profiles_delete_tag_references"),
    ("crm_profiles", "crm_profiles_truncate_tag_references"),
    ("crm_profiles", "crm_profiles_keep_tag_reference_ids"),
)
FUNCTIONS = ("crm_profile_tags_check_profile", "crm_tag_events_check_profile", "crm_profile_tags_check_tag",
             "crm_tags_delete_profile_tags", "crm_tags_keep_profile_tag_ids",
             "crm_profiles_lock_tag_references", "crm_profiles_delete_tag_references",
             "crm_profiles_truncate_tag_references", "crm_profiles_keep_tag_reference_ids")


def upgrade() -> None:
    with op.batch_alter_table('crm_profile_tags', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_crm_profile_tags_entity_id_crm_profiles'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_crm_profile_tags_tag_id_crm_tags'), type_='foreignkey')

    with op.batch_alter_table('crm_tag_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_crm_tag_events_profile_id_crm_profiles'),
                                 type_='foreignkey')

    dialect = op.get_bind().dialect.name
    for statement in POSTGRESQL if dialect == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}" if postgresql
                   else f"DROP TRIGGER IF EXISTS {trigger}")
    if postgresql:
        for function in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")

    with op.batch_alter_table('crm_tag_events', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_crm_tag_events_profile_id_crm_profiles'), 'crm_profiles',
                                    ['profile_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('crm_profile_tags', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_crm_profile_tags_tag_id_crm_tags'), 'crm_tags',
                                    ['tag_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_crm_profile_tags_entity_id_crm_profiles'), 'crm_profiles',
                                    ['entity_id'], ['id'], ondelete='CASCADE')
