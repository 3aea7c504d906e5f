"""The body of a batch upsert: up to ``MAX_BATCH`` items, each checked as a new or a changed row
(the type's create or update model) once it is known whether its external_id exists."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ._base import InputModel

MAX_BATCH = 1000


class BatchIn(InputModel):
    # Any item: a bad one is named by its index together with the others' errors, all at once.
    items: list[Any] = Field(max_length=MAX_BATCH)
