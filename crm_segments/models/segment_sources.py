"""Each segment's members counted by acquisition source, kept by triggers, for the segment page's
"where do its members come from" (a 900,000-member segment is then a few rows, not a join of every
member with its profile).

Triggers on crm_segment_members (members in and out) and crm_profiles (a profile's source changes, a
profile is deleted) write them in the writer's transaction, whoever writes. A profile without a source
is counted under ``NO_SOURCE`` (the key cannot be NULL).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base

from .schema_ddl import run_after_create_all

NO_SOURCE = ""


class SegmentSource(Base):
    __tablename__ = "crm_segment_sources"

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("crm_segments.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    members: Mapped[int] = mapped_column(default=0)


# PostgreSQL. Members come and go in bulk (a first fill inserts one row per member): statement-level
# counts over the written rows, rows locked in key order. A member row deleted because its profile
# is (the foreign key's cascade) no longer finds the profile: the profile's own BEFORE DELETE trigger
# has taken it off its segments' counts while its memberships were still there.
_PG_MEMBER_COUNTS = """SELECT r.segment_id, COALESCE(p.acquisition_source, '') AS source, count(*) AS n
    FROM {rows} r JOIN crm_profiles p ON p.id = r.profile_id GROUP BY 1, 2"""
_PG_ADD = """INSERT INTO crm_segment_sources AS s (segment_id, source, members)
    SELECT segment_id, source, n FROM ({counts}) c ORDER BY segment_id, source
    ON CONFLICT (segment_id, source) DO UPDATE SET members = s.members + EXCLUDED.members"""
_PG_TAKE = """PERFORM 1 FROM crm_segment_sources s JOIN ({counts}) c
        ON s.segment_id = c.segment_id AND s.source = c.source
        ORDER BY s.segment_id, s.source FOR UPDATE OF s;
    UPDATE crm_segment_sources s SET members = s.members - c.n FROM ({counts}) c
    WHERE s.segment_id = c.segment_id AND s.source = c.source"""
# Profiles whose source an UPDATE statement changed, and their memberships counted under the old or
# the new source: once per statement, since a row trigger would update the same count once per
# profile, each update walking the versions of that row the transaction made before it (a bulk
# change of 4,000 sources took 7 s that way).
_PG_SOURCE_CHANGES = """SELECT o.id, COALESCE(o.acquisition_source, '') AS old_source,
        COALESCE(n.acquisition_source, '') AS new_source
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE o.acquisition_source IS DISTINCT FROM n.acquisition_source"""
_PG_MOVED_MEMBERS = """SELECT m.segment_id, c.{side}_source AS source, count(*) AS n
    FROM ({changes}) c JOIN crm_segment_members m ON m.profile_id = c.id GROUP BY 1, 2"""

_PG_DEPARTED = """SELECT segment_id, source, count(*) AS n FROM pg_temp.crm_departing_members GROUP BY 1, 2"""

POSTGRESQL: tuple[str, ...] = (
    f"""CREATE OR REPLACE FUNCTION crm_segment_members_count_sources() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            {_PG_TAKE.format(counts=_PG_MEMBER_COUNTS.format(rows="old_rows"))};
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            {_PG_ADD.format(counts=_PG_MEMBER_COUNTS.format(rows="new_rows"))};
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER crm_segment_members_count_sources_insert AFTER INSERT ON crm_segment_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION crm_segment_members_count_sources()""",
    """CREATE TRIGGER crm_segment_members_count_sources_update AFTER UPDATE ON crm_segment_members
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_segment_members_count_sources()""",
    """CREATE TRIGGER crm_segment_members_count_sources_delete AFTER DELETE ON crm_segment_members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION crm_segment_members_count_sources()""",
    """CREATE OR REPLACE FUNCTION crm_segment_members_truncate_sources() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM crm_segment_sources;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER crm_segment_members_count_sources_truncate AFTER TRUNCATE ON crm_segment_members
    FOR EACH STATEMENT EXECUTE FUNCTION crm_segment_members_truncate_sources()""",
    f"""CREATE OR REPLACE FUNCTION crm_profiles_move_sources() RETURNS trigger LANGUAGE plpgsql
    SET enable_nestloop = off AS $$
    BEGIN
        IF NOT EXISTS ({_PG_SOURCE_CHANGES}) THEN
            RETURN NULL;
        END IF;
        {_PG_TAKE.format(counts=_PG_MOVED_MEMBERS.format(side="old", changes=_PG_SOURCE_CHANGES))};
        {_PG_ADD.format(counts=_PG_MOVED_MEMBERS.format(side="new", changes=_PG_SOURCE_CHANGES))};
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER crm_profiles_count_sources_update AFTER UPDATE ON crm_profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_profiles_move_sources()""",
    # A deleted profile's memberships are noted row by row while they are still there (the foreign
    # key's cascade removes them before a statement trigger runs), in a table of the transaction, and
    # taken off the counts once per statement: counting them row by row updated the same counts once
    # per profile, and a plain-SQL delete of thousands slowed down with the square of their number.
    """CREATE OR REPLACE FUNCTION crm_profiles_count_sources() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM crm_segment_members WHERE profile_id = OLD.id) THEN
            IF to_regclass('pg_temp.crm_departing_members') IS NULL THEN
                CREATE TEMPORARY TABLE crm_departing_members (segment_id integer, source text) ON COMMIT DROP;
            END IF;
            INSERT INTO pg_temp.crm_departing_members
            SELECT segment_id, COALESCE(OLD.acquisition_source, '') FROM crm_segment_members
            WHERE profile_id = OLD.id;
        END IF;
        RETURN OLD;
    END $$""",
    """CREATE TRIGGER crm_profiles_count_sources_delete BEFORE DELETE ON crm_profiles
    FOR EACH ROW EXECUTE FUNCTION crm_profiles_count_sources()""",
    f"""CREATE OR REPLACE FUNCTION crm_profiles_take_departed_sources() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF to_regclass('pg_temp.crm_departing_members') IS NULL THEN
            RETURN NULL;
        END IF;
        {_PG_TAKE.format(counts=_PG_DEPARTED)};
        DELETE FROM pg_temp.crm_departing_members;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER crm_profiles_count_sources_departed AFTER DELETE ON crm_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION crm_profiles_take_departed_sources()""",
)

# SQLite: row triggers. A member row deleted by its profile's cascade is counted the same way (the
# profile's BEFORE DELETE trigger), and the member trigger skips rows whose profile is gone.
_SQLITE_SOURCE = "COALESCE((SELECT acquisition_source FROM crm_profiles WHERE id = {row}.profile_id), '')"
_SQLITE_PROFILE_GONE = "NOT EXISTS (SELECT 1 FROM crm_profiles WHERE id = {row}.profile_id)"


def _sqlite_take_member(row: str) -> str:
    return f"""UPDATE crm_segment_sources SET members = members - 1
    WHERE segment_id = {row}.segment_id AND source = {_SQLITE_SOURCE.format(row=row)}
      AND NOT {_SQLITE_PROFILE_GONE.format(row=row)}"""


def _sqlite_add_member(row: str) -> str:
    return f"""INSERT INTO crm_segment_sources (segment_id, source, members)
    VALUES ({row}.segment_id, {_SQLITE_SOURCE.format(row=row)}, 1)
    ON CONFLICT (segment_id, source) DO UPDATE SET members = members + 1"""


def _sqlite_profile(row: str, sign: str) -> str:
    if sign == "-":
        return f"""UPDATE crm_segment_sources SET members = members - 1
        WHERE source = COALESCE({row}.acquisition_source, '')
          AND segment_id IN (SELECT segment_id FROM crm_segment_members WHERE profile_id = {row}.id)"""
    return f"""INSERT INTO crm_segment_sources (segment_id, source, members)
    SELECT segment_id, COALESCE({row}.acquisition_source, ''), 1 FROM crm_segment_members
    WHERE profile_id = {row}.id AND true
    ON CONFLICT (segment_id, source) DO UPDATE SET members = members + 1"""


SQLITE: tuple[str, ...] = (
    f"""CREATE TRIGGER IF NOT EXISTS crm_segment_members_count_sources_insert AFTER INSERT
    ON crm_segment_members FOR EACH ROW BEGIN {_sqlite_add_member("NEW")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_segment_members_count_sources_update AFTER UPDATE
    ON crm_segment_members FOR EACH ROW
    BEGIN {_sqlite_take_member("OLD")}; {_sqlite_add_member("NEW")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_segment_members_count_sources_delete AFTER DELETE
    ON crm_segment_members FOR EACH ROW BEGIN {_sqlite_take_member("OLD")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_profiles_count_sources_update AFTER UPDATE OF acquisition_source
    ON crm_profiles FOR EACH ROW WHEN OLD.acquisition_source IS NOT NEW.acquisition_source
    BEGIN {_sqlite_profile("OLD", "-")}; {_sqlite_profile("NEW", "+")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_profiles_count_sources_delete BEFORE DELETE ON crm_profiles
    FOR EACH ROW BEGIN {_sqlite_profile("OLD", "-")}; END""",
)
SEGMENT_SOURCE_TRIGGERS: dict[str, tuple[str, ...]] = {"postgresql": POSTGRESQL, "sqlite": SQLITE}

# The memberships already there, for the migration that adds the table (run while members and
# profiles are locked against writes, before the triggers exist).
BACKFILL = """INSERT INTO crm_segment_sources (segment_id, source, members)
    SELECT m.segment_id, COALESCE(p.acquisition_source, ''), count(*)
    FROM crm_segment_members m JOIN crm_profiles p ON p.id = m.profile_id GROUP BY 1, 2"""
SEGMENT_SOURCE_TRIGGER_NAMES = (
    *(("crm_segment_members", f"crm_segment_members_count_sources_{op}")
      for op in ("insert", "update", "delete", "truncate")),
    ("crm_profiles", "crm_profiles_count_sources_update"),
    ("crm_profiles", "crm_profiles_count_sources_delete"),
    ("crm_profiles", "crm_profiles_count_sources_departed"),
)
SEGMENT_SOURCE_FUNCTIONS = ("crm_segment_members_count_sources", "crm_segment_members_truncate_sources",
                            "crm_profiles_move_sources", "crm_profiles_count_sources",
                            "crm_profiles_take_departed_sources")


run_after_create_all(SEGMENT_SOURCE_TRIGGERS)
