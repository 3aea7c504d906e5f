"""seed_database on PostgreSQL with a child generator and two loading connections.

It commits, so it runs in a private database of its own rather than the shared test database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from crm_segments.db import Base, make_engine
from crm_segments.demo.errors import DemoDataError
from crm_segments.demo.seed import seed_database
from crm_segments.demo.tables import RECORD_TABLES
from crm_segments.models import Job, Profile, Quote
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

pytestmark = pytest.mark.postgres
NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def engine() -> Iterator[Engine]:
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table: int(connection.scalar(text(f"SELECT COUNT(*) FROM {table}")) or 0)
                for table in RECORD_TABLES}


def test_parallel_load_matches_the_single_connection_load(engine: Engine) -> None:
    seen: list[int] = []
    report = seed_database(engine, profiles=450, seed=8, now=NOW, batch_size=250, connections=2,
                           progress=seen.append)

    assert table_counts(engine) == report.rows and report.rows["crm_profiles"] == 450
    assert seen == sorted(seen) and seen[-1] == 450
    with engine.connect() as connection:
        accepted = connection.scalar(select(func.count()).where(Quote.status == "accepted"))
        assert accepted == connection.scalar(select(func.count()).where(Job.quote_id.is_not(None)))
        emails = connection.scalar(select(func.count(func.distinct(Profile.email))))
        first_ids = connection.execute(select(Profile.id, Profile.email).order_by(Profile.id).limit(3)).all()
    parallel_rows = report.rows

    # The same seed through one connection in its own transaction gives the same data.
    with engine.begin() as connection:
        for table in reversed(RECORD_TABLES):
            connection.execute(text(f"DELETE FROM {table}"))
    single = seed_database(engine, profiles=450, seed=8, now=NOW, batch_size=250, connections=1)
    assert single.rows == parallel_rows
    with engine.connect() as connection:
        assert connection.scalar(select(func.count(func.distinct(Profile.email)))) == emails
        assert connection.execute(select(Profile.email).order_by(Profile.id).limit(3)).scalars().all() == [
            email for _, email in first_ids
        ]
        # Sequences were moved past the loaded ids.
        next_id = connection.scalar(text("SELECT nextval(pg_get_serial_sequence('crm_profiles', 'id'))"))
        assert next_id is not None and next_id > 450


def test_parallel_load_refuses_a_database_with_profiles(engine: Engine) -> None:
    seed_database(engine, profiles=30, seed=1, now=NOW, connections=2)
    before = table_counts(engine)
    with pytest.raises(DemoDataError, match="already has 30 profiles"):
        seed_database(engine, profiles=30, seed=2, now=NOW, connections=2)
    assert table_counts(engine) == before


def test_a_failing_connection_rolls_every_connection_back(engine: Engine) -> None:
    import psycopg

    from crm_segments.demo.background import FormattedBatch
    from crm_segments.demo.loader import format_copy_rows
    from crm_segments.demo.parallel import load_in_parallel
    from crm_segments.demo.seed import prepare

    with engine.begin() as connection:
        spec = prepare(connection, profiles=600, seed=4, now=NOW)
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        batches = [
            FormattedBatch(batch.profiles, [(table, len(rows), format_copy_rows(cursor, table, rows))
                                            for table, rows in batch.rows.items()])
            for batch in spec.generator().batches(250)
        ]
    broken = FormattedBatch(1, [("crm_profiles", 1, b"not a number\tx\n")])
    with pytest.raises(psycopg.errors.DataError):
        load_in_parallel(engine, iter([batches[0], batches[1], broken, batches[2]]), connections=2)
    assert table_counts(engine) == dict.fromkeys(RECORD_TABLES, 0)
