"""segment members reference segments through triggers

A segment's first fill inserts up to one member row per profile, and the foreign key
crm_segment_members.segment_id -> crm_segments.id checked each row on its own (a query and a lock of
the same segment row, about as much as writing the row). It is replaced by triggers that check each
statement's segments once (PostgreSQL: statement-level, locking them FOR KEY SHARE like a foreign key
check; SQLite: row triggers) and delete a segment's members with it. The statements are those of
crm_segments.models.segments.MEMBER_SEGMENT_TRIGGERS at this revision, copied so that this file does
not change when the models do.

Revision ID: 7a81fe78d6af
Revises: cff515ade0e4
Create Date: 2026-12-02 04:45:05.865452
"""

from collections.abc import Sequence

from alembic import op

revision: str = '7a81fe78d6af'
down_revision: str | None = 'cff515ade0e4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL = (
    """CREATE OR REPLACE FUNCTION crm_segment_members_check_segment() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            wanted integer[];
            found integer;
        BEGIN
            SELECT array_agg(segment_id) INTO wanted FROM (SELECT DISTINCT segment_id FROM written) w;
            IF wanted IS NULL THEN
                RETURN NULL;
            END IF;
            PERFORM 1 FROM crm_segments s WHERE s.id = ANY (wanted) FOR KEY SHARE OF s;
            GET DIAGNOSTICS found = ROW_COUNT;
            IF found < cardinality(wanted) THEN
                RAISE EXCEPTION 'crm_segment_members refers to a segment that does not exist'
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        END $$""",
    """CREATE TRIGGER crm_segment_members_check_segment_insert AFTER INSERT ON crm_segment_members
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION crm_segment_members_check_segment()""",
    """CREATE TRIGGER crm_segment_members_check_segment_update AFTER UPDATE ON crm_segment_members
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION crm_segment_members_check_segment()""",
    """CREATE OR REPLACE FUNCTION crm_segments_delete_members() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM crm_segment_members m USING removed r WHERE m.segment_id = r.id;
            RETURN NULL;
        END $$""",
    """CREATE TRIGGER crm_segments_delete_members AFTER DELETE ON crm_segments
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION crm_segments_delete_members()""",
    """CREATE OR REPLACE FUNCTION crm_segments_keep_member_ids() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM crm_segment_members WHERE segment_id = OLD.id) THEN
                RAISE EXCEPTION 'update on table "crm_segments" changes the id of a segment with members'
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NEW;
        END $$""",
    """CREATE TRIGGER crm_segments_keep_member_ids BEFORE UPDATE OF id ON crm_segments
        FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION crm_segments_keep_member_ids()""",
)
SQLITE = (
    """CREATE TRIGGER crm_segment_members_check_segment_insert BEFORE INSERT ON crm_segment_members
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_segments WHERE id = NEW.segment_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER crm_segment_members_check_segment_update BEFORE UPDATE OF segment_id
        ON crm_segment_members
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_segments WHERE id = NEW.segment_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    """CREATE TRIGGER crm_segments_delete_members AFTER DELETE ON crm_segments
        FOR EACH ROW BEGIN DELETE FROM crm_segment_members WHERE segment_id = OLD.id; END""",
    """CREATE TRIGGER crm_segments_keep_member_ids BEFORE UPDATE OF id ON crm_segments
        FOR EACH ROW WHEN OLD.id <> NEW.id
            AND EXISTS (SELECT 1 FROM crm_segment_members WHERE segment_id = OLD.id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
)
TRIGGERS = (
    ("crm_segment_members", "crm_segment_members_check_segment_insert"),
    ("crm_segment_members", "crm_segment_members_check_segment_update"),
    ("crm_segments", "crm_segments_delete_members"),
    ("crm_segments", "crm_segments_keep_member_ids"),
)
FUNCTIONS = ("crm_segment_members_check_segment", "crm_segments_delete_members",
             "crm_segments_keep_member_ids")


def upgrade() -> None:
    with op.batch_alter_table('crm_segment_members', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_crm_segment_members_segment_id_crm_segments'),
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
    with op.batch_alter_table('crm_segment_members', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_crm_segment_members_segment_id_crm_segments'),
                                    'crm_segments', ['segment_id'], ['id'], ondelete='CASCADE')
