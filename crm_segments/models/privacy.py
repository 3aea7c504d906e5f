"""The audit of erasures: that a profile was erased, when, by whom and how much went with it.

It holds no personal data and no free text: the id the profile had (which names no one once the
profile is gone), the user who erased it, and counts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base

from ._columns import choice, created_at_column

ERASURE_CHANNELS = ("ui", "api", "cli")


class Erasure(Base):
    __tablename__ = "crm_erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The id the profile had: a plain id, not a foreign key (the profile is gone).
    profile_id: Mapped[int]
    erased_at: Mapped[dt.datetime] = created_at_column()
    erased_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(choice(*ERASURE_CHANNELS, name="erasure_via"))
    rows: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # table -> rows deleted or cleared
    outbox_files: Mapped[int] = mapped_column(default=0)
