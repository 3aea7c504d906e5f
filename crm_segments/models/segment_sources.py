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

from .count_triggers import Counts
from .schema_ddl import run_after_create_all

NO_SOURCE = ""


class SegmentSource(Base):
    __tablename__ = "crm_segment_sources"

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("crm_segments.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(80), primary_key=True)
    members: Mapped[int] = mapped_column(default=0)


# PostgreSQL: counted once per statement (count_triggers.py). A member row deleted because its
# profile is (the foreign key's cascade) no longer finds the profile: the profile's own delete
# triggers take it off.
_COUNTS = Counts("crm_segment_sources", ("segment_id", "source"), (("members", "n"),))
_SOURCE_CHANGES = """SELECT o.id, COALESCE(o.acquisition_source, '') AS old_source,
        COALESCE(n.acquisition_source, '') AS new_source
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE o.acquisition_source IS DISTINCT FROM n.acquisition_source"""

POSTGRESQL: tuple[str, ...] = (
    *_COUNTS.of_rows(
        "crm_segment_members", function="crm_segment_members_count_sources",
        trigger="crm_segment_members_count_sources",
        counts=lambda rows: f"""SELECT r.segment_id, COALESCE(p.acquisition_source, '') AS source,
            count(*) AS n FROM {rows} r JOIN crm_profiles p ON p.id = r.profile_id GROUP BY 1, 2"""),
    *_COUNTS.of_truncate("crm_segment_members", function="crm_segment_members_truncate_sources",
                         trigger="crm_segment_members_count_sources_truncate"),
    *_COUNTS.of_profile_changes(
        function="crm_profiles_move_sources", trigger="crm_profiles_count_sources_update",
        changes=_SOURCE_CHANGES,
        moved=lambda side: f"""SELECT m.segment_id, c.{side}_source AS source, count(*) AS n
            FROM ({_SOURCE_CHANGES}) c JOIN crm_segment_members m ON m.profile_id = c.id GROUP BY 1, 2"""),
    *_COUNTS.of_profile_deletes(
        function="crm_profiles_count_sources", trigger="crm_profiles_count_sources",
        staging="crm_departing_members", columns="segment_id integer, source text",
        counted="crm_segment_members",
        staged="""SELECT segment_id, COALESCE(OLD.acquisition_source, '') FROM crm_segment_members
            WHERE profile_id = OLD.id""",
        departed="SELECT segment_id, source, count(*) AS n FROM pg_temp.crm_departing_members GROUP BY 1, 2"),
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
                            "crm_profiles_count_sources_departed")


run_after_create_all(SEGMENT_SOURCE_TRIGGERS)
