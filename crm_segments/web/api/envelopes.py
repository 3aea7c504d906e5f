"""Response shapes that wrap the record schemas: pages, batch results and errors."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, Field, create_model

from crm_segments.records import Kind

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
    )


@cache
def batch_of(kind: Kind) -> type[BaseModel]:
    # An item for a new row is validated as a create, one for an existing row as a partial update.
    item: Any = kind.create_schema | kind.update_schema
    return create_model(
        f"{kind.create_schema.__name__.removesuffix('Create')}Batch",
        items=(list[item], Field(max_length=1000)),
    )
