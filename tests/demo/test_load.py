"""Loading demo data into real SQLite and PostgreSQL, inside the test's rolled-back transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from crm_segments.demo.catalog import products
from crm_segments.demo.errors import DemoDataError
from crm_segments.demo.generator import GeneratorSpec
from crm_segments.demo.reference import DEMO_OWNERS, ensure_reference
from crm_segments.demo.seed import load_demo
from crm_segments.demo.tables import RECORD_TABLES
from crm_segments.models import Category, Job, Product, Profile, Quote, User

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def count(connection: Connection, model: type) -> int:
    return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def test_load_writes_every_table_and_reports_the_counts(connection: Connection) -> None:
    report = load_demo(connection, profiles=200, seed=5, now=NOW)

    assert report.profiles == 200 and report.now == NOW
    for table in RECORD_TABLES:
        assert report.rows[table] > 0
        assert connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar() == report.rows[table]
    assert count(connection, Product) == len(products())
    assert count(connection, Category) > 6  # top-level categories and their subcategories
    owners = connection.execute(select(User.password_hash, User.role).where(
        User.email.in_([email for _, email in DEMO_OWNERS]))).all()
    assert len(owners) == len(DEMO_OWNERS) and {tuple(o) for o in owners} == {("!", "sales")}


def test_loaded_rows_read_back_through_the_models(connection: Connection) -> None:
    load_demo(connection, profiles=200, seed=5, now=NOW)
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        quote = session.scalars(select(Quote).where(Quote.status == "accepted").order_by(Quote.id)).first()
        assert quote is not None and quote.lines
        assert quote.total == sum((line.amount for line in quote.lines), Decimal("0"))
        assert quote.sent_at is not None and quote.sent_at.tzinfo is not None
        job = session.scalars(select(Job).where(Job.quote_id == quote.id)).one()
        assert [(line.product_id, line.amount) for line in job.lines] == [
            (line.product_id, line.amount) for line in quote.lines
        ]
        profile = session.get(Profile, 1)
        assert profile is not None and profile.created_at <= NOW
        # A missing JSON document is SQL NULL on both backends, as it is after COPY.
        without_interests = session.scalar(select(func.count()).where(Profile.interests.is_(None)))
        without_birth_date = session.scalar(select(func.count()).where(Profile.birth_date.is_(None)))
        assert without_interests == without_birth_date > 0


def test_invariants_hold_in_the_database(connection: Connection) -> None:
    load_demo(connection, profiles=300, seed=9, now=NOW)
    emails = connection.execute(
        select(func.count(Profile.email), func.count(func.distinct(Profile.email)))).one()
    assert emails[0] == emails[1] > 250
    accepted = connection.scalar(select(func.count()).where(Quote.status == "accepted"))
    assert accepted == connection.scalar(select(func.count()).where(Job.quote_id.is_not(None)))
    mismatched = connection.scalar(
        select(func.count()).select_from(Job).join(Quote, Job.quote_id == Quote.id)
        .where(Job.amount != Quote.total)
    )
    assert mismatched == 0


def test_the_next_insert_gets_a_fresh_id(connection: Connection) -> None:
    report = load_demo(connection, profiles=50, seed=1, now=NOW)
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        profile = Profile(external_id="after-demo", lifecycle_status="lead")
        session.add(profile)
        session.flush()
        assert profile.id > report.profiles


def test_a_database_with_profiles_is_refused_and_left_alone(connection: Connection) -> None:
    load_demo(connection, profiles=20, seed=1, now=NOW)
    before = {table: connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
              for table in RECORD_TABLES}
    with pytest.raises(DemoDataError, match="already has 20 profiles"):
        load_demo(connection, profiles=20, seed=2, now=NOW)
    after = {table: connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar()
             for table in RECORD_TABLES}
    assert after == before


def test_reference_rows_are_reused(connection: Connection) -> None:
    first = ensure_reference(connection)
    second = ensure_reference(connection)
    assert first == second
    assert count(connection, Product) == len(products())


@pytest.mark.parametrize("profiles", [0, -5])
def test_a_bad_profile_count_is_refused(connection: Connection, profiles: int) -> None:
    with pytest.raises(DemoDataError, match="profiles must be at least 1"):
        load_demo(connection, profiles=profiles, seed=1)
    assert count(connection, Profile) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_background_process_loads_the_same_data(connection: Connection) -> None:
    from crm_segments.demo.background import formatted_batches
    from crm_segments.demo.loader import format_copy_rows

    reference = ensure_reference(connection)
    spec = GeneratorSpec(seed=3, profiles=120, now=NOW, reference=reference, first_ids={})
    conninfo = connection.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    in_process = [
        (table, len(rows), format_copy_rows(cursor, table, rows))
        for batch in spec.generator().batches(50) for table, rows in batch.rows.items()
    ]
    background = [
        entry for batch in formatted_batches(spec, conninfo=conninfo, batch_size=50) for entry in batch.tables
    ]
    assert background == in_process

    report = load_demo(connection, profiles=120, seed=3, now=NOW, batch_size=50, background=True)
    assert count(connection, Profile) == 120
    assert report.rows["crm_quote_lines"] == connection.exec_driver_sql(
        "SELECT COUNT(*) FROM crm_quote_lines").scalar()
