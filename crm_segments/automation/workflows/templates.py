"""Message templates as workflows use them: a step's template must exist for its channel."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.services.errors import FieldError


def template_errors(session: Session, key: str, *, channel: str, field: str) -> list[FieldError]:
    from crm_segments.automation.template_store import template_problem

    problem = template_problem(session, key, channel=channel)
    return [FieldError(field, problem)] if problem else []
