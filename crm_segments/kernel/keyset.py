"""Two-way keyset pages on a primary key: the page after an id, or the page ending before one.

Never OFFSET: ``id > :after ORDER BY id LIMIT n`` costs the same at any depth. One extra row is read
to know whether there is a further page in the direction of travel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.kernel.record_ids import MAX_ID

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_CURSOR = 2**63 - 1  # the largest key either store can hold (bigint, SQLite INTEGER)


@dataclass(frozen=True)
class KeysetPage:
    rows: list[Any]
    next_after: int | None  # pass as ``after`` for the next page; None on the last page
    prev_before: int | None  # pass as ``before`` for the previous page; None on the first page


def check_page_args(id_column: InstrumentedAttribute[int], *, after: int | None, before: int | None,
                    limit: int, max_limit: int = MAX_PAGE_SIZE) -> None:
    """Refuse two cursors, a cursor out of the key's range, or a page size out of bounds."""
    if after is not None and before is not None:
        raise ValidationFailed([FieldError("before", "give either after or before, not both")])
    top = MAX_CURSOR if isinstance(id_column.type, BigInteger) else MAX_ID  # past it: out of range
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and not 0 <= cursor <= top:
            raise ValidationFailed([FieldError(name, f"must be an id from 0 to {top}")])
    if not 1 <= limit <= max_limit:
        raise ValidationFailed([FieldError("limit", f"must be between 1 and {max_limit}")])


def keyset_page(session: Session, query: Select[Any], id_column: InstrumentedAttribute[int], *,
                after: int | None, before: int | None, limit: int,
                max_limit: int = MAX_PAGE_SIZE) -> KeysetPage:
    """One page of ``query`` in ``id_column`` order, after ``after`` or ending before ``before``."""
    check_page_args(id_column, after=after, before=before, limit=limit, max_limit=max_limit)
    query = query.limit(limit + 1)
    if before is not None:
        rows = list(session.scalars(query.where(id_column < before).order_by(id_column.desc())))
        more_before = len(rows) > limit
        rows = rows[:limit][::-1]
        return KeysetPage(rows, next_after=rows[-1].id if rows else None,
                          prev_before=rows[0].id if rows and more_before else None)
    if after is not None:
        query = query.where(id_column > after)
    rows = list(session.scalars(query.order_by(id_column)))
    more_after = len(rows) > limit
    rows = rows[:limit]
    return KeysetPage(rows, next_after=rows[-1].id if rows and more_after else None,
                      prev_before=rows[0].id if rows and after is not None else None)
