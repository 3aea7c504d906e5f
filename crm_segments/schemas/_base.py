"""Base classes for input, output and list-filter schemas, and ``partial`` for PATCH schemas."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from ._types import Id


class InputModel(BaseModel):
    """What a client may send. Unknown fields are refused so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    """What the API returns; read from ORM objects. Plain types: stored data is not re-validated."""

    model_config = ConfigDict(from_attributes=True)


class FilterModel(InputModel):
    """Query-string filters of a list endpoint; each set field narrows the list."""


class RecordFilters(FilterModel):
    """Filters shared by records that belong to a profile."""

    profile_id: Id | None = None
    external_id: str | None = None
    updated_since: AwareDatetime | None = Field(
        default=None, description="Only rows changed at or after this time (with a time zone)."
    )


class PageParams(InputModel):
    limit: int = Field(default=100, ge=1, le=1000)
    after: Id | None = Field(default=None, description="The next_after of the previous page.")


class ListParams(PageParams):
    """Paging both ways through a record list."""

    before: Id | None = Field(default=None, description="The prev_before of a page: the page before it.")


def _without_defaults(schema: dict[str, Any]) -> None:
    # In a PATCH body a missing field means "unchanged", so no field has a default to show.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional: the PATCH schema, applied with ``exclude_unset``.

    Types and constraints are kept, so an explicit ``null`` for a field that cannot be empty is
    still refused.
    """
    fields: dict[str, Any] = {
        field: (info.annotation, FieldInfo.merge_field_infos(info, default=None))
        for field, info in model.model_fields.items()
    }
    config = ConfigDict(**{**model.model_config, "json_schema_extra": _without_defaults})
    return create_model(name, __config__=config, __doc__=f"Partial update of {model.__name__}.",
                        **fields)


def profile_key() -> Any:
    """The ``profile_external_id`` field of a record: names the owner by the host CRM's key."""
    return Field(default=None, description="The owning profile's external_id; an alternative to profile_id.")
