"""Validation schemas (pydantic) for what the API and the CSV import accept and what the API returns.

Per type: ``<Type>Create`` (POST, new rows of an import), ``<Type>Update`` (PATCH: every field
optional, only the fields sent change), ``<Type>Out`` (responses) and ``<Type>Filters`` (list
query string). The OpenAPI description is generated from these same classes.
"""

from .catalog import (
    CategoryCreate,
    CategoryFilters,
    CategoryOut,
    CategoryUpdate,
    ProductCreate,
    ProductFilters,
    ProductOut,
    ProductUpdate,
)
from .jobs import JobCreate, JobFilters, JobOut, JobUpdate
from .lines import JobLineImport, LineIn, LineOut, QuoteLineImport
from .opportunities import OpportunityCreate, OpportunityFilters, OpportunityOut, OpportunityUpdate
from .profiles import ProfileCreate, ProfileFilters, ProfileOut, ProfileUpdate
from .quotes import QuoteCreate, QuoteFilters, QuoteOut, QuoteUpdate
from .tickets import TicketCreate, TicketFilters, TicketOut, TicketUpdate

__all__ = [
    "CategoryCreate", "CategoryFilters", "CategoryOut", "CategoryUpdate",
    "JobCreate", "JobFilters", "JobOut", "JobUpdate",
    "JobLineImport", "LineIn", "LineOut", "QuoteLineImport",
    "OpportunityCreate", "OpportunityFilters", "OpportunityOut", "OpportunityUpdate",
    "ProductCreate", "ProductFilters", "ProductOut", "ProductUpdate",
    "ProfileCreate", "ProfileFilters", "ProfileOut", "ProfileUpdate",
    "QuoteCreate", "QuoteFilters", "QuoteOut", "QuoteUpdate",
    "TicketCreate", "TicketFilters", "TicketOut", "TicketUpdate",
]
