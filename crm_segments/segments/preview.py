"""Preview of a rule or query before it is saved: how many match, a sample, and how many can be reached.

Reachable by email: an address, consent, and no bounce. By SMS: a phone number and consent. The
counts are one aggregate query over the matching ids; nothing is materialized.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Profile

from .compiler import compile_rule
from .cycles import check_no_cycles
from .query_segments import configured_timeout_ms, query_ids
from .rules import RuleError, parse_rule

SAMPLE_SIZE = 20
PREVIEW_QUERY_ROWS = 1_000_000
PREVIEW_QUERY_TIMEOUT_MS = 10_000  # at most: a preview answers a page; the setting may be lower


@dataclass(frozen=True)
class Preview:
    count: int
    email_reachable: int
    sms_reachable: int
    sample: list[Profile] = field(default_factory=list)


def email_reachable(profile: Any = Profile) -> ColumnElement[bool]:
    return and_(profile.email.is_not(None), profile.email != "", profile.email_consent.is_(True),
                profile.email_bounced_at.is_(None))


def sms_reachable(profile: Any = Profile) -> ColumnElement[bool]:
    return and_(profile.phone.is_not(None), profile.phone != "", profile.sms_consent.is_(True))


def _flag(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0).cast(Integer)


def preview_ids(session: Session, ids: Select[Any], *, sample_size: int = SAMPLE_SIZE) -> Preview:
    """Counts and a sample (lowest ids first) of the profiles in ``ids`` (a select of profile ids)."""
    matched = Profile.id.in_(ids)
    total, by_email, by_sms = session.execute(
        select(func.count(), _flag(email_reachable()), _flag(sms_reachable())).where(matched)).one()
    sample = list(session.scalars(select(Profile).where(matched).order_by(Profile.id).limit(sample_size)))
    return Preview(int(total), int(by_email), int(by_sms), sample)


def parse_checked(session: Session, document: Any, *, segment_id: int | None = None,
                  key: str | None = None) -> Any:
    """The parsed rule, refused (ValidationFailed on ``rule`` with the node's path) when invalid,
    when it names a segment that does not exist, or when it would make a membership cycle."""
    try:
        rule = parse_rule(document)
        check_no_cycles(session, segment_id, rule, key=key)
    except RuleError as exc:
        raise ValidationFailed([FieldError(exc.path, exc.message)]) from None
    return rule


def preview_rule(session: Session, document: Any, *, now: dt.datetime, segment_id: int | None = None,
                 sample_size: int = SAMPLE_SIZE) -> Preview:
    rule = parse_checked(session, document, segment_id=segment_id)
    return preview_ids(session, compile_rule(rule, now=now), sample_size=sample_size)


def preview_query(session: Session, sql: str, *, sample_size: int = SAMPLE_SIZE) -> Preview:
    """Preview of a database query: run read-only (validated, time- and row-limited) like a refresh.

    The ids are counted in chunks; only the sample's ids are kept, the counts come from SQL.
    """
    total = by_email = by_sms = 0
    sample_ids: list[int] = []
    timeout_ms = min(configured_timeout_ms(), PREVIEW_QUERY_TIMEOUT_MS)
    for chunk in query_ids(session, sql, timeout_ms=timeout_ms, row_limit=PREVIEW_QUERY_ROWS):
        part = preview_ids(session, select(Profile.id).where(Profile.id.in_(chunk)), sample_size=0)
        total, by_email = total + part.count, by_email + part.email_reachable
        by_sms += part.sms_reachable
        sample_ids = sorted([*sample_ids, *chunk])[:sample_size]
    sample = list(session.scalars(select(Profile).where(Profile.id.in_(sample_ids)).order_by(Profile.id)))
    return Preview(total, by_email, by_sms, sample)
