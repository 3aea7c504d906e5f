"""Ids bound as one compact integer[] parameter on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from crm_segments.kernel.id_arrays import id_array
from tests.databases import ON_POSTGRESQL


@ON_POSTGRESQL
@pytest.mark.parametrize("ids", [[], [7], [3, 1, 2], list(range(1, 100_001)), [2**31 - 1, -(2**31)]])
def test_the_server_gets_the_ids_as_integer_array(session: Session, backend: str, ids: list[int]) -> None:
    row = session.execute(text(
        "SELECT pg_typeof(:ids)::text, cardinality(:ids), :ids = (SELECT array_agg(i ORDER BY i) "
        "FROM unnest(CAST(:sorted AS integer[])) AS i) OR cardinality(:ids) = 0, 7 = ANY(:ids)"
    ).bindparams(id_array(session, "ids", set(ids)), sorted=sorted(ids))).one()
    assert tuple(row) == ("integer[]", len(ids), True, 7 in ids)


@ON_POSTGRESQL
def test_ids_beyond_the_integer_range_are_refused(session: Session, backend: str) -> None:
    with pytest.raises(StatementError, match="OverflowError"):
        session.execute(text("SELECT cardinality(:ids)").bindparams(id_array(session, "ids", [2**31])))
