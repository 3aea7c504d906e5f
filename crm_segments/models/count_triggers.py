"""PostgreSQL triggers that keep a table of counts in step with the rows it counts, once per statement.

The rows a statement wrote are counted from its transition tables, and each count they touch is
updated once, locked in key order so that two writers cannot deadlock. Row triggers would update the
same count once per row, and each update walks the versions of that row the transaction made before
it: a bulk write slowed down with the square of its size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Counts:
    table: str                          # the table of counts
    keys: tuple[str, ...]               # its key columns, named alike in every counting query
    values: tuple[tuple[str, str], ...]  # (count column, the counting query's column)

    def add(self, counts: str) -> str:
        """Add the rows of the query ``counts`` (its keys and values) to the counts."""
        keys = ", ".join(self.keys)
        added = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c, _ in self.values)
        return f"""INSERT INTO {self.table} AS t ({keys}, {", ".join(c for c, _ in self.values)})
        SELECT {keys}, {", ".join(v for _, v in self.values)} FROM ({counts}) k ORDER BY {keys}
        ON CONFLICT ({keys}) DO UPDATE SET {added}"""

    def take(self, counts: str) -> str:
        """Take the rows of the query ``counts`` off the counts (plpgsql: two statements)."""
        match = " AND ".join(f"t.{key} = k.{key}" for key in self.keys)
        return f"""PERFORM 1 FROM {self.table} t JOIN ({counts}) k ON {match}
            ORDER BY {", ".join(f"t.{key}" for key in self.keys)} FOR UPDATE OF t;
        UPDATE {self.table} t SET {", ".join(f"{c} = t.{c} - k.{v}" for c, v in self.values)}
        FROM ({counts}) k WHERE {match}"""

    def of_rows(self, table: str, *, function: str, trigger: str,
                counts: Callable[[str], str]) -> tuple[str, ...]:
        """The function and triggers that count ``table``'s inserted, updated and deleted rows with the
        query ``counts(rows)`` (``rows``: ``new_rows`` or ``old_rows``); triggers ``{trigger}_insert``..."""
        return (
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            {self.take(counts("old_rows"))};
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            {self.add(counts("new_rows"))};
        END IF;
        RETURN NULL;
    END $$""",
            f"""CREATE TRIGGER {trigger}_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
            f"""CREATE TRIGGER {trigger}_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
            f"""CREATE TRIGGER {trigger}_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        )

    def of_truncate(self, table: str, *, function: str, trigger: str) -> tuple[str, ...]:
        """Emptying ``table`` empties the counts."""
        return (
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {self.table};
        RETURN NULL;
    END $$""",
            f"""CREATE TRIGGER {trigger} AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        )

    def of_profile_changes(self, *, function: str, trigger: str, changes: str,
                           moved: Callable[[str], str]) -> tuple[str, ...]:
        """Counts keyed by a profile column: ``changes`` selects the profiles an UPDATE statement moved
        (from ``old_rows`` and ``new_rows``), ``moved(side)`` counts their rows under the ``old`` or
        ``new`` value."""
        return (
            # The transition tables have no statistics: without this the planner may join old and new
            # rows by a nested loop, quadratic in the profiles a statement updates.
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql
    SET enable_nestloop = off AS $$
    BEGIN
        IF NOT EXISTS ({changes}) THEN
            RETURN NULL;
        END IF;
        {self.take(moved("old"))};
        {self.add(moved("new"))};
        RETURN NULL;
    END $$""",
            f"""CREATE TRIGGER {trigger} AFTER UPDATE ON crm_profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
        )

    def of_profile_deletes(self, *, function: str, trigger: str, staging: str, columns: str, counted: str,
                           staged: str, departed: str) -> tuple[str, ...]:
        """A deleted profile's rows of ``counted`` are noted row by row while they are still there (the
        foreign key's cascade removes them before a statement trigger runs), as ``staged`` (a SELECT
        over ``counted`` for ``OLD``) into the transaction's table ``staging`` (``columns``), and taken
        off the counts once per statement (``departed``: the staging table counted)."""
        return (
            f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM {counted} WHERE profile_id = OLD.id) THEN
            IF to_regclass('pg_temp.{staging}') IS NULL THEN
                CREATE TEMPORARY TABLE {staging} ({columns}) ON COMMIT DROP;
            END IF;
            INSERT INTO pg_temp.{staging} {staged};
        END IF;
        RETURN OLD;
    END $$""",
            f"""CREATE TRIGGER {trigger}_delete BEFORE DELETE ON crm_profiles
    FOR EACH ROW EXECUTE FUNCTION {function}()""",
            f"""CREATE OR REPLACE FUNCTION {function}_departed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF to_regclass('pg_temp.{staging}') IS NULL THEN
            RETURN NULL;
        END IF;
        {self.take(departed)};
        DELETE FROM pg_temp.{staging};
        RETURN NULL;
    END $$""",
            f"""CREATE TRIGGER {trigger}_departed AFTER DELETE ON crm_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION {function}_departed()""",
        )
