"""Response shapes that wrap the record schemas: pages, batch results and errors."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, Field, create_model

from crm_segments.records import Kind, crud
from crm_segments.schemas._base import ListParams

from .usage_schemas import UseOut


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldErrorOut]
    # With code "in_use" (409 on a delete): every workflow, segment and auto-tag rule that uses it.
    used_by: list[UseOut] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class BatchItemOut(BaseModel):
    id: int
    external_id: str
    created: bool


class BatchResult(BaseModel):
    created: int
    updated: int
    items: list[BatchItemOut]


@cache
def page_of(kind: Kind) -> type[BaseModel]:
    out: Any = kind.out_schema
    return create_model(
        f"{out.__name__.removesuffix('Out')}Page",
        items=(list[out], ...),
        next_after=(int | None, Field(description="Pass as `after` for the next page; null on the last.")),
        prev_before=(int | None, Field(description="Pass as `before` for the previous page; null on the "
                                                   "first.")),
    )


@cache
def list_params_of(kind: Kind) -> type[ListParams]:
    """The paging (and, for a type listed in the UI, sorting) parameters of the kind's list."""
    keys = sorted(crud.sort_keys(kind).columns)
    if not keys:
        return ListParams
    described = Field(default=None, description=f"Order by one of {', '.join(keys)} (ascending), or with "
                                                "a leading - descending; then by id. Default: id order.")
    sort: Any = (str | None, described)
    name = kind.out_schema.__name__.removesuffix("Out")
    return create_model(f"{name}ListParams", __base__=ListParams, sort=sort)


@cache
def batch_of(kind: Kind) -> type[BaseModel]:
    # An item for a new row is validated as a create, one for an existing row as a partial update.
    item: Any = kind.create_schema | kind.update_schema
    return create_model(
        f"{kind.create_schema.__name__.removesuffix('Create')}Batch",
        items=(list[item], Field(max_length=1000)),
    )
