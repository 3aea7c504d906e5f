"""Keyset pages in the order of a chosen column, with the id as tie-breaker, for sortable lists.

A list sorted by a column pages on (column, id): the cursor is still a row's id (``after`` /
``before``), and the page's edge is that row's position in the order, read from the row itself.
Empty values (NULL) come last in either direction, as people expect of a sorted list. Like the id
pages (keyset.py) a page costs the same at any depth, never an OFFSET.

Sort keys come from an allowlist (``SortKeys``): ``name`` ascending, ``-name`` descending; anything
else is refused naming the ``sort`` field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from .errors import FieldError, ValidationFailed
from .keyset import MAX_PAGE_SIZE, KeysetPage, check_page_args, keyset_page


@dataclass(frozen=True)
class Sort:
    key: str  # as in the URL: "name" or "-name"
    column: Any | None  # None: id order
    descending: bool


class SortKeys:
    """The columns a list may be sorted by, by name; "" is the default id order."""

    def __init__(self, columns: Mapping[str, Any]) -> None:
        self.columns = dict(columns)

    def parse(self, raw: str | None) -> Sort:
        key = (raw or "").strip()
        name = key.removeprefix("-")
        if not key:
            return Sort("", None, descending=False)
        if name not in self.columns:
            choices = ", ".join(sorted(self.columns))
            raise ValidationFailed([FieldError("sort", f"must be one of {choices}, each optionally with a "
                                                       "leading - for descending order")])
        return Sort(key, self.columns[name], descending=key.startswith("-"))


def sorted_page(session: Session, query: Select[Any], id_column: InstrumentedAttribute[int], sort: Sort, *,
                after: int | None, before: int | None, limit: int,
                max_limit: int = MAX_PAGE_SIZE) -> KeysetPage:
    """One page of ``query`` in ``sort`` order (then id), after row ``after`` or ending before ``before``."""
    if sort.column is None:
        return keyset_page(session, query, id_column, after=after, before=before, limit=limit,
                           max_limit=max_limit)
    check_page_args(id_column, after=after, before=before, limit=limit, max_limit=max_limit)
    column = sort.column
    forward = (column.desc() if sort.descending else column.asc()).nulls_last()
    backward = (column.asc() if sort.descending else column.desc()).nulls_first()
    if before is not None:
        edge = _edge(session, column, id_column, before, "before")
        rows = list(session.scalars(query.where(_before(column, id_column, edge, before, sort.descending))
                                    .order_by(backward, id_column.desc()).limit(limit + 1)))
        more_before = len(rows) > limit
        rows = rows[:limit][::-1]
        return KeysetPage(rows, next_after=rows[-1].id if rows else None,
                          prev_before=rows[0].id if rows and more_before else None)
    if after is not None:
        edge = _edge(session, column, id_column, after, "after")
        query = query.where(_after(column, id_column, edge, after, sort.descending))
    rows = list(session.scalars(query.order_by(forward, id_column).limit(limit + 1)))
    more_after = len(rows) > limit
    rows = rows[:limit]
    return KeysetPage(rows, next_after=rows[-1].id if rows and more_after else None,
                      prev_before=rows[0].id if rows and after is not None else None)


def _edge(session: Session, column: Any, id_column: Any, row_id: int, field: str) -> Any:
    """The sort value of the row a cursor names."""
    found = session.execute(select(column).where(id_column == row_id)).first()
    if found is None:
        raise ValidationFailed([FieldError(field, "that row no longer exists; start from the first page")])
    return found[0]


def _after(column: Any, id_column: Any, value: Any, row_id: int, descending: bool) -> ColumnElement[bool]:
    """Rows after (value, row_id) in (column, id) order, empty values last."""
    if value is None:
        return and_(column.is_(None), id_column > row_id)
    beyond = column < value if descending else column > value
    return or_(beyond, and_(column == value, id_column > row_id), column.is_(None))


def _before(column: Any, id_column: Any, value: Any, row_id: int, descending: bool) -> ColumnElement[bool]:
    if value is None:
        return or_(column.is_not(None), id_column < row_id)
    ahead = column > value if descending else column < value
    return or_(ahead, and_(column == value, id_column < row_id))
