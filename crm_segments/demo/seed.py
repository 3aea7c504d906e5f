"""Seed demo data into an empty database: ``seed_demo`` (an app), ``seed_database`` (an engine) and
``load_demo`` (a connection, inside the caller's transaction).

Demo data only goes into a database without profiles: mixed into real customers it could not be
told apart and taken out again. A load lands whole or not at all (see ``seed_database`` for the
parallel load of large data sets on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from crm_segments.db import Base, utcnow
from crm_segments.demo.background import formatted_batches
from crm_segments.demo.errors import DemoDataError
from crm_segments.demo.generator import GeneratorSpec
from crm_segments.demo.loader import PostgresCopyWriter, reset_sequences, writer_for
from crm_segments.demo.parallel import load_in_parallel
from crm_segments.demo.reference import ensure_reference
from crm_segments.demo.tables import RECORD_TABLES
from crm_segments.models import Profile

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["DemoDataError", "SeedReport", "load_demo", "seed_database", "seed_demo"]

DEFAULT_BATCH = 10_000
# Below this a second process costs more to start than it saves.
BACKGROUND_THRESHOLD = 20_000
PARALLEL_CONNECTIONS = 2

Progress = Callable[[int], None]


@dataclass
class SeedReport:
    profiles: int
    seed: int
    now: dt.datetime
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def default_now() -> dt.datetime:
    """The start of the current UTC hour: reruns within the hour give identical data."""
    return utcnow().replace(minute=0, second=0, microsecond=0)


def prepare(connection: Connection, *, profiles: int, seed: int, now: dt.datetime | None = None,
            batch_size: int = DEFAULT_BATCH) -> GeneratorSpec:
    """Check the arguments and that the database has no profiles; add the catalog and owners."""
    if profiles < 1:
        raise DemoDataError(f"profiles must be at least 1, got {profiles}")
    if batch_size < 1:
        raise DemoDataError(f"batch_size must be at least 1, got {batch_size}")
    existing = connection.scalar(select(func.count()).select_from(Profile))
    if existing:
        raise DemoDataError(
            f"the database already has {existing} profiles; demo data is only seeded into a database "
            "without profiles"
        )
    return GeneratorSpec(
        seed=seed, profiles=profiles, now=(now or default_now()).astimezone(dt.UTC),
        reference=ensure_reference(connection), first_ids=_next_ids(connection),
    )


def _next_ids(connection: Connection) -> dict[str, int]:
    return {
        name: (connection.scalar(select(func.max(Base.metadata.tables[name].c.id))) or 0) + 1
        for name in RECORD_TABLES
    }


def load_demo(connection: Connection, *, profiles: int, seed: int, now: dt.datetime | None = None,
              progress: Progress | None = None, batch_size: int = DEFAULT_BATCH,
              background: bool | None = None) -> SeedReport:
    """Generate and bulk-load demo profiles with their history on ``connection``; the caller commits.

    ``background`` generates in a second process (PostgreSQL only); by default it does so for
    ``BACKGROUND_THRESHOLD`` profiles or more. That process is spawned, so a script calling this
    needs the usual ``if __name__ == "__main__":`` guard.
    """
    started = time.perf_counter()
    spec = prepare(connection, profiles=profiles, seed=seed, now=now, batch_size=batch_size)
    writer = writer_for(connection)
    report = SeedReport(profiles=profiles, seed=seed, now=spec.now, rows=dict.fromkeys(RECORD_TABLES, 0))
    done = 0
    if isinstance(writer, PostgresCopyWriter) and (
        background if background is not None else profiles >= BACKGROUND_THRESHOLD
    ):
        conninfo = _conninfo(connection.engine)
        for formatted in formatted_batches(spec, conninfo=conninfo, batch_size=batch_size):
            for name, count, data in formatted.tables:
                writer.write_formatted(name, data)
                report.rows[name] += count
            done += formatted.profiles
            if progress is not None:
                progress(done)
    else:
        for batch in spec.generator().batches(batch_size):
            for name in RECORD_TABLES:
                rows = batch.rows[name]
                writer.write(name, rows)
                report.rows[name] += len(rows)
            done += batch.profiles
            if progress is not None:
                progress(done)
    writer.finish()
    report.seconds = time.perf_counter() - started
    return report


def _conninfo(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def seed_database(engine: Engine, *, profiles: int, seed: int, now: dt.datetime | None = None,
                  progress: Progress | None = None, batch_size: int = DEFAULT_BATCH,
                  connections: int | None = None) -> SeedReport:
    """Seed and commit.

    Small loads, and any load on SQLite, are one transaction (``load_demo``). From
    ``BACKGROUND_THRESHOLD`` profiles on PostgreSQL, rows are generated in a child process and
    loaded over ``connections`` connections at once (default ``PARALLEL_CONNECTIONS``; see
    crm_segments/demo/parallel.py); the catalog and owners are committed first.
    """
    copy_available = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    if connections is None:
        connections = PARALLEL_CONNECTIONS if copy_available and profiles >= BACKGROUND_THRESHOLD else 1
    if connections < 1:
        raise DemoDataError(f"connections must be at least 1, got {connections}")
    if connections == 1 or not copy_available:
        with engine.begin() as connection:
            return load_demo(connection, profiles=profiles, seed=seed, now=now, progress=progress,
                             batch_size=batch_size)
    started = time.perf_counter()
    with engine.begin() as connection:
        spec = prepare(connection, profiles=profiles, seed=seed, now=now, batch_size=batch_size)
    rows = load_in_parallel(
        engine, formatted_batches(spec, conninfo=_conninfo(engine), batch_size=batch_size),
        connections=connections, progress=progress,
    )
    with engine.begin() as connection:
        reset_sequences(connection)
    return SeedReport(profiles=profiles, seed=seed, now=spec.now,
                      rows={name: rows.get(name, 0) for name in RECORD_TABLES},
                      seconds=time.perf_counter() - started)


def seed_demo(app: Flask, *, profiles: int, seed: int, progress: Progress | None = None) -> SeedReport:
    """Seed the database of a crm-segments app (``crm-segments run`` and ``seed-demo``)."""
    from crm_segments.state import get_state

    return seed_database(get_state(app).engine, profiles=profiles, seed=seed, progress=progress)
