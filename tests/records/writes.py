"""``crud.create`` and ``crud.update`` with plain dicts, as the API and the forms call them: the input
model is built (and checked) first, then handed to the service."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from crm_segments.records import Kind, WriteContext, crud
from crm_segments.records.validation import validate


def create(kind: Kind, *, session: Session, data: dict[str, Any], ctx: WriteContext | None = None) -> Any:
    return crud.create(kind, session=session, data=validate(kind.create_schema, data), ctx=ctx)


def update(kind: Kind, *, session: Session, id: int, data: dict[str, Any],
           ctx: WriteContext | None = None) -> Any:
    crud.get(kind, session=session, id=id)
    return crud.update(kind, session=session, id=id, data=validate(kind.update_schema, data), ctx=ctx)
