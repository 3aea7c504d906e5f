"""The profiles list called with its filter's fields, through the filter model the UI and the API read
their query strings with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from crm_segments.kernel.keyset import DEFAULT_PAGE_SIZE, KeysetPage
from crm_segments.kernel.list_totals import Total
from crm_segments.profiles import queries
from crm_segments.records.profiles import profile_filter


def list_profiles(*, session: Session, sort: str | None = None, after: int | None = None,
                  before: int | None = None, limit: int = DEFAULT_PAGE_SIZE, **filters: Any) -> KeysetPage:
    return queries.list_profiles(session=session, profile_filter=profile_filter(**filters), sort=sort,
                                 after=after, before=before, limit=limit)


def count_profiles(*, session: Session, **filters: Any) -> Total:
    return queries.count_profiles(session=session, profile_filter=profile_filter(**filters))


def filtered_profile_ids_select(**filters: Any) -> Select[Any]:
    return queries.filtered_profile_ids_select(profile_filter(**filters))
