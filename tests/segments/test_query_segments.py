"""Running database-query segments: read-only, time- and row-limited, guarded by the database itself,
and failing with the kind of error and where, never the database's text or a value it read."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.models import Segment
from crm_segments.segments import query_segments
from crm_segments.segments.preview import preview_query
from crm_segments.segments.query_segments import QueryFailed, query_ids
from crm_segments.segments.refresh import RefreshError, refresh_segment, run_refresh
from tests.databases import ON_POSTGRESQL, ON_SQLITE
from tests.segments.query_world import LEAKY_QUERY, LEAKY_SHOWN, SECRET_EMAIL, SECRET_WORD
from tests.segments.test_query_check import ACCEPTED
from tests.segments.test_refresh import NOW, make_segment, members

GOOD = "SELECT id FROM crm_profiles WHERE region = 'Yukon' AND id % 1 = 0  -- a modulo and a comment"
SLOW = ("WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 100000000) "
        "SELECT n FROM t WHERE n < 0")

def run(session: Session, sql: str, **limits: int) -> list[int]:
    return sorted(i for chunk in query_ids(session, sql, **limits) for i in chunk)


def failure(session: Session, sql: str) -> str:
    with pytest.raises(QueryFailed) as caught:
        run(session, sql)
    return str(caught.value)


def test_query_segment_refresh_reads_the_query(committed: list[int], session: Session) -> None:
    segment = make_segment(session, name="Yukon by query", kind="query", rule=None, query_sql=GOOD)

    result = refresh_segment(session, segment, now=NOW)

    assert members(session, segment) == set(committed[:3]) and result.entered == 3


def test_every_accepted_query_runs_on_its_store(session: Session, backend: str) -> None:
    # Each function and construct on the allowlist is one the store (and SQLite's authorizer) runs.
    for sql in ACCEPTED["both"] + ACCEPTED[backend]:
        assert isinstance(run(session, sql), list), sql


def test_query_ids_refuses_more_rows_than_the_limit(committed: list[int], session: Session) -> None:
    with pytest.raises(QueryFailed, match="more than 2 rows"):
        run(session, GOOD, row_limit=2)
    assert run(session, GOOD, row_limit=3) == committed[:3]


def test_query_must_return_ids(committed: list[int], session: Session) -> None:
    message = failure(session, "SELECT email FROM crm_profiles WHERE email IS NOT NULL")
    assert "profile ids" in message and "got a str" in message and SECRET_EMAIL not in message


def test_slow_query_is_stopped_by_the_time_limit(session: Session) -> None:
    with pytest.raises(QueryFailed, match="time limit"):
        run(session, SLOW, timeout_ms=200)


@pytest.fixture
def short_timeout() -> Iterator[None]:
    """CRM_SEGMENTS_QUERY_SEGMENT_TIMEOUT of a quarter second, as init_app sets it."""
    before = query_segments.configured_timeout_ms()
    query_segments.configure(0.25)
    yield
    query_segments.configure(before / 1000)


def test_refresh_and_preview_stop_at_the_configured_timeout(short_timeout: None, session: Session) -> None:
    segment = make_segment(session, name="Slow", kind="query", rule=None, query_sql=SLOW)
    started = time.monotonic()
    with pytest.raises(RefreshError, match="^the query took longer than the time limit$"):
        refresh_segment(session, segment, now=NOW)
    with pytest.raises(QueryFailed, match="^the query took longer than the time limit$"):
        preview_query(session, SLOW)
    assert time.monotonic() - started < 5  # two quarter-second limits, not the default 30 s


def test_an_unknown_column_is_named_with_its_position(session: Session, backend: str) -> None:
    message = failure(session, "SELECT id FROM crm_profiles WHERE no_such_column = 1")
    kind = "undefined column (SQLSTATE 42703)" if backend == "postgresql" else "unknown column"
    assert message.startswith(kind), message
    assert "of the checked query, near" in message and "no_such_column" in message


def test_a_database_error_never_shows_a_value_the_query_read(committed: list[int], session: Session,
                                                             backend: str) -> None:
    # PostgreSQL's own text would be: invalid input syntax for type integer: "secret..."; SQLite's
    # "malformed JSON" has no known shape, so only its error code is shown.
    message = failure(session, LEAKY_QUERY[backend])
    assert message.startswith(LEAKY_SHOWN[backend]), message
    assert SECRET_WORD not in message and "JSON" not in message and "syntax" not in message


def test_a_failing_refresh_keeps_no_value_in_last_error(committed: list[int], session: Session,
                                                        session_factory: sessionmaker[Session],
                                                        backend: str) -> None:
    segment = make_segment(session, name="Leaky", kind="query", rule=None, query_sql=LEAKY_QUERY[backend])
    session.commit()  # a savepoint of the test's transaction: the refresh's sessions see the segment

    result = run_refresh(session_factory, segment.id, now=NOW)

    session.expire_all()
    stored = session.get(Segment, segment.id)
    assert stored is not None and stored.last_error == result.error and result.error
    assert stored.last_error.startswith(LEAKY_SHOWN[backend]), stored.last_error
    assert SECRET_WORD not in stored.last_error and "JSON" not in stored.last_error


def test_failing_query_refresh_changes_nothing(committed: list[int], session: Session) -> None:
    segment = make_segment(session, name="Yukon by query", kind="query", rule=None, query_sql=GOOD)
    refresh_segment(session, segment, now=NOW)
    segment.query_sql = "SELECT id FROM crm_profiles WHERE no_such_column = 1"
    session.flush()

    with pytest.raises(RefreshError, match="no_such_column"):
        refresh_segment(session, segment, now=NOW)

    assert members(session, segment) == set(committed[:3])


# The database's own guard, under the check: what the check would refuse is refused by the store too.

def _unchecked(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with query_segments._readonly_rows(engine, sql, timeout_ms=5000, limit=10) as rows:
        return list(rows)


@pytest.mark.parametrize("sql", [
    "SELECT id FROM crm_users",
    "SELECT password_hash FROM crm_users",
    "SELECT id FROM crm_profiles WHERE email IN (SELECT email FROM crm_users)",
])
def test_the_database_refuses_tables_outside_the_crm_data(committed: list[int], engine: Engine, sql: str,
                                                          backend: str) -> None:
    with pytest.raises(QueryFailed) as caught:
        _unchecked(engine, sql)
    kind = "insufficient privilege (SQLSTATE 42501)" if backend == "postgresql" else "refused by the database"
    assert str(caught.value).startswith(kind), caught.value
    assert SECRET_WORD not in str(caught.value)


@ON_POSTGRESQL
def test_postgresql_runs_the_query_as_the_read_only_role(committed: list[int], engine: Engine) -> None:
    assert _unchecked(engine, "SELECT current_user") == [("crm_segments_query",)]
    assert _unchecked(engine, "SELECT current_setting('transaction_read_only')") == [("on",)]
    leak = "SELECT query_to_xml('SELECT password_hash FROM crm_users', true, true, '')::text"
    with pytest.raises(QueryFailed, match=r"^insufficient privilege \(SQLSTATE 42501\)$"):
        _unchecked(engine, leak)


@ON_SQLITE
def test_sqlite_authorizer_allows_only_the_listed_functions(committed: list[int], engine: Engine) -> None:
    assert _unchecked(engine, "SELECT count(*) FROM crm_profiles WHERE lower(region) = 'yukon'") == [(3,)]
    for sql in ("SELECT randomblob(8)", "SELECT load_extension('x')", "SELECT sqlite_version()",
                "SELECT name FROM sqlite_master", "SELECT name FROM pragma_table_list"):
        with pytest.raises(QueryFailed, match="refused by the database's guard"):
            _unchecked(engine, sql)


@ON_POSTGRESQL
def test_postgresql_without_the_role_refuses_query_segments(session: Session,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(query_segments, "QUERY_ROLE", "crm_segments_no_such_role")
    message = failure(session, GOOD)
    assert "crm_segments_no_such_role, which does not exist" in message and "docs/security.md" in message
