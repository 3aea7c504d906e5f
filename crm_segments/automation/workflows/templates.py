"""Message templates as workflows use them: a step's template must exist for its channel and render
with what the workflow's trigger gives it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.services.errors import FieldError

from .definition import DateTrigger, SegmentTrigger, TagTrigger


def template_errors(session: Session, key: str, *, channel: str, field: str,
                    trigger: SegmentTrigger | TagTrigger | DateTrigger | None = None) -> list[FieldError]:
    """``trigger``: the definition's trigger model; without it only existence and channel are checked."""
    from crm_segments.automation.template_store import get_template, template_problem

    from .template_fit import step_fit_errors

    problem = template_problem(session, key, channel=channel)
    if problem:
        return [FieldError(field, problem)]
    source = get_template(session, key)
    if trigger is None or source is None:
        return []
    return step_fit_errors(source, trigger_type=trigger.type, config=trigger.model_dump(mode="json"),
                           field=field)
