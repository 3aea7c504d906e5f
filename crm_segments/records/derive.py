"""Derived values shared by record types: line amounts and totals, status and consent times."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .kind import WriteContext

CENT = Decimal("0.01")


def complete_lines(values: dict[str, Any], total_field: str) -> None:
    """Give each line its amount (quantity × unit price) and the record its total, unless given."""
    lines = values.get("lines")
    if lines is None:
        if total_field in values and values[total_field] is None:
            del values[total_field]  # null without lines: keep the stored total (a new record: 0)
        return
    for line in lines:
        complete_line(line)
    if values.get(total_field) is None:
        values[total_field] = sum((line["amount"] for line in lines), Decimal("0"))


def complete_line(line: dict[str, Any]) -> None:
    """A line's amount defaults to quantity × unit price, rounded to the cent."""
    if line.get("amount") is None:
        quantity = line.get("quantity", Decimal("1"))
        price = line.get("unit_price", Decimal("0"))
        line["amount"] = (quantity * price).quantize(CENT, ROUND_HALF_UP)


def stamp_status(values: dict[str, Any], existing: Any, ctx: WriteContext, field: str,
                 stamps: Mapping[str, str]) -> None:
    """When ``field`` changes to a value in ``stamps``, set that timestamp to now unless it is given
    or already set."""
    status = values.get(field)
    if not isinstance(status, str) or status not in stamps:
        return
    if existing is not None and getattr(existing, field) == status:
        return
    stamp = stamps[status]
    if stamp not in values and (existing is None or getattr(existing, stamp) is None):
        values[stamp] = ctx.now


def record_consent(values: dict[str, Any], existing: Any, ctx: WriteContext) -> None:
    """A consent flag that is given and differs from the stored one records when and through what."""
    for channel in ("email", "sms"):
        flag = f"{channel}_consent"
        if flag not in values:
            continue
        if existing is not None and getattr(existing, flag) == values[flag]:
            continue
        values[f"{flag}_at"] = ctx.now
        values[f"{flag}_source"] = ctx.source
