"""``utc_day(column)``: the UTC calendar day of a timestamp column, for grouping by day in SQL.

PostgreSQL stores ``timestamptz``: its day depends on the session's time zone unless converted to
UTC first. SQLite stores naive UTC text, whose ``date()`` is already the UTC day (as 'YYYY-MM-DD').
``as_date`` reads either result as a ``datetime.date``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class utc_day(FunctionElement[dt.date]):  # noqa: N801 - reads as a SQL function
    type = Date()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day)
def _utc_day_default(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


def as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
