"""Trigger DDL of the schema, the one text both the models (create_all) and the migrations run.

Some references are enforced by triggers rather than foreign keys (set-based checks, see below). The
models install these statements after create_all; the migration that introduced each set executes the
same constants. A change to a trigger is a new constant beside the old one and a migration that runs
it, with the models switched to the new one: the constants a migration cites never change
(tests/test_schema_truth.py compares the two schemas).
"""

from __future__ import annotations

# --- crm_segment_members.segment_id -> crm_segments.id, enforced set-based ---------------------
# PostgreSQL: statement-level triggers over the inserted / updated rows (one check per statement),
# locking the segments FOR KEY SHARE like a foreign key check; SQLite: row triggers (cheap there).
MEMBER_SEGMENT_TRIGGERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # dialect: (statements after crm_segment_members is created, after crm_segments is created)
    "postgresql": ((
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
    ), (
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
    )),
    "sqlite": ((
        """CREATE TRIGGER crm_segment_members_check_segment_insert BEFORE INSERT ON crm_segment_members
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_segments WHERE id = NEW.segment_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
        """CREATE TRIGGER crm_segment_members_check_segment_update BEFORE UPDATE OF segment_id
        ON crm_segment_members
        FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM crm_segments WHERE id = NEW.segment_id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    ), (
        """CREATE TRIGGER crm_segments_delete_members AFTER DELETE ON crm_segments
        FOR EACH ROW BEGIN DELETE FROM crm_segment_members WHERE segment_id = OLD.id; END""",
        """CREATE TRIGGER crm_segments_keep_member_ids BEFORE UPDATE OF id ON crm_segments
        FOR EACH ROW WHEN OLD.id <> NEW.id
            AND EXISTS (SELECT 1 FROM crm_segment_members WHERE segment_id = OLD.id)
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    )),
}


# --- crm_profile_tags and crm_tag_events -> crm_profiles, crm_profile_tags -> crm_tags, set-based ----
# Tags (few rows per statement) are checked as a foreign key would, once per statement: the distinct
# tags written are locked FOR KEY SHARE; deleting a tag deletes its profile taggings (in READ
# COMMITTED only, where the cascade's fresh snapshot sees the taggings of writers it waited for).
#
# PostgreSQL: one check per statement (a statement-level trigger over the written rows, an anti-join
# on the profiles' primary key index), and instead of a lock on every referenced profile row, one
# advisory lock: writers of taggings and tag events hold it shared until they commit, deleting
# profiles takes it exclusively first. So a deletion waits for writers in flight, and then its cascade
# (a fresh snapshot) sees their rows; a writer that comes after a deletion waits for it to commit, and
# then its check (a fresh snapshot) sees the profile gone and fails with foreign_key_violation. Fresh
# snapshots per statement are READ COMMITTED (the product's isolation level); in REPEATABLE READ or
# SERIALIZABLE a writer locks the profile rows FOR KEY SHARE as a foreign key would, and deleting
# profiles is refused. Profile ids never change (an update of a referenced id is refused).
# SQLite: row triggers (cheap there, and one writer at a time).
PROFILE_REFERENCE_LOCK = 7165064466093351283  # pg_advisory_xact_lock key ("crm_tags" as 8 bytes)


def _pg_check_profiles(table: str, column: str) -> tuple[str, ...]:
    function = f"{table}_check_profile"
    return (
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            missing bigint;
        BEGIN
            IF current_setting('transaction_isolation') = 'read committed' THEN
                PERFORM pg_advisory_xact_lock_shared({PROFILE_REFERENCE_LOCK});
            ELSE
                PERFORM 1 FROM crm_profiles p WHERE p.id IN (SELECT w.{column} FROM written w)
                    FOR KEY SHARE OF p;
            END IF;
            SELECT w.{column} INTO missing FROM written w
                WHERE NOT EXISTS (SELECT 1 FROM crm_profiles p WHERE p.id = w.{column}) LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                    MESSAGE = 'insert or update on table "{table}": no profile with id ' || missing;
            END IF;
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE TRIGGER {table}_check_profile_insert AFTER INSERT ON {table}
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION {function}()""",
        f"""CREATE OR REPLACE TRIGGER {table}_check_profile_update AFTER UPDATE ON {table}
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT
        EXECUTE FUNCTION {function}()""",
    )


def _sqlite_check_profiles(table: str, column: str) -> tuple[str, ...]:
    missing = f"NOT EXISTS (SELECT 1 FROM crm_profiles WHERE id = NEW.{column})"
    return (
        f"""CREATE TRIGGER IF NOT EXISTS {table}_check_profile_insert BEFORE INSERT ON {table}
        FOR EACH ROW WHEN {missing}
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_check_profile_update
        BEFORE UPDATE OF {column} ON {table}
        FOR EACH ROW WHEN {missing}
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    )


TAGGING_REFERENCE_TRIGGERS: dict[str, tuple[str, ...]] = {
    "postgresql": (
        *_pg_check_profiles("crm_profile_tags", "entity_id"),
        *_pg_check_profiles("crm_tag_events", "profile_id"),
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
        f"""CREATE OR REPLACE FUNCTION crm_profiles_lock_tag_references() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE EXCEPTION 'profiles and their tags are deleted in READ COMMITTED transactions only'
                    USING ERRCODE = 'feature_not_supported';
            END IF;
            PERFORM pg_advisory_xact_lock({PROFILE_REFERENCE_LOCK});
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
    ),
    "sqlite": (
        *_sqlite_check_profiles("crm_profile_tags", "entity_id"),
        *_sqlite_check_profiles("crm_tag_events", "profile_id"),
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
    ),
}

# (table, trigger) and function names of each set, for the migrations' downgrades.
MEMBER_SEGMENT_TRIGGER_NAMES = (
    ("crm_segment_members", "crm_segment_members_check_segment_insert"),
    ("crm_segment_members", "crm_segment_members_check_segment_update"),
    ("crm_segments", "crm_segments_delete_members"),
    ("crm_segments", "crm_segments_keep_member_ids"),
)
MEMBER_SEGMENT_FUNCTIONS = ("crm_segment_members_check_segment", "crm_segments_delete_members",
                            "crm_segments_keep_member_ids")
TAGGING_REFERENCE_TRIGGER_NAMES = (
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
TAGGING_REFERENCE_FUNCTIONS = (
    "crm_profile_tags_check_profile", "crm_tag_events_check_profile", "crm_profile_tags_check_tag",
    "crm_tags_delete_profile_tags", "crm_tags_keep_profile_tag_ids", "crm_profiles_lock_tag_references",
    "crm_profiles_delete_tag_references", "crm_profiles_truncate_tag_references",
    "crm_profiles_keep_tag_reference_ids",
)


# --- crm_profile_changes: the change log of incremental segment refreshes (models/changes.py) ---------
# Triggers on every table a segment rule can read write the profiles a write touched (old and new
# owners) and the table written (``source``), in the writer's transaction, whoever writes: the
# product, a host app or plain SQL. A profile inserted or deleted is logged without a source: it can
# enter or leave any rule, whatever the rule reads. PostgreSQL: statement-level, each profile once per
# statement, tagged with the transaction's id. A rename of a tag, product or category, and any
# TRUNCATE, writes one row without a profile: "anyone may have changed".
_LOG_INSERT = ("INSERT INTO crm_profile_changes (profile_id, tx, changed_at{column}) "
               "SELECT DISTINCT owner, pg_current_xact_id()::text::bigint, now(){value} "
               "FROM ({owners}) owners WHERE owner IS NOT NULL")
# table -> the owners' SELECT over a transition table named {rows}, aliased r
_CHANGE_LOG_OWNERS: dict[str, str] = {
    "crm_profiles": "SELECT r.id AS owner FROM {rows} r",
    "crm_quotes": "SELECT r.profile_id AS owner FROM {rows} r",
    "crm_jobs": "SELECT r.profile_id AS owner FROM {rows} r",
    "crm_opportunities": "SELECT r.profile_id AS owner FROM {rows} r",
    "crm_support_tickets": "SELECT r.profile_id AS owner FROM {rows} r",
    "crm_quote_lines": "SELECT q.profile_id AS owner FROM {rows} r JOIN crm_quotes q ON q.id = r.quote_id",
    "crm_job_lines": "SELECT j.profile_id AS owner FROM {rows} r JOIN crm_jobs j ON j.id = r.job_id",
    "crm_profile_tags": "SELECT r.entity_id AS owner FROM {rows} r",
    "crm_quote_tags": "SELECT q.profile_id AS owner FROM {rows} r JOIN crm_quotes q ON q.id = r.entity_id",
    "crm_job_tags": "SELECT j.profile_id AS owner FROM {rows} r JOIN crm_jobs j ON j.id = r.entity_id",
    "crm_opportunity_tags": ("SELECT o.profile_id AS owner FROM {rows} r "
                             "JOIN crm_opportunities o ON o.id = r.entity_id"),
}
LOGGED_TABLES = frozenset(_CHANGE_LOG_OWNERS)
# Names a rule compares with: renaming one can change anyone's membership. (Deleting one changes the
# rows that refer to it, which log their own profiles.)
_CHANGE_LOG_ANYONE: dict[str, str] = {
    "crm_tags": "name_key", "crm_products": "sku, name, category_id", "crm_categories": "name",
}


def _source(table: str, event: str, sources: bool) -> str:
    """The ``source`` column's SQL value for a row ``event`` on ``table`` ("" without the column)."""
    if not sources:
        return ""
    return "NULL" if table == "crm_profiles" and event != "update" else f"'{table}'"


def _pg_log(table: str, event: str, owners: str, sources: bool) -> str:
    value = _source(table, event, sources)
    return _LOG_INSERT.format(column=", source" if value else "", value=f", {value}" if value else "",
                              owners=owners)


def _pg_log_owners(table: str, owners: str, sources: bool) -> tuple[str, ...]:
    function = f"{table}_log_changes"
    new, old = owners.format(rows="new_rows"), owners.format(rows="old_rows")
    return (
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {_pg_log(table, "insert", new, sources)};
            ELSIF TG_OP = 'DELETE' THEN
                {_pg_log(table, "delete", old, sources)};
            ELSE
                {_pg_log(table, "update", new + " UNION " + old, sources)};
            END IF;
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE TRIGGER {table}_log_insert AFTER INSERT ON {table}
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        f"""CREATE OR REPLACE TRIGGER {table}_log_update AFTER UPDATE ON {table}
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        f"""CREATE OR REPLACE TRIGGER {table}_log_delete AFTER DELETE ON {table}
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        f"""CREATE OR REPLACE TRIGGER {table}_log_truncate AFTER TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION crm_log_anyone_changed()""",
    )


def _pg_log_anyone(table: str, columns: str) -> tuple[str, ...]:
    return (
        f"""CREATE OR REPLACE TRIGGER {table}_log_anyone AFTER UPDATE OF {columns} OR TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION crm_log_anyone_changed()""",
    )


def _sqlite_owner(owners: str, row: str) -> str:
    """The owners' SELECT for one row (NEW or OLD) of a row trigger."""
    select, _, rest = owners.partition(" FROM {rows} r")
    select = select.replace("r.", f"{row}.")
    if not rest:
        return select
    # "JOIN crm_x alias ON alias.id = r.col" -> "FROM crm_x alias WHERE alias.id = ROW.col"
    table_alias, _, condition = rest.removeprefix(" JOIN ").partition(" ON ")
    return f"{select} FROM {table_alias} WHERE {condition.replace('r.', f'{row}.')}"


def _sqlite_log(table: str, event: str, owners: str, sources: bool) -> str:
    value = _source(table, event, sources)
    column, selected = (", source", f", {value}") if value else ("", "")
    return (f"INSERT INTO crm_profile_changes (profile_id, changed_at{column}) "
            f"SELECT owner, datetime('now'){selected} FROM ({owners}) WHERE owner IS NOT NULL")


def _sqlite_log_owners(table: str, owners: str, sources: bool) -> tuple[str, ...]:
    new, old = _sqlite_owner(owners, "NEW"), _sqlite_owner(owners, "OLD")
    return (
        f"""CREATE TRIGGER IF NOT EXISTS {table}_log_insert AFTER INSERT ON {table}
        FOR EACH ROW BEGIN {_sqlite_log(table, "insert", new, sources)}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_log_update AFTER UPDATE ON {table}
        FOR EACH ROW BEGIN {_sqlite_log(table, "update", new + " UNION " + old, sources)}; END""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_log_delete AFTER DELETE ON {table}
        FOR EACH ROW BEGIN {_sqlite_log(table, "delete", old, sources)}; END""",
    )


def _sqlite_log_anyone(table: str, columns: str) -> tuple[str, ...]:
    return (
        f"""CREATE TRIGGER IF NOT EXISTS {table}_log_anyone AFTER UPDATE OF {columns} ON {table}
        FOR EACH ROW BEGIN INSERT INTO crm_profile_changes (profile_id, changed_at)
            VALUES (NULL, datetime('now')); END""",
    )


def change_log_triggers(*, sources: bool = True) -> dict[str, tuple[str, ...]]:
    """The change log's trigger statements per dialect; ``sources=False``: as they were before the
    log recorded which table was written (migration 4e1b7c9d2a10)."""
    return {
        "postgresql": (
            """CREATE OR REPLACE FUNCTION crm_log_anyone_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO crm_profile_changes (profile_id, tx, changed_at)
                    VALUES (NULL, pg_current_xact_id()::text::bigint, now());
                RETURN NULL;
            END $$""",
            *(statement for table, owners in _CHANGE_LOG_OWNERS.items()
              for statement in _pg_log_owners(table, owners, sources)),
            *(statement for table, columns in _CHANGE_LOG_ANYONE.items()
              for statement in _pg_log_anyone(table, columns)),
        ),
        # SQLite: row triggers (cheap there, and one writer at a time); no TRUNCATE in SQLite.
        "sqlite": (
            *(statement for table, owners in _CHANGE_LOG_OWNERS.items()
              for statement in _sqlite_log_owners(table, owners, sources)),
            *(statement for table, columns in _CHANGE_LOG_ANYONE.items()
              for statement in _sqlite_log_anyone(table, columns)),
        ),
    }


CHANGE_LOG_TRIGGERS = change_log_triggers()
CHANGE_LOG_TRIGGER_NAMES = (
    *((table, f"{table}_log_{event}") for table in _CHANGE_LOG_OWNERS
      for event in ("insert", "update", "delete", "truncate")),
    *((table, f"{table}_log_anyone") for table in _CHANGE_LOG_ANYONE),
)
CHANGE_LOG_FUNCTIONS = ("crm_log_anyone_changed", *(f"{table}_log_changes" for table in _CHANGE_LOG_OWNERS))


# --- crm_segment_events and crm_workflow_enrollments -> profiles, segments and workflows, set-based ---
# A bulk write records a segment event per entry or exit and an enrollment per entry: up to one per
# profile and segment (or workflow). Their foreign keys checked and locked the referenced profile and
# segment or workflow once per row: in a 100,000-profile import the checks took 2.4 s of the 4.5 s the
# events' INSERT took, and 2.6 s of the 5.7 s of the enrollments' (auto_explain, load ≈ 3). They are
# checked once per statement as the taggings are (above): profiles under the shared advisory lock that
# deleting profiles takes exclusively (crm_profiles_lock_tag_references), segments and workflows (a few
# per statement) locked FOR KEY SHARE as a foreign key would. Deleting a profile, segment or workflow
# deletes its events and enrollments in one statement (an enrollment's steps go with it by their
# foreign key). ``actor_id`` keeps its foreign key: it is NULL but for a person's own action.
def _pg_check_parent(table: str, column: str, parent: str, label: str) -> tuple[str, ...]:
    """A statement's distinct ``column`` values must be rows of ``parent``, locked FOR KEY SHARE."""
    function = f"{table}_check_{label}"
    return (
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            wanted integer[];
            found integer;
        BEGIN
            SELECT array_agg({column}) INTO wanted FROM (SELECT DISTINCT {column} FROM written) w;
            IF wanted IS NULL THEN
                RETURN NULL;
            END IF;
            PERFORM 1 FROM {parent} p WHERE p.id = ANY (wanted) FOR KEY SHARE OF p;
            GET DIAGNOSTICS found = ROW_COUNT;
            IF found < cardinality(wanted) THEN
                RAISE EXCEPTION 'insert or update on table "{table}": no such {label}'
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE TRIGGER {function}_insert AFTER INSERT ON {table}
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        f"""CREATE OR REPLACE TRIGGER {function}_update AFTER UPDATE ON {table}
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
    )


Children = tuple[tuple[str, str], ...]  # (table, column) naming a parent's rows


def _pg_delete_with_parent(parent: str, name: str, children: Children) -> tuple[str, ...]:
    """Deleting rows of ``parent`` deletes the ``children`` (table, column) that name them, and a
    row of ``parent`` that is named keeps its id."""
    deletes = "\n            ".join(f"DELETE FROM {table} c USING removed r WHERE c.{column} = r.id;"
                                    for table, column in children)
    named = _named(children)
    return (
        f"""CREATE OR REPLACE FUNCTION {parent}_delete_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {deletes}
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE TRIGGER {parent}_delete_{name} AFTER DELETE ON {parent}
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION {parent}_delete_{name}()""",
        f"""CREATE OR REPLACE FUNCTION {parent}_keep_{name}_ids() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF {named} THEN
                RAISE EXCEPTION 'update on table "{parent}" changes an id that {name} refer to'
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NEW;
        END $$""",
        f"""CREATE OR REPLACE TRIGGER {parent}_keep_{name}_ids BEFORE UPDATE OF id ON {parent}
        FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION {parent}_keep_{name}_ids()""",
    )


def _named(children: Children) -> str:
    """A row trigger's condition: some child names the row's old id."""
    return " OR ".join(f"EXISTS (SELECT 1 FROM {table} WHERE {column} = OLD.id)"
                       for table, column in children)


def _sqlite_check_parent(table: str, column: str, parent: str, label: str) -> tuple[str, ...]:
    missing = f"NOT EXISTS (SELECT 1 FROM {parent} WHERE id = NEW.{column})"
    return (
        f"""CREATE TRIGGER IF NOT EXISTS {table}_check_{label}_insert BEFORE INSERT ON {table}
        FOR EACH ROW WHEN {missing}
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_check_{label}_update BEFORE UPDATE OF {column} ON {table}
        FOR EACH ROW WHEN {missing}
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    )


def _sqlite_delete_with_parent(parent: str, name: str, children: Children) -> tuple[str, ...]:
    deletes = " ".join(f"DELETE FROM {table} WHERE {column} = OLD.id;" for table, column in children)
    named = _named(children)
    return (
        f"""CREATE TRIGGER IF NOT EXISTS {parent}_delete_{name} AFTER DELETE ON {parent}
        FOR EACH ROW BEGIN {deletes} END""",
        f"""CREATE TRIGGER IF NOT EXISTS {parent}_keep_{name}_ids BEFORE UPDATE OF id ON {parent}
        FOR EACH ROW WHEN OLD.id <> NEW.id AND ({named})
        BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END""",
    )


# (parent, name, children): what deleting a parent deletes with it
_HISTORY_OF = (
    ("crm_profiles", "history",
     (("crm_segment_events", "profile_id"), ("crm_workflow_enrollments", "profile_id"))),
    ("crm_segments", "events", (("crm_segment_events", "segment_id"),)),
    ("crm_workflows", "enrollments", (("crm_workflow_enrollments", "workflow_id"),)),
)
HISTORY_REFERENCE_TRIGGERS: dict[str, tuple[str, ...]] = {
    "postgresql": (
        *_pg_check_profiles("crm_segment_events", "profile_id"),
        *_pg_check_profiles("crm_workflow_enrollments", "profile_id"),
        *_pg_check_parent("crm_segment_events", "segment_id", "crm_segments", "segment"),
        *_pg_check_parent("crm_workflow_enrollments", "workflow_id", "crm_workflows", "workflow"),
        *(statement for parent in _HISTORY_OF for statement in _pg_delete_with_parent(*parent)),
        """CREATE OR REPLACE FUNCTION crm_profiles_truncate_history() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM crm_segment_events;
            DELETE FROM crm_workflow_enrollments;
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE TRIGGER crm_profiles_truncate_history AFTER TRUNCATE ON crm_profiles
        FOR EACH STATEMENT EXECUTE FUNCTION crm_profiles_truncate_history()""",
    ),
    "sqlite": (
        *_sqlite_check_profiles("crm_segment_events", "profile_id"),
        *_sqlite_check_profiles("crm_workflow_enrollments", "profile_id"),
        *_sqlite_check_parent("crm_segment_events", "segment_id", "crm_segments", "segment"),
        *_sqlite_check_parent("crm_workflow_enrollments", "workflow_id", "crm_workflows", "workflow"),
        *(statement for parent in _HISTORY_OF for statement in _sqlite_delete_with_parent(*parent)),
    ),
}
HISTORY_REFERENCE_TRIGGER_NAMES = (
    *((table, f"{table}_check_{label}_{event}")
      for table, label in (("crm_segment_events", "profile"), ("crm_workflow_enrollments", "profile"),
                           ("crm_segment_events", "segment"), ("crm_workflow_enrollments", "workflow"))
      for event in ("insert", "update")),
    *((parent, f"{parent}_{what}") for parent, name, _ in _HISTORY_OF
      for what in (f"delete_{name}", f"keep_{name}_ids")),
    ("crm_profiles", "crm_profiles_truncate_history"),
)
HISTORY_REFERENCE_FUNCTIONS = (
    "crm_segment_events_check_profile", "crm_workflow_enrollments_check_profile",
    "crm_segment_events_check_segment", "crm_workflow_enrollments_check_workflow",
    *(f"{parent}_{what}" for parent, name, _ in _HISTORY_OF
      for what in (f"delete_{name}", f"keep_{name}_ids")),
    "crm_profiles_truncate_history",
)


# --- crm_segment_members and crm_consent_changes -> crm_profiles, set-based -------------------------
# The other two tables an import writes a row per profile into: a membership per segment entered and
# a consent history row per consent given. Their profile foreign keys checked and locked the profile
# once per row (1.8 s of the 3.1 s of the members' INSERTs of a 100,000-profile import; 0.3-0.6 s of
# each 1 s for 50,000 consent rows). Checked once per statement under the shared advisory lock, as
# above; deleting a profile deletes its memberships and consent history in one statement (the
# memberships' source counts are taken off by the profile's own delete triggers, as with the foreign
# key's cascade), and emptying the profiles empties the memberships with TRUNCATE, whose trigger
# empties their counts.
_MEMBERS_AND_CONSENTS = (("crm_segment_members", "profile_id"), ("crm_consent_changes", "profile_id"))
MEMBER_CONSENT_PROFILE_TRIGGERS: dict[str, tuple[str, ...]] = {
    "postgresql": (
        *_pg_check_profiles("crm_segment_members", "profile_id"),
        *_pg_check_profiles("crm_consent_changes", "profile_id"),
        *_pg_delete_with_parent("crm_profiles", "memberships", _MEMBERS_AND_CONSENTS),
        """CREATE OR REPLACE FUNCTION crm_profiles_truncate_memberships() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            TRUNCATE crm_segment_members;
            DELETE FROM crm_consent_changes;
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE TRIGGER crm_profiles_truncate_memberships AFTER TRUNCATE ON crm_profiles
        FOR EACH STATEMENT EXECUTE FUNCTION crm_profiles_truncate_memberships()""",
    ),
    "sqlite": (
        *_sqlite_check_profiles("crm_segment_members", "profile_id"),
        *_sqlite_check_profiles("crm_consent_changes", "profile_id"),
        *_sqlite_delete_with_parent("crm_profiles", "memberships", _MEMBERS_AND_CONSENTS),
    ),
}
MEMBER_CONSENT_PROFILE_TRIGGER_NAMES = (
    *((table, f"{table}_check_profile_{event}") for table, _ in _MEMBERS_AND_CONSENTS
      for event in ("insert", "update")),
    ("crm_profiles", "crm_profiles_delete_memberships"),
    ("crm_profiles", "crm_profiles_keep_memberships_ids"),
    ("crm_profiles", "crm_profiles_truncate_memberships"),
)
MEMBER_CONSENT_PROFILE_FUNCTIONS = (
    "crm_segment_members_check_profile", "crm_consent_changes_check_profile",
    "crm_profiles_delete_memberships", "crm_profiles_keep_memberships_ids",
    "crm_profiles_truncate_memberships",
)
