"""Message templates as workflows use them: a step's template must exist for its channel and render
with what the workflow's trigger gives it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError

from .definition import DateTrigger, SegmentTrigger, TagTrigger


def template_errors(session: Session, key: str, *, channel: str, field: str,
                    trigger: SegmentTrigger | TagTrigger | DateTrigger | None = None,
                    category: str | None = None) -> list[FieldError]:
    """``trigger``: the definition's trigger model; without it only existence and channel are checked.
    ``category``: the step's; a marketing step must send a marketing template (one that says how to
    opt out, checked when it is saved: opt_out.py), not a transactional one."""
    from crm_segments.delivery.opt_out import is_marketing
    from crm_segments.templates.template_store import get_template, template_problem

    from .template_fit import step_fit_errors

    problem = template_problem(session, key, channel=channel)
    if problem:
        return [FieldError(field, problem)]
    source = get_template(session, key)
    errors = []
    if category == "marketing" and source is not None and not is_marketing(source.content_type):
        errors.append(FieldError(field, f"template {key!r} is transactional, with no way to opt out: a "
                                        "marketing step sends a marketing template (or make the step "
                                        "transactional)"))
    if trigger is None or source is None:
        return errors
    return errors + step_fit_errors(source, trigger_type=trigger.type, config=trigger.model_dump(mode="json"),
                                    field=field)
