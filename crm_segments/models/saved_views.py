"""Saved views of the lists: a person's named filter, sort and columns for one list."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base

from ._columns import created_at_column, updated_at_column

VIEW_NAME_MAX = 80
LIST_KEY_MAX = 40


class SavedView(Base):
    __tablename__ = "crm_saved_views"
    # A person's views of one list have different names; shared views are read across owners.
    __table_args__ = (
        UniqueConstraint("owner_id", "list_key", "name"),
        Index("ix_crm_saved_views_list_shared", "list_key", "shared"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("crm_users.id", ondelete="CASCADE"))
    list_key: Mapped[str] = mapped_column(String(LIST_KEY_MAX))  # "profiles" or a record list: "quotes"
    name: Mapped[str] = mapped_column(String(VIEW_NAME_MAX))
    filters: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # the list's query-string filters
    sort: Mapped[str] = mapped_column(String(40), default="")  # "", "region" or "-region"
    columns: Mapped[list[Any]] = mapped_column(JSON, default=list)  # the column keys shown, in order
    shared: Mapped[bool] = mapped_column(default=False)  # everyone sees it; set by an admin
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()
