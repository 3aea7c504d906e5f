"""The segment rule language as workflows use it: check a rule up front, and find which of a batch
of profiles match it now (one SQL query for the whole batch, never one per profile)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError
from crm_segments.models import Profile


def rule_errors(rule: Any, *, field: str) -> list[FieldError]:
    """What is wrong with ``rule``, each error's field prefixed with ``field`` (e.g. ``steps[2].rule``)."""
    from crm_segments.segments.rules import RuleError, parse_rule

    try:
        parse_rule(rule)
    except RuleError as exc:  # its path starts at "rule": "rule.all[2].value"
        return [FieldError(field + exc.path.removeprefix("rule"), exc.message)]
    return []


def matching(session: Session, rule: dict[str, Any], *, profile_ids: Collection[int],
             now: dt.datetime) -> set[int]:
    """The ids among ``profile_ids`` that the rule matches at ``now``."""
    if not profile_ids:
        return set()
    from crm_segments.segments.compiler import compile_rule
    from crm_segments.segments.rules import parse_rule

    query = compile_rule(parse_rule(rule), now=now).where(Profile.id.in_(list(profile_ids)))
    return set(session.scalars(query))

