"""CRM records (profiles, quotes, jobs, opportunities, tickets, products, categories and the record
types registered later): validated create, read, update, delete, list and upsert by external id,
shared by the API, the record forms and the importer.

Usage: ``crud.create(KINDS["quotes"], session=session, data=QuoteCreate(...))``; see ``crud`` for the rest.
"""

from collections.abc import Iterator, Mapping

from crm_segments.models.record_types import RecordType, record_types
from crm_segments.schemas._base import RecordFilters

from .activities import OPPORTUNITIES, TICKETS
from .catalog import CATEGORIES, PRODUCTS
from .kind import Kind, WriteContext
from .profiles import PROFILES
from .queries import KINDS as LISTED
from .quotes import JOBS, QUOTES
from .references import PROFILE

BUILT_IN: dict[str, Kind] = {
    kind.name: kind
    for kind in (PROFILES, QUOTES, JOBS, OPPORTUNITIES, TICKETS, PRODUCTS, CATEGORIES)
}


def registered_kind(record_type: RecordType) -> Kind:
    """A registered type written through its registry entry's schemas; listed by its list's filter."""
    schemas = record_type.schemas
    if schemas is None:
        raise ValueError(f"{record_type.plural} have no input schemas")
    listed = LISTED.get(record_type.name)
    return Kind(name=record_type.plural, label=record_type.noun, model=record_type.model,
                create_schema=schemas.create, update_schema=schemas.update, out_schema=schemas.out,
                filter_schema=listed.filters if listed is not None else RecordFilters,
                references=(PROFILE,) if record_type.owner == "profile_id" else (), owner=record_type.owner)


class _Kinds(Mapping[str, Kind]):
    """The built-in kinds, then each registered type with schemas, read from the registry on each use."""

    def _current(self) -> dict[str, Kind]:
        kinds = dict(BUILT_IN)
        for record_type in record_types():
            if record_type.schemas is not None and record_type.plural not in kinds:
                kinds[record_type.plural] = registered_kind(record_type)
        return kinds

    def __getitem__(self, name: str) -> Kind:
        return BUILT_IN.get(name) or self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


KINDS: Mapping[str, Kind] = _Kinds()

__all__ = ["BUILT_IN", "KINDS", "Kind", "WriteContext", "registered_kind"]
