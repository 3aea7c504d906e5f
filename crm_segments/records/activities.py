"""Opportunities and support tickets as record types."""

from __future__ import annotations

from typing import Any

from crm_segments.models import Opportunity, SupportTicket
from crm_segments.schemas import (
    OpportunityCreate,
    OpportunityFilters,
    OpportunityOut,
    OpportunityUpdate,
    TicketCreate,
    TicketFilters,
    TicketOut,
    TicketUpdate,
)

from .derive import stamp_status
from .kind import Kind, WriteContext
from .references import PROFILE


def _derive_opportunity(values: dict[str, Any], existing: Any, ctx: WriteContext) -> None:
    stamp_status(values, existing, ctx, "stage", {"won": "closed_at", "lost": "closed_at"})


def _derive_ticket(values: dict[str, Any], existing: Any, ctx: WriteContext) -> None:
    stamp_status(values, existing, ctx, "status", {"solved": "closed_at", "closed": "closed_at"})
    if existing is None and values.get("opened_at") is None:
        values["opened_at"] = ctx.now
    elif "opened_at" in values and values["opened_at"] is None:
        del values["opened_at"]  # a ticket always has an opening time: null keeps the stored one


OPPORTUNITIES = Kind(
    name="opportunities", label="opportunity", model=Opportunity,
    create_schema=OpportunityCreate, update_schema=OpportunityUpdate, out_schema=OpportunityOut,
    filter_schema=OpportunityFilters, references=(PROFILE,), derive=_derive_opportunity,
)

TICKETS = Kind(
    name="tickets", label="ticket", model=SupportTicket,
    create_schema=TicketCreate, update_schema=TicketUpdate, out_schema=TicketOut,
    filter_schema=TicketFilters, references=(PROFILE,), derive=_derive_ticket,
)
