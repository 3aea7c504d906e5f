"""CRM records (profiles, quotes, jobs, opportunities, tickets, products, categories): validated
create, read, update, delete, list and upsert by external id, shared by the API and the importer.

Usage: ``crud.create(KINDS["quotes"], session=session, data=QuoteCreate(...))``; see ``crud`` for the rest.
"""

from .activities import OPPORTUNITIES, TICKETS
from .catalog import CATEGORIES, PRODUCTS
from .kind import Kind, WriteContext
from .profiles import PROFILES
from .quotes import JOBS, QUOTES

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (PROFILES, QUOTES, JOBS, OPPORTUNITIES, TICKETS, PRODUCTS, CATEGORIES)
}

__all__ = ["KINDS", "Kind", "WriteContext"]
