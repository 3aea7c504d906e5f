"""Line items of quotes and jobs: a product (by id or SKU), a quantity and a price."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from ._base import InputModel, OutputModel
from ._types import Id, Money, MoneyOut, Quantity, Text


class LineIn(InputModel):
    product_id: Id | None = None
    product_sku: Annotated[str, Text(64, min_length=1)] | None = Field(
        default=None, description="The product's SKU; an alternative to product_id."
    )
    description: Annotated[str, Text(255)] = ""
    quantity: Quantity = Decimal("1")
    unit_price: Money = Decimal("0")
    amount: Money | None = Field(default=None, description="Defaults to quantity × unit_price.")


class LineOut(OutputModel):
    id: int
    product_id: int | None
    description: str
    quantity: MoneyOut
    unit_price: MoneyOut
    amount: MoneyOut


class QuoteLineImport(LineIn):
    """A row of a ``quote_lines`` CSV file: one line of the quote it names."""

    quote_id: Id | None = None
    quote_external_id: Annotated[str, Text(64, min_length=1)] | None = None


class JobLineImport(LineIn):
    """A row of a ``job_lines`` CSV file: one line of the job it names."""

    job_id: Id | None = None
    job_external_id: Annotated[str, Text(64, min_length=1)] | None = None
