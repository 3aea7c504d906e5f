"""The sender processes at work right now (``crm-segments worker``), each with its heartbeat."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base, UTCDateTime


class Sender(Base):
    """A running sender: its id starts every claim token it takes ("{id}-..."), so the messages it
    holds are found when it dies. It refreshes ``heartbeat_at`` every few seconds and, on PostgreSQL,
    holds a session-level advisory lock keyed on its id for as long as it lives; a row whose heartbeat
    stopped, or whose lock is free, is a dead sender (messages/senders.py)."""

    __tablename__ = "crm_senders"
    __table_args__ = {"sqlite_autoincrement": True}  # an id is never given twice (PostgreSQL: a sequence)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
