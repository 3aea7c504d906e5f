"""factory_boy factories for every CRM model, bound to the test's database session.

The ``session`` fixture binds them (``bind_session``), so a test that uses ``session`` can call
``ProfileFactory(last_name="Smith")`` and get a flushed row with an id. Records take their owner
through a ``profile`` parameter (``QuoteFactory(profile=p)``); when none is given a new profile is made.
Defaults are predictable sequences, not random data, so searches in tests never match by chance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from crm_segments import passwords
from crm_segments.models import (
    Category,
    Job,
    JobLine,
    JobTag,
    Opportunity,
    OpportunityTag,
    Product,
    Profile,
    ProfileTag,
    Quote,
    QuoteLine,
    QuoteTag,
    SupportTicket,
    Tag,
    User,
)
from crm_segments.models.tags import normalize_tag_name

DEFAULT_PASSWORD = "correct-horse-battery"
_bound: list[Session] = []


@contextmanager
def bind_session(session: Session) -> Iterator[Session]:
    """Make the factories create rows in ``session`` for the duration of the block."""
    _bound.append(session)
    try:
        yield session
    finally:
        _bound.remove(session)


def _current_session() -> Session:
    if not _bound:
        raise RuntimeError("factories need a database session: use the `session` fixture")
    return _bound[-1]


@lru_cache(maxsize=16)
def password_hash(password: str) -> str:
    # Hashing is deliberately slow; cache it so creating many users stays fast.
    return passwords.hash_password(password)


def _at(days_ago: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)


class BaseFactory(SQLAlchemyModelFactory):  # type: ignore[misc]
    class Meta:
        abstract = True
        sqlalchemy_session_factory = _current_session
        sqlalchemy_session_persistence = "flush"


class UserFactory(BaseFactory):
    class Meta:
        model = User

    class Params:
        password = DEFAULT_PASSWORD

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    role = "sales"
    is_active = True
    password_hash = factory.LazyAttribute(lambda o: password_hash(o.password))


class AdminFactory(UserFactory):
    role = "admin"


class CategoryFactory(BaseFactory):
    class Meta:
        model = Category

    external_id = factory.Sequence(lambda n: f"CAT-{n:05d}")
    name = factory.Sequence(lambda n: f"Category {n}")


class ProductFactory(BaseFactory):
    class Meta:
        model = Product

    external_id = factory.Sequence(lambda n: f"PRD-{n:05d}")
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    price = Decimal("100.00")


class ProfileFactory(BaseFactory):
    class Meta:
        model = Profile

    external_id = factory.Sequence(lambda n: f"EXT-{n:06d}")
    first_name = factory.Sequence(lambda n: f"Firstname{n}")
    last_name = factory.Sequence(lambda n: f"Lastname{n}")
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    lifecycle_status = "lead"
    country = "US"


class _ProfileRecordFactory(BaseFactory):
    """A record owned by a profile: pass ``profile=`` (an object) or ``profile_id=``."""

    class Meta:
        abstract = True

    class Params:
        profile = factory.SubFactory(ProfileFactory)

    profile_id = factory.SelfAttribute("profile.id")


class QuoteFactory(_ProfileRecordFactory):
    class Meta:
        model = Quote

    external_id = factory.Sequence(lambda n: f"QUO-{n:06d}")
    number = factory.Sequence(lambda n: f"Q-{n:06d}")
    status = "sent"
    total = Decimal("1000.00")
    currency = "USD"
    sent_at = factory.LazyFunction(lambda: _at(30))


class QuoteLineFactory(BaseFactory):
    class Meta:
        model = QuoteLine

    class Params:
        product = None  # a Product, or None for a line without one

    quote = factory.SubFactory(QuoteFactory)
    product_id = factory.LazyAttribute(lambda o: o.product.id if o.product else None)
    description = factory.Sequence(lambda n: f"Line item {n}")
    quantity = Decimal("1")
    unit_price = Decimal("100.00")
    amount = factory.LazyAttribute(lambda o: o.quantity * o.unit_price)


class JobFactory(_ProfileRecordFactory):
    class Meta:
        model = Job

    external_id = factory.Sequence(lambda n: f"JOB-{n:06d}")
    title = factory.Sequence(lambda n: f"Job {n}")
    status = "completed"
    amount = Decimal("1000.00")
    currency = "USD"
    scheduled_at = factory.LazyFunction(lambda: _at(20))
    started_at = factory.LazyFunction(lambda: _at(15))
    finished_at = factory.LazyFunction(lambda: _at(10))


class JobLineFactory(BaseFactory):
    class Meta:
        model = JobLine

    class Params:
        product = None  # a Product, or None for a line without one

    job = factory.SubFactory(JobFactory)
    product_id = factory.LazyAttribute(lambda o: o.product.id if o.product else None)
    description = factory.Sequence(lambda n: f"Work item {n}")
    quantity = Decimal("1")
    unit_price = Decimal("100.00")
    amount = factory.LazyAttribute(lambda o: o.quantity * o.unit_price)


class OpportunityFactory(_ProfileRecordFactory):
    class Meta:
        model = Opportunity

    external_id = factory.Sequence(lambda n: f"OPP-{n:06d}")
    name = factory.Sequence(lambda n: f"Opportunity {n}")
    stage = "prospecting"
    value = Decimal("5000.00")
    currency = "USD"
    source = "referral"
    expected_close = factory.LazyFunction(lambda: (_at(-30)).date())


class SupportTicketFactory(_ProfileRecordFactory):
    class Meta:
        model = SupportTicket

    external_id = factory.Sequence(lambda n: f"TCK-{n:06d}")
    subject = factory.Sequence(lambda n: f"Support request {n}")
    status = "open"
    priority = "normal"
    opened_at = factory.LazyFunction(lambda: _at(5))


class TagFactory(BaseFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"Tag {n}")
    name_key = factory.LazyAttribute(lambda o: normalize_tag_name(o.name))
    color = "#2563eb"
    description = ""


class _TaggingFactory(BaseFactory):
    """A tagging: pass the entity's object under its own name (``profile=``, ``quote=``...)."""

    class Meta:
        abstract = True

    tag = factory.SubFactory(TagFactory)
    source = "manual"


class ProfileTagFactory(_TaggingFactory):
    class Meta:
        model = ProfileTag

    class Params:
        profile = factory.SubFactory(ProfileFactory)

    entity_id = factory.SelfAttribute("profile.id")


class QuoteTagFactory(_TaggingFactory):
    class Meta:
        model = QuoteTag

    class Params:
        quote = factory.SubFactory(QuoteFactory)

    entity_id = factory.SelfAttribute("quote.id")


class JobTagFactory(_TaggingFactory):
    class Meta:
        model = JobTag

    class Params:
        job = factory.SubFactory(JobFactory)

    entity_id = factory.SelfAttribute("job.id")


class OpportunityTagFactory(_TaggingFactory):
    class Meta:
        model = OpportunityTag

    class Params:
        opportunity = factory.SubFactory(OpportunityFactory)

    entity_id = factory.SelfAttribute("opportunity.id")
