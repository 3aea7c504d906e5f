"""Database-level guarantees of the data model, on both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from crm_segments.db import Base
from crm_segments.models import (
    Job,
    JobLine,
    Opportunity,
    Product,
    Profile,
    ProfileTag,
    Quote,
    QuoteLine,
    QuoteTag,
    SupportTicket,
    Tag,
)
from crm_segments.models.changes import ProfileChange
from crm_segments.models.tags import normalize_tag_name

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)


def _profile_with_everything(session: Session) -> Profile:
    profile = Profile(external_id="p-1", email="ann@example.com", first_name="Ann")
    product = Product(external_id="prod-1", sku="SKU-1", name="Boiler", price=Decimal("100"))
    tag = Tag(name="VIP", name_key=normalize_tag_name("VIP"))
    session.add_all([profile, product, tag])
    session.flush()
    quote = Quote(external_id="q-1", profile_id=profile.id, number="Q-1", status="sent",
                  total=Decimal("100.00"), sent_at=NOW)
    quote.lines.append(QuoteLine(product_id=product.id, quantity=Decimal("1"),
                                 unit_price=Decimal("100"), amount=Decimal("100")))
    session.add(quote)
    session.flush()
    job = Job(external_id="j-1", profile_id=profile.id, quote_id=quote.id, status="completed",
              amount=Decimal("100"), finished_at=NOW)
    job.lines.append(JobLine(product_id=product.id, amount=Decimal("100"), unit_price=Decimal("100")))
    session.add_all([
        job,
        Opportunity(external_id="o-1", profile_id=profile.id, stage="won", value=Decimal("5")),
        SupportTicket(external_id="t-1", profile_id=profile.id, subject="Leak"),
        ProfileTag(entity_id=profile.id, tag_id=tag.id, source="manual"),
        QuoteTag(entity_id=quote.id, tag_id=tag.id, source="manual"),
    ])
    session.flush()
    return profile


def test_deleting_a_profile_leaves_no_orphan_rows(session: Session, backend: str) -> None:
    profile = _profile_with_everything(session)
    profile_id = profile.id
    session.delete(profile)
    session.flush()
    session.expire_all()
    keep = {"crm_products", "crm_tags", "crm_categories", "crm_users", "crm_api_keys"}
    # The change log is how incremental refreshes learn of the deletion: it keeps the profile's id
    # (no foreign key) until the log is pruned; erasure removes them (privacy plan).
    changes = session.scalars(select(ProfileChange.profile_id).order_by(ProfileChange.id)).all()
    assert changes and set(changes) == {profile_id}
    for table in Base.metadata.sorted_tables:
        if table.name in keep or table.name == ProfileChange.__tablename__:
            continue
        count = session.scalar(select(func.count()).select_from(table))
        assert count == 0, f"{table.name} kept {count} rows after the profile was deleted"
    assert session.scalar(select(func.count()).select_from(Product)) == 1


def test_external_ids_are_unique(session: Session, backend: str) -> None:
    session.add(Profile(external_id="dup"))
    session.flush()
    session.add(Profile(external_id="dup"))
    with pytest.raises(IntegrityError, match="external_id"):
        session.flush()


@pytest.mark.parametrize(
    "row",
    [
        lambda pid: Quote(external_id="q", profile_id=pid, number="Q", total=Decimal("-1")),
        lambda pid: Job(external_id="j", profile_id=pid, amount=Decimal("-0.01")),
        lambda pid: Opportunity(external_id="o", profile_id=pid, value=Decimal("-5")),
    ],
)
def test_negative_money_is_refused_by_the_database(session: Session, backend: str, row) -> None:
    profile = Profile(external_id="p")
    session.add(profile)
    session.flush()
    session.add(row(profile.id))
    with pytest.raises(IntegrityError, match="nonnegative"):
        session.flush()


def test_unknown_status_is_refused(session: Session, backend: str) -> None:
    profile = Profile(external_id="p")
    session.add(profile)
    session.flush()
    session.add(Quote(external_id="q", profile_id=profile.id, number="Q", status="lost"))
    with pytest.raises(StatementError, match="lost"):
        session.flush()


def test_tag_names_are_unique_ignoring_case_and_spaces(session: Session, backend: str) -> None:
    session.add(Tag(name="Hot Lead", name_key=normalize_tag_name("Hot Lead")))
    session.flush()
    session.add(Tag(name="  hot   LEAD ", name_key=normalize_tag_name("  hot   LEAD ")))
    with pytest.raises(IntegrityError):
        session.flush()


def test_timestamps_are_aware_utc_and_naive_ones_are_refused(session: Session, backend: str) -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    profile = Profile(external_id="p", email_consent_at=dt.datetime(2026, 1, 1, 7, 0, tzinfo=eastern))
    session.add(profile)
    session.flush()
    session.expire_all()
    loaded = session.get(Profile, profile.id)
    assert loaded is not None
    assert loaded.email_consent_at == dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert loaded.email_consent_at.tzinfo is not None
    assert loaded.created_at.tzinfo is not None

    session.add(Profile(external_id="naive", email_consent_at=dt.datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_money_is_exact_decimal(session: Session, backend: str) -> None:
    profile = Profile(external_id="p")
    session.add(profile)
    session.flush()
    quote = Quote(external_id="q", profile_id=profile.id, number="Q", total=Decimal("0.10") + Decimal("0.20"))
    session.add(quote)
    session.flush()
    session.expire_all()
    assert session.get(Quote, quote.id).total == Decimal("0.30")  # type: ignore[union-attr]
