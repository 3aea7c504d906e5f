"""The least an import can cost on this schema: the rows it wrote, loaded by binary COPY.

After the product's import, every row its transaction inserted into the tables an import writes
(the records, consent history, taggings and tag events, segment members and events, workflow
enrollments) is read back, and the members it removed are read off its exit events. The same rows
are then loaded into copies of the database as it was before the import, in one transaction, by
one binary ``COPY`` a table in the order the references need: no parsing, no validation, no rule
evaluated. That is a floor for any implementation writing these rows, hand-written SQL included:

- ``with the triggers``: the schema as it is, so its reference checks run and its triggers write
  their rows too (the change log, the segments' counts);
- ``without triggers``: ``session_replication_role = replica``, no trigger and no foreign-key check,
  only the rows and their indexes.

The import's rows are told apart by ``xmin``: a row is the import's if a transaction newer than the
mark taken just before it inserted it (32-bit ids compared as numbers: a benchmark's database is
young enough never to have wrapped around).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from benchmarks import database
from benchmarks.process_cpu import cpu_seconds

EXITS = "exits"  # the (segment, profile) pairs the import removed from a segment
# In the order the references need: records, then what refers to profiles, members before events.
IMPORT_TABLES = ("crm_profiles", "crm_jobs", "crm_consent_changes", "crm_profile_tags", "crm_tag_events",
                 EXITS, "crm_segment_members", "crm_segment_events", "crm_workflow_enrollments")
# Written only by the schema's triggers, counted on both sides to compare.
CHANGE_LOG = "crm_profile_changes"


@dataclass
class Load:
    seconds: float
    server_cpu_seconds: float
    tables: dict[str, float]  # table: seconds of its COPY (the removal of the exits included)


def libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq one."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def xid_mark(url: str) -> int:
    """The newest transaction id so far (as ``xmin`` shows it): the import's rows are newer."""
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        row = connection.execute("SELECT txid_current() % 4294967296").fetchone()
        assert row is not None
        return int(row[0])


def copy_database(url: str, name: str) -> str:
    """A copy of ``url``'s database named ``name`` (nothing may be connected to it), analyzed as the
    original; its URL."""
    source = make_url(url).database
    assert source is not None
    copy = database.recreate_database(database.admin_url_of(url), name, template=source)
    with psycopg.connect(libpq(copy), autocommit=True) as connection:
        connection.execute("ANALYZE")
    return copy


def checkpoint(url: str) -> None:
    """Write out the dirty pages, so each side starts as clean as the other."""
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        connection.execute("CHECKPOINT")


def drop_database(url: str) -> None:
    name = make_url(url).database
    assert name is not None
    database.drop_database(database.admin_url_of(url), name)


@contextmanager
def dumped_rows(url: str, mark: int) -> Iterator[dict[str, tuple[Path, int]]]:
    """The import's rows of each table in ``IMPORT_TABLES`` that has any, in binary COPY files
    (deleted on leaving): table -> (file, rows)."""
    with tempfile.TemporaryDirectory(prefix="crm-bench-rows-") as directory, \
            psycopg.connect(libpq(url)) as connection:
        dumps: dict[str, tuple[Path, int]] = {}
        for table in IMPORT_TABLES:
            columns = "segment_id, profile_id" if table == EXITS else "*"
            query = f"SELECT {columns} {_newer(table, mark)} ORDER BY 1"
            path = Path(directory) / f"{table}.bin"
            with path.open("wb") as file, connection.cursor().copy(
                    f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
                for data in copy:
                    file.write(data)
            rows = count_newer(connection, table, mark)
            if rows:
                dumps[table] = (path, rows)
        yield dumps


def count_newer(connection: psycopg.Connection[Any], table: str, mark: int) -> int:
    """Rows of ``table`` inserted after ``mark`` (for ``EXITS``: exit events)."""
    row = connection.execute(f"SELECT count(*) {_newer(table, mark)}").fetchone()
    assert row is not None
    return int(row[0])


def _newer(table: str, mark: int) -> str:
    """``FROM ... WHERE ...`` of ``table``'s rows newer than ``mark`` (the exits: newer exit events)."""
    newer = f"xmin::text::bigint > {int(mark)}"
    if table == EXITS:
        return f"FROM crm_segment_events WHERE kind = 'exited' AND {newer}"
    return f"FROM {table} WHERE {newer}"


def load(url: str, dumps: dict[str, tuple[Path, int]], *, triggers: bool) -> Load:
    """Load the dumped rows into ``url`` in one transaction, committed; what it took."""
    tables: dict[str, float] = {}
    with psycopg.connect(libpq(url)) as connection:
        if not triggers:
            connection.execute("SET session_replication_role = replica")
        cpu_before = cpu_seconds(connection.info.backend_pid)
        started = time.perf_counter()
        for table, (path, _) in dumps.items():
            began = time.perf_counter()
            if table == EXITS:
                connection.execute(f"CREATE TEMPORARY TABLE {EXITS} (segment_id integer, profile_id integer) "
                                   "ON COMMIT DROP")
            with path.open("rb") as file, connection.cursor().copy(
                    f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                while data := file.read(1 << 20):
                    copy.write(data)
            if table == EXITS:
                connection.execute(f"DELETE FROM crm_segment_members m USING {EXITS} e "
                                   "WHERE m.segment_id = e.segment_id AND m.profile_id = e.profile_id")
            tables[table] = round(time.perf_counter() - began, 3)
        connection.commit()
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(connection.info.backend_pid) - cpu_before
    return Load(round(seconds, 3), round(cpu, 2), tables)
