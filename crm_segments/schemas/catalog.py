"""Product and category schemas; a product names its category, a category its parent, by id or external id."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from ._base import FilterModel, InputModel, OutputModel, partial
from ._types import ExternalId, Id, Money, MoneyOut, Text


class CategoryCreate(InputModel):
    external_id: ExternalId
    name: Annotated[str, Text(120, min_length=1)]
    parent_id: Id | None = None
    parent_external_id: ExternalId | None = Field(
        default=None, description="The parent category's external_id; an alternative to parent_id."
    )


CategoryUpdate = partial(CategoryCreate, "CategoryUpdate")


class CategoryOut(OutputModel):
    id: int
    external_id: str
    name: str
    parent_id: int | None
    created_at: dt.datetime


class CategoryFilters(FilterModel):
    external_id: str | None = None
    name: str | None = None
    parent_id: Id | None = None


class ProductCreate(InputModel):
    external_id: ExternalId
    sku: Annotated[str, Text(64, min_length=1)]
    name: Annotated[str, Text(200, min_length=1)]
    category_id: Id | None = None
    category_external_id: ExternalId | None = Field(
        default=None, description="The category's external_id; an alternative to category_id."
    )
    price: Money = Decimal("0")
    is_active: bool = True


ProductUpdate = partial(ProductCreate, "ProductUpdate")


class ProductOut(OutputModel):
    id: int
    external_id: str
    sku: str
    name: str
    category_id: int | None
    price: MoneyOut
    is_active: bool
    created_at: dt.datetime


class ProductFilters(FilterModel):
    external_id: str | None = None
    sku: str | None = None
    category_id: Id | None = None
    is_active: bool | None = None
