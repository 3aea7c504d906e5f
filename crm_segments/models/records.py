"""Records a profile accumulates: quotes (with lines), jobs (with lines), opportunities, tickets.

Every record belongs to one profile and is deleted with it (ON DELETE CASCADE), so deleting a
profile leaves no orphan rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_segments.db import Base, Money, UTCDateTime

from ._columns import choice, created_at_column, external_id_column, updated_at_column

QUOTE_STATUSES = ("draft", "sent", "accepted", "declined", "expired")
JOB_STATUSES = ("scheduled", "in_progress", "completed", "cancelled")
OPPORTUNITY_STAGES = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
TICKET_STATUSES = ("open", "pending", "solved", "closed")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")


def _profile_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("crm_profiles.id", ondelete="CASCADE"), nullable=False)


class Quote(Base):
    __tablename__ = "crm_quotes"
    __table_args__ = (
        CheckConstraint("total >= 0", name="total_nonnegative"),
        Index("ix_crm_quotes_profile_status_sent", "profile_id", "status", "sent_at"),
        Index("ix_crm_quotes_status_sent", "status", "sent_at"),
        # Quotes awaiting an answer counted per owner: their profiles read from the index alone.
        Index("ix_crm_quotes_status_profile", "status", "profile_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = external_id_column()
    profile_id: Mapped[int] = _profile_fk()
    number: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(choice(*QUOTE_STATUSES, name="quote_status"), default="draft")
    total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote", cascade="all, delete-orphan", passive_deletes=True,
        order_by="QuoteLine.id",
    )


class QuoteLine(Base):
    __tablename__ = "crm_quote_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(
        ForeignKey("crm_quotes.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_products.id", ondelete="SET NULL"), index=True
    )
    description: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[Decimal] = mapped_column(Money(), default=Decimal("1"))
    unit_price: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))

    quote: Mapped[Quote] = relationship(back_populates="lines")


class Job(Base):
    __tablename__ = "crm_jobs"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_nonnegative"),
        Index("ix_crm_jobs_profile_status_finished", "profile_id", "status", "finished_at"),
        Index("ix_crm_jobs_status_finished", "status", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = external_id_column()
    profile_id: Mapped[int] = _profile_fk()
    quote_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_quotes.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(choice(*JOB_STATUSES, name="job_status"), default="scheduled")
    amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    lines: Mapped[list[JobLine]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True,
        order_by="JobLine.id",
    )


class JobLine(Base):
    """A line of work or goods; on a completed job it counts as a purchase of its product."""

    __tablename__ = "crm_job_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("crm_jobs.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_products.id", ondelete="SET NULL"), index=True
    )
    description: Mapped[str] = mapped_column(String(255), default="")
    quantity: Mapped[Decimal] = mapped_column(Money(), default=Decimal("1"))
    unit_price: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))

    job: Mapped[Job] = relationship(back_populates="lines")


class Opportunity(Base):
    __tablename__ = "crm_opportunities"
    __table_args__ = (
        CheckConstraint("value >= 0", name="value_nonnegative"),
        Index("ix_crm_opportunities_profile_stage", "profile_id", "stage", "created_at"),
        Index("ix_crm_opportunities_stage_close", "stage", "expected_close"),
        # The time edge of "first opportunity within N days" (segments/incremental.py) is a range on it.
        Index("ix_crm_opportunities_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = external_id_column()
    profile_id: Mapped[int] = _profile_fk()
    name: Mapped[str] = mapped_column(String(200), default="")
    stage: Mapped[str] = mapped_column(
        choice(*OPPORTUNITY_STAGES, name="opportunity_stage"), default="prospecting"
    )
    value: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    source: Mapped[str | None] = mapped_column(String(80))
    expected_close: Mapped[dt.date | None] = mapped_column(Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class SupportTicket(Base):
    __tablename__ = "crm_support_tickets"
    __table_args__ = (
        Index("ix_crm_support_tickets_profile_status", "profile_id", "status", "opened_at"),
        Index("ix_crm_support_tickets_status_opened", "status", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = external_id_column()
    profile_id: Mapped[int] = _profile_fk()
    subject: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(choice(*TICKET_STATUSES, name="ticket_status"), default="open")
    priority: Mapped[str] = mapped_column(
        choice(*TICKET_PRIORITIES, name="ticket_priority"), default="normal"
    )
    opened_at: Mapped[dt.datetime] = created_at_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()
