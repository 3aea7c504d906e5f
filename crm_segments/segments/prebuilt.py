"""The pre-created segments: shipped definitions, their parameters, the installer and "reset".

Each built-in has a stable ``key``, a rule built from documented parameters (docs/segments.md), and
keeps the rule it shipped with (``shipped_rule``). Admins may change its parameters (the rule is
rebuilt) or its rule (the parameters then no longer apply and are cleared); "reset" brings back the
shipped parameters and rule. The installer creates missing built-ins and leaves edited ones alone.

Shared meanings, each a parameter with a default:
- a *purchase* is a completed job; a *customer* has at least one;
- *new*: the first (quote / opportunity / ticket / purchase) is within the last ``days`` (90);
- *active*: a purchase finished within the last ``days`` (365); *inactive*: a customer who is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Segment
from crm_segments.models.profiles import DEMOGRAPHIC_FIELDS, FIRMOGRAPHIC_FIELDS

Params = dict[str, Any]
Doc = dict[str, Any]

COMPLETED: Doc = {"field": "status", "op": "eq", "value": "completed"}
_TEXT_FIELDS = {"company", "job_title", "industry", "occupation"}


def _days(field: str, days: int) -> Doc:
    return {"field": field, "op": "within_last", "value": days, "unit": "days"}


def customer() -> Doc:
    return {"records": "jobs", "where": COMPLETED, "exists": True}


def active(days: int) -> Doc:
    return {"records": "jobs", "where": {"all": [COMPLETED, _days("finished_at", days)]}, "exists": True}


def last_purchase_before(days: int) -> Doc:
    """Customers whose latest purchase finished more than ``days`` ago: one grouped pass over jobs."""
    return {"records": "jobs", "where": COMPLETED,
            "last": {"field": "finished_at", "op": "more_than_ago", "value": days, "unit": "days"}}


def _first_within(source: str, field: str, days: int, where: Doc | None = None) -> Doc:
    doc: Doc = {"records": source, "first": _days(field, days)}
    if where is not None:
        doc["where"] = where
    return doc


def _any_set(fields: tuple[str, ...]) -> Doc:
    return {"any": [{"field": f, "op": "is_not_empty" if f in _TEXT_FIELDS else "is_set"} for f in fields]}


def _rfm(**bounds: tuple[str, int]) -> Doc:
    return {"all": [{"field": f"rfm.{score}", "op": op, "value": value}
                    for score, (op, value) in bounds.items()]}


def _price_range(low: str, high: str) -> Doc:
    band = [low, high]
    return {"any": [
        {"records": "quotes", "where": {"field": "total", "op": "between", "value": band}, "exists": True},
        {"records": "jobs", "where": {"field": "amount", "op": "between", "value": band}, "exists": True},
        {"records": "opportunities", "where": {"field": "value", "op": "between", "value": band},
         "exists": True},
    ]}


def _quoted_not_converted(days: int) -> Doc:
    after_it = {"field": "created_at", "op": "after", "ref": "parent.sent_at"}
    no_job_after = {"records": "jobs", "where": after_it, "exists": False}
    return {"records": "quotes", "exists": True, "where": {"all": [
        {"field": "status", "op": "eq", "value": "sent"},
        {"field": "sent_at", "op": "more_than_ago", "value": days, "unit": "days"},
        no_job_after,
    ]}}


@dataclass(frozen=True)
class Builtin:
    key: str
    name: str
    description: str
    defaults: Params
    build: Callable[[Params], Doc]
    refresh_interval_minutes: int = 60


HIGH, LOW = 4, 2  # RFM score thresholds: 4-5 is high, 1-2 is low

BUILTINS: tuple[Builtin, ...] = (
    Builtin("new_to_quotes", "Customers (New to Quotes)",
            "Profiles whose first quote was sent within the last {days} days.",
            {"days": 90}, lambda p: _first_within("quotes", "sent_at", p["days"])),
    Builtin("new_to_opportunities", "Customers (New to Opportunities)",
            "Profiles whose first opportunity was created within the last {days} days.",
            {"days": 90}, lambda p: _first_within("opportunities", "created_at", p["days"])),
    Builtin("new_to_support", "Customers (New to Support)",
            "Profiles whose first support ticket was opened within the last {days} days.",
            {"days": 90}, lambda p: _first_within("tickets", "opened_at", p["days"])),
    Builtin("new_customers", "New Customers",
            "Customers whose first purchase (completed job) finished within the last {days} days.",
            {"days": 90}, lambda p: _first_within("jobs", "finished_at", p["days"], COMPLETED)),
    Builtin("active_customers", "Active Customers",
            "Customers with a purchase (completed job) finished within the last {days} days.",
            {"days": 365}, lambda p: active(p["days"])),
    Builtin("inactive_customers", "Inactive Customers",
            "Customers with no purchase (completed job) finished within the last {days} days.",
            {"days": 365}, lambda p: last_purchase_before(p["days"])),
    Builtin("customers", "Active & Inactive Customers",
            "Everyone with at least one purchase (completed job), active or not.",
            {}, lambda p: customer()),
    Builtin("customers_in_region", "Customers in Region",
            "Profiles whose region is one of: {regions}.",
            {"regions": ["California"]},
            lambda p: {"field": "region", "op": "in", "value": list(p["regions"])}),
    Builtin("bought_in_categories", "Customers who bought products in given categories",
            "Profiles with a purchase (line of a completed job) of a product in: {categories}.",
            {"categories": ["Solar Panels", "Home Batteries", "EV Charging"]},
            lambda p: {"records": "purchases", "exists": True,
                       "where": {"field": "category", "op": "in", "value": list(p["categories"])}}),
    Builtin("firmographics_only", "Customers with firmographics only",
            "Profiles with company data (company, job title, industry, size or revenue) and no "
            "demographic data.",
            {}, lambda p: {"all": [_any_set(FIRMOGRAPHIC_FIELDS), {"not": _any_set(DEMOGRAPHIC_FIELDS)}]}),
    Builtin("demographics_only", "Customers with demographics only",
            "Profiles with demographic data (birth date, gender, income, education, occupation or "
            "family status) and no firmographic data.",
            {}, lambda p: {"all": [_any_set(DEMOGRAPHIC_FIELDS), {"not": _any_set(FIRMOGRAPHIC_FIELDS)}]}),
    Builtin("demographics_or_firmographics", "Customers with demographics and firmographics",
            "Profiles with demographic or firmographic data, or both.",
            {}, lambda p: {"any": [_any_set(FIRMOGRAPHIC_FIELDS), _any_set(DEMOGRAPHIC_FIELDS)]}),
    Builtin("price_range", "Customers within a price range",
            "Profiles with a quote, job or opportunity between {low} and {high}.",
            {"low": "1000.00", "high": "10000.00"}, lambda p: _price_range(p["low"], p["high"])),
    # RFM: recency, frequency and monetary scores 1-5 (quintiles of completed jobs; rfm.py).
    Builtin("rfm_vip", "VIP", "Frequent, recent, high spend: R, F and M all at least {high}.",
            {"high": HIGH}, lambda p: _rfm(recency=("gte", p["high"]), frequency=("gte", p["high"]),
                                           monetary=("gte", p["high"]))),
    Builtin("rfm_big_spender", "Big Spender", "High spend, occasional: M at least {high}, F at most {low}.",
            {"high": HIGH, "low": LOW},
            lambda p: _rfm(monetary=("gte", p["high"]), frequency=("lte", p["low"]))),
    Builtin("rfm_loyal", "Loyal",
            "Regular, recent, lower spend: R at least {high}, F at least 3, M at most 3.",
            {"high": HIGH}, lambda p: _rfm(recency=("gte", p["high"]), frequency=("gte", 3),
                                           monetary=("lte", 3))),
    Builtin("rfm_high_value_churned", "High Value Churned",
            "High spend, inactive: M at least {high}, R at most {low}.",
            {"high": HIGH, "low": LOW},
            lambda p: _rfm(monetary=("gte", p["high"]), recency=("lte", p["low"]))),
    Builtin("rfm_low_value_churned", "Low Value Churned",
            "Infrequent, low spend, inactive: R, F and M all at most {low}.",
            {"low": LOW}, lambda p: _rfm(recency=("lte", p["low"]), frequency=("lte", p["low"]),
                                         monetary=("lte", p["low"]))),
    Builtin("rfm_new_customer", "New Customer",
            "Just onboarded: one purchase so far (F is 1) and a recent one (R at least {high}).",
            {"high": HIGH}, lambda p: _rfm(recency=("gte", p["high"]), frequency=("eq", 1))),
    Builtin("quoted_not_converted", "Quoted, not converted",
            "Profiles with a sent quote older than {days} days and no job created after it.",
            {"days": 14}, lambda p: _quoted_not_converted(p["days"])),
)
BY_KEY = {b.key: b for b in BUILTINS}


# --- parameters ---------------------------------------------------------------------------------

def _check_param(name: str, default: Any, value: Any) -> Any:
    where = f"parameters.{name}"
    if isinstance(default, int):
        top = 5 if name in ("high", "low") else 3650
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValidationFailed([FieldError(where, f"must be a whole number from 1 to {top}")])
        return value
    if isinstance(default, list):
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, str) and v.strip() and len(v) <= 120 for v in value)):
            raise ValidationFailed([FieldError(where, "must be a non-empty list of names")])
        return [v.strip() for v in value]
    try:
        amount = Decimal(str(value)) if isinstance(value, int | str) and not isinstance(value, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed([FieldError(where, "must be an amount, 0 or more, with at most two decimals")])
    return str(amount.quantize(Decimal("0.01")))


def checked_parameters(builtin: Builtin, given: Mapping[str, Any]) -> Params:
    """The built-in's parameters with ``given`` applied; unknown or bad values are refused by name."""
    unknown = sorted(set(given) - set(builtin.defaults))
    if unknown:
        raise ValidationFailed([FieldError(f"parameters.{unknown[0]}",
                                           f"{builtin.name!r} has no parameter {unknown[0]!r}")])
    params = {name: _check_param(name, default, given.get(name, default))
              for name, default in builtin.defaults.items()}
    if "low" in params and "high" in params and Decimal(str(params["low"])) > Decimal(str(params["high"])):
        raise ValidationFailed([FieldError("parameters.low", "must not be greater than high")])
    return params


def describe_parameters(builtin: Builtin, params: Params | None) -> str:
    values = {k: ", ".join(v) if isinstance(v, list) else v for k, v in (params or builtin.defaults).items()}
    return builtin.description.format(**values)


def apply_parameters(segment: Segment, given: Mapping[str, Any]) -> None:
    """Set a built-in's parameters and rebuild its rule from them."""
    builtin = BY_KEY.get(segment.key or "")
    if builtin is None:
        raise ValidationFailed([FieldError("parameters", "only built-in segments have parameters")])
    params = checked_parameters(builtin, given)
    segment.parameters = params
    segment.rule = builtin.build(params)
    segment.description = describe_parameters(builtin, params)


def reset_to_shipped(segment: Segment) -> None:
    """Bring back the shipped parameters, rule and description (membership follows at the next refresh)."""
    builtin = BY_KEY.get(segment.key or "")
    if builtin is None or not segment.is_builtin:
        raise ValidationFailed([FieldError("segment", f"{segment.name!r} is not a built-in segment")])
    segment.parameters = dict(builtin.defaults)
    segment.rule = builtin.build(builtin.defaults)
    segment.shipped_rule = segment.rule
    segment.description = describe_parameters(builtin, builtin.defaults)


# --- installer ----------------------------------------------------------------------------------

def install_builtin_segments(session: Session) -> list[Segment]:
    """Create the built-ins that are missing; existing ones keep their edits (only the shipped rule
    they reset to is brought up to date). Returns the segments created."""
    existing = {s.key: s for s in session.scalars(select(Segment).where(Segment.key.in_(list(BY_KEY))))}
    taken = set(session.scalars(select(Segment.name)))
    created = []
    for builtin in BUILTINS:
        shipped = builtin.build(builtin.defaults)
        if builtin.key in existing:
            existing[builtin.key].shipped_rule = shipped
            continue
        name = builtin.name if builtin.name not in taken else f"{builtin.name} (built-in)"
        segment = Segment(key=builtin.key, name=name, kind="live", is_builtin=True, rule=shipped,
                          shipped_rule=shipped, parameters=dict(builtin.defaults),
                          description=describe_parameters(builtin, builtin.defaults),
                          refresh_interval_minutes=builtin.refresh_interval_minutes)
        session.add(segment)
        created.append(segment)
    session.flush()
    return created


def install_segments(session: Session) -> None:
    """The installer ``init-db`` runs (crm_segments/wiring.py)."""
    install_builtin_segments(session)
