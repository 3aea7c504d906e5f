"""How many rows a list's filter matches: exact when it can be counted quickly, else the planner's
estimate, shown as "about N".

On PostgreSQL the exact count runs under a ``statement_timeout`` of EXACT_BUDGET_MS inside a
SAVEPOINT: a count that would take longer is cancelled (the savepoint rolled back, the request's
transaction unharmed) and ``EXPLAIN`` gives the planner's row estimate instead. SQLite has no
statement timeout and no row estimates worth showing; its lists are small enough to count exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

EXACT_BUDGET_MS = 200


@dataclass(frozen=True)
class Total:
    value: int
    exact: bool

    def label(self, singular: str, plural: str) -> str:
        """e.g. "1 profile", "1,204 profiles", "about 880,000 profiles"."""
        noun = singular if self.value == 1 and self.exact else plural
        return f"{self.value:,} {noun}" if self.exact else f"about {_rounded(self.value):,} {noun}"


def count_matches(session: Session, query: Select[Any], *, budget_ms: int = EXACT_BUDGET_MS) -> Total:
    """The number of rows ``query`` returns (its ORDER BY and LIMIT ignored)."""
    counted = select(func.count()).select_from(query.order_by(None).limit(None).subquery())
    if session.get_bind().dialect.name != "postgresql":
        return Total(int(session.scalar(counted) or 0), exact=True)
    previous = session.scalar(text("SELECT current_setting('statement_timeout')"))
    savepoint = session.begin_nested()
    try:
        session.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(budget_ms)})
        value = int(session.scalar(counted) or 0)
    except OperationalError as exc:
        if "statement timeout" not in str(exc.orig):
            raise
        savepoint.rollback()  # also undoes the timeout setting
        return Total(_estimate(session, query), exact=False)
    session.execute(text("SELECT set_config('statement_timeout', :previous, true)"), {"previous": previous})
    savepoint.commit()
    return Total(value, exact=True)


def _estimate(session: Session, query: Select[Any]) -> int:
    compiled = query.order_by(None).limit(None).compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    plan: Any = session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}",
                                                     compiled.params).scalar()
    return int(plan[0]["Plan"]["Plan Rows"])


def _rounded(value: int) -> int:
    """Two significant figures: an estimate is not more precise than that."""
    if value < 100:
        return value
    step = int(10 ** (len(str(value)) - 2))
    return round(value / step) * step
