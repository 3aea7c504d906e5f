"""Database-query segments: what the validator refuses, read-only runs with a time and row limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from crm_segments.models import Profile
from crm_segments.segments.query_segments import QueryFailed, query_ids, validate_query
from crm_segments.segments.refresh import refresh_segment
from crm_segments.services.errors import ValidationFailed
from tests.segments.test_refresh import NOW, make_segment, members

GOOD = "SELECT id FROM crm_profiles WHERE region = 'Yukon' AND id % 1 = 0  -- a modulo and a comment"
SLOW = ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 100000000) "
        "SELECT n FROM t WHERE n < 0")


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
@pytest.mark.parametrize(("sql", "reason"), [
    ("DELETE FROM crm_profiles", "only a SELECT"),
    ("UPDATE crm_profiles SET region = 'x'", "only a SELECT"),
    ("SELECT id FROM crm_profiles; SELECT 1", "exactly one SELECT statement"),
    ("SELECT id FROM crm_profiles; DROP TABLE crm_profiles", "exactly one SELECT statement"),
    ("SELECT id INTO stolen FROM crm_profiles", "SELECT INTO"),
    ("SELECT id FROM crm_profiles FOR UPDATE", "locking clause"),
    ("SELECT id FROM crm_profiles WHERE pg_sleep(5) IS NOT NULL", "pg_sleep"),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("SELECT id FROM crm_profiles WHERE set_config('a', 'b', false) = 'b'", "set_config"),
    ("WITH gone AS (DELETE FROM crm_profiles RETURNING id) SELECT id FROM gone", "DELETE"),
    ("SELECT id FROM crm_users", "crm_users may not be read"),
    ("SELECT id FROM pg_catalog.pg_authid", "only the CRM's own tables"),
    ("SELECT name FROM sqlite_master", "sqlite_master may not be read"),
    ("SELECT id FROM crm_profiles WHERE email = :email", "parameters"),
    ("SELECT id, email FROM crm_profiles", "exactly one column"),
    ("SELECT * FROM crm_profiles", "exactly one column"),
    ("VACUUM", "only a SELECT"),
    ("SELEC id FROM crm_profiles", "cannot read the query"),
    ("", "enter a SELECT"),
])
def test_refused(sql: str, reason: str, dialect: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_query(sql, dialect=dialect)
    assert caught.value.errors[0].field == "query_sql"
    assert reason in caught.value.errors[0].message


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_accepted(dialect: str) -> None:
    sql = ("WITH buyers AS (SELECT profile_id FROM crm_jobs WHERE status = 'completed' "
           "GROUP BY profile_id HAVING count(*) >= 2) "
           "SELECT p.id FROM crm_profiles AS p JOIN buyers b ON b.profile_id = p.id WHERE p.id % 2 = 0;")
    assert validate_query(sql, dialect=dialect).endswith("p.id % 2 = 0")


@pytest.fixture
def committed(engine: Engine) -> Iterator[list[int]]:
    """Profiles committed outside the test's transaction: the read-only connection sees only those."""
    rows = [{"external_id": f"QS-{i}", "region": "Yukon" if i < 3 else "Nunavut"} for i in range(5)]
    with engine.begin() as conn:
        ids = [conn.execute(insert(Profile).returning(Profile.id), row).scalar_one() for row in rows]
    yield ids
    with engine.begin() as conn:
        conn.execute(delete(Profile).where(Profile.id.in_(ids)))


def test_query_segment_refresh_reads_the_query(committed: list[int], session: Session) -> None:
    segment = make_segment(session, name="Yukon by query", kind="query", rule=None, query_sql=GOOD)

    result = refresh_segment(session, segment, now=NOW)

    assert members(session, segment) == set(committed[:3]) and result.entered == 3


def test_query_ids_refuses_more_rows_than_the_limit(committed: list[int], session: Session) -> None:
    with pytest.raises(QueryFailed, match="more than 2 rows"):
        list(query_ids(session, GOOD, row_limit=2))
    assert sorted(i for chunk in query_ids(session, GOOD, row_limit=3) for i in chunk) == committed[:3]


def test_query_must_return_ids(committed: list[int], session: Session) -> None:
    with pytest.raises(QueryFailed, match="profile ids"):
        list(query_ids(session, "SELECT region FROM crm_profiles WHERE region = 'Yukon'"))


def test_slow_query_is_stopped_by_the_time_limit(session: Session) -> None:
    with pytest.raises(QueryFailed, match="time limit"):
        list(query_ids(session, SLOW, timeout_ms=200))


def test_failing_query_refresh_changes_nothing(committed: list[int], session: Session) -> None:
    segment = make_segment(session, name="Yukon by query", kind="query", rule=None, query_sql=GOOD)
    refresh_segment(session, segment, now=NOW)
    segment.query_sql = "SELECT id FROM crm_profiles WHERE no_such_column = 1"
    session.flush()

    with pytest.raises(Exception, match="no_such_column"):
        refresh_segment(session, segment, now=NOW)

    assert members(session, segment) == set(committed[:3])
