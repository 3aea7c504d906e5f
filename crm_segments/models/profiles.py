"""Customer profiles: contact, firmographic, demographic, geographic and acquisition data, consent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base, Money, UTCDateTime

from ._columns import choice, created_at_column, external_id_column, updated_at_column

LIFECYCLE_STATUSES = ("lead", "prospect", "customer", "churned")
GENDERS = ("female", "male", "non_binary", "undisclosed")
INCOME_BANDS = ("<25k", "25-50k", "50-100k", "100-200k", ">200k")
EDUCATION_LEVELS = ("secondary", "vocational", "bachelor", "master", "doctorate")
FAMILY_STATUSES = ("single", "couple", "family", "empty_nester")
CONSENT_SOURCES = ("import", "api", "form", "ui", "unsubscribe_link", "sms_keyword", "webhook", "demo")

FIRMOGRAPHIC_FIELDS = ("company", "job_title", "industry", "company_size", "annual_revenue")
DEMOGRAPHIC_FIELDS = (
    "birth_date", "gender", "income_band", "education", "occupation", "family_status",
)


class Profile(Base):
    __tablename__ = "crm_profiles"
    __table_args__ = (
        CheckConstraint("company_size IS NULL OR company_size >= 0", name="company_size_nonnegative"),
        CheckConstraint(
            "annual_revenue IS NULL OR annual_revenue >= 0", name="annual_revenue_nonnegative"
        ),
        Index("ix_crm_profiles_region_lifecycle", "region", "lifecycle_status", "id"),
        Index("ix_crm_profiles_last_name_id", "last_name", "id"),
        # Each acquisition source's share of the base (segment pages), counted from the index.
        Index("ix_crm_profiles_acquisition_source", "acquisition_source"),
        # A sales person's customers (their quotes, RFM cells, "my customers"): their ids read from the
        # index alone, not from a profile row each.
        Index("ix_crm_profiles_owner_id", "owner_id", "id"),
        # Prefix search in the profiles list (profiles/queries.py): on PostgreSQL a LIKE
        # 'abc%' can use a btree index under any collation only with the pattern operator class.
        # Pattern indexes still serve equality lookups (e.g. by email).
        *(
            Index(f"ix_crm_profiles_{name}", name, postgresql_ops={name: "varchar_pattern_ops"})
            for name in ("email", "company")
        ),
        *(
            Index(f"ix_crm_profiles_{name}_pattern", name, postgresql_ops={name: "varchar_pattern_ops"})
            for name in ("first_name", "last_name")
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = external_id_column()
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_users.id", ondelete="SET NULL")
    )

    # Contact
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(16))  # E.164

    # Firmographics
    company: Mapped[str | None] = mapped_column(String(200))
    job_title: Mapped[str | None] = mapped_column(String(120))
    industry: Mapped[str | None] = mapped_column(String(80))
    company_size: Mapped[int | None]
    annual_revenue: Mapped[Decimal | None] = mapped_column(Money())

    # Demographics and psychographics
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(choice(*GENDERS, name="gender"))
    income_band: Mapped[str | None] = mapped_column(choice(*INCOME_BANDS, name="income_band"))
    education: Mapped[str | None] = mapped_column(choice(*EDUCATION_LEVELS, name="education"))
    occupation: Mapped[str | None] = mapped_column(String(120))
    family_status: Mapped[str | None] = mapped_column(choice(*FAMILY_STATUSES, name="family_status"))
    interests: Mapped[list[str] | None] = mapped_column(JSON)

    # Geography
    city: Mapped[str | None] = mapped_column(String(120))
    region: Mapped[str | None] = mapped_column(String(120))
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    postal_code: Mapped[str | None] = mapped_column(String(20))
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA name

    # Acquisition and lifecycle
    acquisition_source: Mapped[str | None] = mapped_column(String(80))
    acquisition_channel: Mapped[str | None] = mapped_column(String(80))
    acquisition_campaign: Mapped[str | None] = mapped_column(String(120))
    lifecycle_status: Mapped[str] = mapped_column(
        choice(*LIFECYCLE_STATUSES, name="lifecycle_status"), default="lead"
    )

    # Consent: each change records when and through what.
    email_consent: Mapped[bool] = mapped_column(default=False)
    email_consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    email_consent_source: Mapped[str | None] = mapped_column(
        choice(*CONSENT_SOURCES, name="email_consent_source")
    )
    sms_consent: Mapped[bool] = mapped_column(default=False)
    sms_consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sms_consent_source: Mapped[str | None] = mapped_column(
        choice(*CONSENT_SOURCES, name="sms_consent_source")
    )
    # Set by a hard bounce or a spam report: no email goes to this address until it changes.
    email_bounced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    custom_attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.external_id
