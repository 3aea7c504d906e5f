"""The RFM grid's cells counted per profile owner, kept by triggers: customers, the sum of their
monetary scores and of what they spent, per (owner, recency score, frequency score).

The grid (everyone's, or a sales person's own customers) is then a few hundred rows rather than a
GROUP BY over every score joined to its profile. Triggers on crm_rfm_scores (scores written, changed,
removed) and crm_profiles (an owner changes; a profile deleted takes its score off its cell while
the score is still there) write them in the writer's transaction. Profiles without an owner count
under ``NO_OWNER`` (the key cannot be NULL; user ids start at 1).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base, Money

from .count_triggers import Counts
from .schema_ddl import run_after_create_all

NO_OWNER = 0


class RfmCell(Base):
    __tablename__ = "crm_rfm_cells"

    owner_key: Mapped[int] = mapped_column(primary_key=True)  # the profiles' owner_id, or NO_OWNER
    recency: Mapped[int] = mapped_column(primary_key=True)
    frequency: Mapped[int] = mapped_column(primary_key=True)
    customers: Mapped[int] = mapped_column(default=0)
    monetary_sum: Mapped[int] = mapped_column(default=0)
    spent: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))


# PostgreSQL: counted once per statement (count_triggers.py); a score removed by its profile's
# cascade no longer finds the profile: the profile's own delete triggers take it off.
_COUNTS = Counts("crm_rfm_cells", ("owner_key", "recency", "frequency"),
                 (("customers", "n"), ("monetary_sum", "monetary"), ("spent", "spent")))
_OWNER_CHANGES = """SELECT o.id, COALESCE(o.owner_id, 0) AS old_owner, COALESCE(n.owner_id, 0) AS new_owner
    FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.owner_id IS DISTINCT FROM n.owner_id"""

POSTGRESQL: tuple[str, ...] = (
    *_COUNTS.of_rows(
        "crm_rfm_scores", function="crm_rfm_scores_count_cells", trigger="crm_rfm_scores_count_cells",
        counts=lambda rows: f"""SELECT COALESCE(p.owner_id, 0) AS owner_key, r.recency, r.frequency,
            count(*) AS n, sum(r.monetary) AS monetary, sum(r.total_spent) AS spent
            FROM {rows} r JOIN crm_profiles p ON p.id = r.profile_id GROUP BY 1, 2, 3"""),
    *_COUNTS.of_truncate("crm_rfm_scores", function="crm_rfm_scores_truncate_cells",
                         trigger="crm_rfm_scores_count_cells_truncate"),
    *_COUNTS.of_profile_changes(
        function="crm_profiles_move_rfm_cells", trigger="crm_profiles_count_rfm_cells_update",
        changes=_OWNER_CHANGES,
        moved=lambda side: f"""SELECT c.{side}_owner AS owner_key, r.recency, r.frequency, count(*) AS n,
            sum(r.monetary) AS monetary, sum(r.total_spent) AS spent
            FROM ({_OWNER_CHANGES}) c JOIN crm_rfm_scores r ON r.profile_id = c.id GROUP BY 1, 2, 3"""),
    *_COUNTS.of_profile_deletes(
        function="crm_profiles_count_rfm_cells", trigger="crm_profiles_count_rfm_cells",
        staging="crm_departing_scores",
        columns="owner_key integer, recency integer, frequency integer, monetary integer, spent numeric",
        counted="crm_rfm_scores",
        staged="""SELECT COALESCE(OLD.owner_id, 0), recency, frequency, monetary, total_spent
            FROM crm_rfm_scores WHERE profile_id = OLD.id""",
        departed="""SELECT owner_key, recency, frequency, count(*) AS n, sum(monetary) AS monetary,
            sum(spent) AS spent FROM pg_temp.crm_departing_scores GROUP BY 1, 2, 3"""),
)

# SQLite: row triggers; a score removed by its profile's cascade was taken off by the profile's
# BEFORE DELETE trigger, so the score trigger skips rows whose profile is gone.
_SQLITE_OWNER = "COALESCE((SELECT owner_id FROM crm_profiles WHERE id = {row}.profile_id), 0)"


def _sqlite_cell(owner: str, row: str, sign: str) -> str:
    if sign == "-":
        return f"""UPDATE crm_rfm_cells SET customers = customers - 1,
            monetary_sum = monetary_sum - {row}.monetary, spent = spent - {row}.total_spent
        WHERE owner_key = {owner} AND recency = {row}.recency AND frequency = {row}.frequency"""
    return f"""INSERT INTO crm_rfm_cells (owner_key, recency, frequency, customers, monetary_sum, spent)
    VALUES ({owner}, {row}.recency, {row}.frequency, 1, {row}.monetary, {row}.total_spent)
    ON CONFLICT (owner_key, recency, frequency) DO UPDATE SET customers = customers + 1,
        monetary_sum = monetary_sum + excluded.monetary_sum, spent = spent + excluded.spent"""


def _sqlite_take_score(row: str) -> str:
    return (_sqlite_cell(_SQLITE_OWNER.format(row=row), row, "-")
            + f" AND EXISTS (SELECT 1 FROM crm_profiles WHERE id = {row}.profile_id)")


def _sqlite_profile_score(profile: str, sign: str) -> str:
    """The profile's score (if any) taken off or added to its owner's cell."""
    owner = f"COALESCE({profile}.owner_id, 0)"
    if sign == "-":
        score = f"FROM crm_rfm_scores s WHERE s.profile_id = {profile}.id"
        return f"""UPDATE crm_rfm_cells SET customers = customers - 1,
            monetary_sum = monetary_sum - (SELECT s.monetary {score}),
            spent = spent - (SELECT s.total_spent {score})
        WHERE owner_key = {owner} AND EXISTS (SELECT 1 {score}
            AND s.recency = crm_rfm_cells.recency AND s.frequency = crm_rfm_cells.frequency)"""
    return f"""INSERT INTO crm_rfm_cells (owner_key, recency, frequency, customers, monetary_sum, spent)
    SELECT {owner}, recency, frequency, 1, monetary, total_spent FROM crm_rfm_scores
    WHERE profile_id = {profile}.id AND true
    ON CONFLICT (owner_key, recency, frequency) DO UPDATE SET customers = customers + 1,
        monetary_sum = monetary_sum + excluded.monetary_sum, spent = spent + excluded.spent"""


SQLITE: tuple[str, ...] = (
    f"""CREATE TRIGGER IF NOT EXISTS crm_rfm_scores_count_cells_insert AFTER INSERT ON crm_rfm_scores
    FOR EACH ROW BEGIN {_sqlite_cell(_SQLITE_OWNER.format(row="NEW"), "NEW", "+")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_rfm_scores_count_cells_update AFTER UPDATE ON crm_rfm_scores
    FOR EACH ROW BEGIN {_sqlite_take_score("OLD")};
        {_sqlite_cell(_SQLITE_OWNER.format(row="NEW"), "NEW", "+")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_rfm_scores_count_cells_delete AFTER DELETE ON crm_rfm_scores
    FOR EACH ROW BEGIN {_sqlite_take_score("OLD")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_profiles_count_rfm_cells_update AFTER UPDATE OF owner_id
    ON crm_profiles FOR EACH ROW WHEN OLD.owner_id IS NOT NEW.owner_id
    BEGIN {_sqlite_profile_score("OLD", "-")}; {_sqlite_profile_score("NEW", "+")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_profiles_count_rfm_cells_delete BEFORE DELETE ON crm_profiles
    FOR EACH ROW BEGIN {_sqlite_profile_score("OLD", "-")}; END""",
)
RFM_CELL_TRIGGERS: dict[str, tuple[str, ...]] = {"postgresql": POSTGRESQL, "sqlite": SQLITE}

# The scores already there, for the migration that adds the table (run while scores and profiles
# are locked against writes, before the triggers exist).
BACKFILL = """INSERT INTO crm_rfm_cells (owner_key, recency, frequency, customers, monetary_sum, spent)
    SELECT COALESCE(p.owner_id, 0), r.recency, r.frequency, count(*), sum(r.monetary), sum(r.total_spent)
    FROM crm_rfm_scores r JOIN crm_profiles p ON p.id = r.profile_id GROUP BY 1, 2, 3"""
RFM_CELL_TRIGGER_NAMES = (
    *(("crm_rfm_scores", f"crm_rfm_scores_count_cells_{op}")
      for op in ("insert", "update", "delete", "truncate")),
    ("crm_profiles", "crm_profiles_count_rfm_cells_update"),
    ("crm_profiles", "crm_profiles_count_rfm_cells_delete"),
    ("crm_profiles", "crm_profiles_count_rfm_cells_departed"),
)
RFM_CELL_FUNCTIONS = ("crm_rfm_scores_count_cells", "crm_rfm_scores_truncate_cells",
                      "crm_profiles_move_rfm_cells", "crm_profiles_count_rfm_cells",
                      "crm_profiles_count_rfm_cells_departed")


run_after_create_all(RFM_CELL_TRIGGERS)
