"""What saving or changing a saved view of a list takes, for the API and the list pages alike."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from crm_segments.models.saved_views import LIST_KEY_MAX, VIEW_NAME_MAX

from ._base import InputModel
from ._types import Text

MAX_FILTERS = 20
MAX_COLUMNS = 40
FILTER_VALUE_MAX = 200

ViewName = Annotated[str, Text(VIEW_NAME_MAX, min_length=1)]
FilterValue = Annotated[str, Text(FILTER_VALUE_MAX)]


class SavedViewFields(InputModel):
    name: ViewName = Field(description="Unique among the person's views of the list.")
    filters: dict[str, FilterValue] = Field(
        default_factory=dict, max_length=MAX_FILTERS,
        description="The list's query-string filters, e.g. {\"region\": \"Ontario\"}; blank ones "
                    "are dropped.")
    sort: Annotated[str, Text(40)] = Field(default="", description="A sort key of the list, \"-key\" for "
                                                                   "descending; empty for the default order.")
    columns: list[Annotated[str, Text(40)]] = Field(
        default_factory=list, max_length=MAX_COLUMNS,
        description="The columns shown, by key; empty for all. The first column of a list is always shown.")
    shared: bool = Field(default=False, description="Everyone sees the view; only an admin may share one.")


class SavedViewIn(SavedViewFields):
    list: Annotated[str, Text(LIST_KEY_MAX, min_length=1)] = Field(
        description="The list: \"profiles\" or a record list such as \"quotes\".")


class SavedViewPatch(InputModel):
    """The fields to change; a missing field stays as it is."""

    name: ViewName | None = None
    filters: dict[str, FilterValue] | None = Field(default=None, max_length=MAX_FILTERS)
    sort: Annotated[str, Text(40)] | None = None
    columns: list[Annotated[str, Text(40)]] | None = Field(default=None, max_length=MAX_COLUMNS)
    shared: bool | None = None
