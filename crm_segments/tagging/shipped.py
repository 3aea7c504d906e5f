"""The auto-tag rules the product ships with, created by ``init-db`` (idempotently).

Each is a plain rule document with its parameters spelled out as named constants, documented in
docs/tagging.md. Admins may edit them; "reset to shipped" restores the document below. The tags they
apply are built-in tags: only admins rename, recolour or describe them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import AutoTagRule

from .names import get_or_create_tag
from .rules import parse_condition

# Parameters (docs/tagging.md)
QUOTE_FOLLOW_UP_MONTHS = 6  # quote-no-purchase-6m: a quote sent at least this long ago
NEW_CUSTOMER_DAYS = 30  # new-customer: first completed job at most this long ago
REPEAT_BUYER_JOBS = 2  # repeat-buyer: at least this many completed jobs
INACTIVE_MONTHS = 12  # inactive-12m: last completed job at least this long ago
HIGH_VALUE_TOTAL = 10_000  # high-value: completed jobs worth at least this much in total

_COMPLETED = {"field": "status", "op": "eq", "value": "completed"}


@dataclass(frozen=True)
class ShippedRule:
    key: str
    name: str
    tag: str
    color: str
    mode: str
    description: str
    condition: dict[str, Any]
    entity_type: str = "profile"


SHIPPED_RULES: tuple[ShippedRule, ...] = (
    ShippedRule(
        "quote-no-purchase-6m", "Quote sent, no purchase in 6 months", "Quote no purchase 6m", "#d97706",
        "live",
        f"Sent a quote at least {QUOTE_FOLLOW_UP_MONTHS} months ago and has never completed a job. "
        "Removed once they buy.",
        {"all": [
            {"records": "quotes", "exists": True, "where": {
                "field": "sent_at", "op": "more_than_ago", "value": QUOTE_FOLLOW_UP_MONTHS, "unit": "months",
            }},
            {"records": "jobs", "exists": False, "where": _COMPLETED},
        ]},
    ),
    ShippedRule(
        "new-customer", "New customer", "New customer", "#16a34a", "live",
        f"First completed job within the last {NEW_CUSTOMER_DAYS} days.",
        {"records": "jobs", "where": _COMPLETED,
         "first": {"field": "finished_at", "op": "within_last", "value": NEW_CUSTOMER_DAYS, "unit": "days"}},
    ),
    ShippedRule(
        "repeat-buyer", "Repeat buyer", "Repeat buyer", "#2563eb", "sticky",
        f"At least {REPEAT_BUYER_JOBS} completed jobs. Stays once earned.",
        {"records": "jobs", "where": _COMPLETED, "count": {"op": "gte", "value": REPEAT_BUYER_JOBS}},
    ),
    ShippedRule(
        "inactive-12m", "Inactive for 12 months", "Inactive 12m", "#6b7280", "live",
        f"Has bought before, but the last completed job finished more than {INACTIVE_MONTHS} months ago.",
        {"records": "jobs", "where": _COMPLETED,
         "last": {"field": "finished_at", "op": "more_than_ago", "value": INACTIVE_MONTHS, "unit": "months"}},
    ),
    ShippedRule(
        "high-value", "High value", "High value", "#7c3aed", "live",
        f"Completed jobs worth at least {HIGH_VALUE_TOTAL:,} in total.",
        {"records": "jobs", "where": _COMPLETED, "sum": {"op": "gte", "value": HIGH_VALUE_TOTAL}},
    ),
)


def install_shipped_rules(session: Session) -> None:
    """Create each shipped rule (and its tag) that is missing; leave existing ones as admins left them,
    but keep their ``shipped_condition`` current so "reset to shipped" restores this release's rule."""
    existing = {r.key: r for r in session.scalars(select(AutoTagRule).where(AutoTagRule.key.is_not(None)))}
    for shipped in SHIPPED_RULES:
        parse_condition(shipped.condition, entity_type=shipped.entity_type)  # a broken release fails loudly
        rule = existing.get(shipped.key)
        if rule is not None:
            rule.shipped_condition = shipped.condition
            continue
        tag, _ = get_or_create_tag(session=session, name=shipped.tag, color=shipped.color,
                                   description=shipped.description)
        tag.is_builtin = True  # only admins change it (tagging/management.py)
        session.add(AutoTagRule(
            key=shipped.key, name=shipped.name, description=shipped.description,
            entity_type=shipped.entity_type, condition=shipped.condition, shipped_condition=shipped.condition,
            tag_id=tag.id, mode=shipped.mode, enabled=True, is_builtin=True,
        ))
    session.flush()
