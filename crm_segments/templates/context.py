"""What a message template sees: the profile, the triggering record (a quote with its lines...), the
profile's owner and the unsubscribe link, as plain values read once from the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from crm_segments.models import Job, Opportunity, Profile, Quote, SupportTicket, User
from crm_segments.models.record_types import record_models


def profile_values(profile: Profile) -> dict[str, Any]:
    return {
        "id": profile.id, "external_id": profile.external_id, "first_name": profile.first_name,
        "last_name": profile.last_name, "full_name": profile.full_name,
        "greeting_name": profile.first_name or profile.full_name,
        "email": profile.email, "phone": profile.phone, "company": profile.company,
        "job_title": profile.job_title, "city": profile.city, "region": profile.region,
        "country": profile.country, "time_zone": profile.time_zone,
        "lifecycle_status": profile.lifecycle_status, "custom": dict(profile.custom_attributes or {}),
    }


def owner_values(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"name": user.name or user.email, "email": user.email}


def record_values(record: Any) -> dict[str, Any]:
    if isinstance(record, Quote):
        return {"id": record.id, "number": record.number, "status": record.status, "total": record.total,
                "currency": record.currency, "sent_at": record.sent_at, "expires_at": record.expires_at,
                "lines": [_line(line) for line in record.lines]}
    if isinstance(record, Job):
        return {"id": record.id, "title": record.title, "status": record.status, "amount": record.amount,
                "currency": record.currency, "scheduled_at": record.scheduled_at,
                "finished_at": record.finished_at, "lines": [_line(line) for line in record.lines]}
    if isinstance(record, Opportunity):
        return {"id": record.id, "name": record.name, "stage": record.stage, "value": record.value,
                "currency": record.currency, "expected_close": record.expected_close}
    if isinstance(record, SupportTicket):
        return {"id": record.id, "subject": record.subject, "status": record.status,
                "priority": record.priority, "opened_at": record.opened_at, "closed_at": record.closed_at}
    if type(record) in record_models().values():  # a registered type: its columns as they are
        return {attr.key: getattr(record, attr.key) for attr in inspect(type(record)).column_attrs}
    raise TypeError(f"no template values for {type(record).__name__}")


def _line(line: Any) -> dict[str, Any]:
    return {"description": line.description, "quantity": _plain_quantity(line.quantity),
            "unit_price": line.unit_price, "amount": line.amount}


def _plain_quantity(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def build_context(session: Session, *, profile: Profile, record_type: str | None = None,
                  record_id: int | None = None, owner: User | None = None,
                  unsubscribe_url: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template context; the record is offered both as ``record`` and under its type's name."""
    if owner is None and profile.owner_id is not None:
        owner = session.get(User, profile.owner_id)
    context: dict[str, Any] = {**(extra or {}), "profile": profile_values(profile),
                               "owner": owner_values(owner), "unsubscribe_url": unsubscribe_url or ""}
    if record_type is not None and record_id is not None:
        model = record_models().get(record_type)
        record = session.get(model, record_id) if model is not None else None
        if record is not None:
            values = record_values(record)
            context["record"] = values
            context[record_type] = values
    return context


def sample_context() -> dict[str, Any]:
    """Realistic values for previews and for checking templates at save time."""
    now = dt.datetime(2025, 5, 12, 15, 30, tzinfo=dt.UTC)
    quote = {"id": 1, "number": "Q-1042", "status": "sent", "total": Decimal("1850.00"), "currency": "USD",
             "sent_at": now, "expires_at": now + dt.timedelta(days=30),
             "lines": [{"description": "Heat pump installation", "quantity": Decimal(1),
                        "unit_price": Decimal("1500.00"), "amount": Decimal("1500.00")},
                       {"description": "Annual service plan", "quantity": Decimal(1),
                        "unit_price": Decimal("350.00"), "amount": Decimal("350.00")}]}
    job = {"id": 7, "title": "Heat pump installation", "status": "completed", "amount": Decimal("1850.00"),
           "currency": "USD", "scheduled_at": now, "finished_at": now, "lines": quote["lines"]}
    sample = {
        "profile": {"id": 1, "external_id": "C-1001", "first_name": "Ann", "last_name": "Lee",
                    "full_name": "Ann Lee", "greeting_name": "Ann", "email": "ann.lee@example.com",
                    "phone": "+15551230001", "company": "Lee Dental", "job_title": "Owner",
                    "city": "Portland", "region": "Oregon", "country": "US",
                    "time_zone": "America/Los_Angeles", "lifecycle_status": "customer", "custom": {}},
        "owner": {"name": "Sam Seller", "email": "sam@example.com"},
        "record": quote, "quote": quote, "job": job,
        "opportunity": {"id": 3, "name": "Office HVAC", "stage": "proposal", "value": Decimal("9800.00"),
                        "currency": "USD", "expected_close": now.date()},
        "ticket": {"id": 5, "subject": "Thermostat offline", "status": "solved", "priority": "normal",
                   "opened_at": now, "closed_at": now},
        "unsubscribe_url": "https://crm.example.com/unsubscribe/sample-token",
    }
    for name, model in record_models().items():  # a registered type: its columns, as record_values
        sample.setdefault(name, sample_columns(model, now))
    return sample


def sample_columns(model: type[Any], now: dt.datetime) -> dict[str, Any]:
    """A value of each column's type: what ``record_values`` gives a template for a registered type."""
    by_type: dict[type, Any] = {str: "Sample", int: 1, bool: True, Decimal: Decimal("100.00"),
                                dt.datetime: now, dt.date: now.date()}
    values: dict[str, Any] = {}
    for attr in inspect(model).column_attrs:
        try:
            values[attr.key] = by_type.get(attr.columns[0].type.python_type)
        except NotImplementedError:  # a type without a Python equivalent
            values[attr.key] = None
    return values
