"""A workflow's message templates checked against what its trigger gives them.

Every message renders with the profile, its owner and the unsubscribe link. A trigger about a record
(a tag added to a quote, a date of a job, a segment trigger that attaches the profile's latest quote)
also gives that record, as ``record`` and under its type's name; no other trigger gives one. A template
that reads anything else would fail at every send ("'quote' is undefined"), so each template is
rendered against a sample of exactly that shape when the workflow is saved (editor, API, YAML import)
and when the template is saved (every workflow that sends it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError
from crm_segments.models import Workflow
from crm_segments.models.record_types import record_models
from crm_segments.templates.context import sample_context
from crm_segments.templates.rendering import validate_parts
from crm_segments.templates.template_store import TemplateSource

PART_FIELDS = {"subject": "subject", "html": "html_body", "text": "text_body", "sms": "text_body"}


def trigger_record(trigger_type: str, config: Mapping[str, Any]) -> str | None:
    """The record type a trigger attaches to its messages, or None when it gives the profile only."""
    if trigger_type == "date_field":
        return str(config["record"])
    if trigger_type == "tag_added":
        entity = str(config.get("entity") or "profile")
        return None if entity == "profile" else entity
    pick = config.get("record")
    return str(pick["type"]) if isinstance(pick, Mapping) and pick.get("type") else None


def trigger_gives(trigger_type: str, record: str | None) -> str:
    """What the trigger gives a template, in words: "a tag added to a profile gives the profile only"."""
    what = {"segment_entered": "a segment trigger", "date_field": f"a {record} date trigger",
            "tag_added": f"a tag added to a {record or 'profile'}"}.get(trigger_type, "this trigger")
    return f"{what} gives the profile and its {record}" if record else f"{what} gives the profile only"


def trigger_context(record: str | None) -> dict[str, Any]:
    """The sample context a message of such a trigger renders with."""
    sample = sample_context()
    records = {"record", *record_models()}
    context = {name: value for name, value in sample.items() if name not in records}
    if record is not None:
        context["record"] = context[record] = sample[record]
    return context


def fit_problems(source: TemplateSource, record: str | None) -> list[tuple[str, str]]:
    """(form field, problem) for each part of ``source`` that cannot render with what the trigger gives."""
    _, problems = validate_parts(source.parts(), trigger_context(record))
    return [(PART_FIELDS.get(kind, kind), f"{kind}: {problem.message}") for kind, problem in problems.items()]


def step_fit_errors(source: TemplateSource, *, trigger_type: str, config: Mapping[str, Any],
                    field: str) -> list[FieldError]:
    """A workflow step's template against the workflow's trigger (one error naming the step's field)."""
    record = trigger_record(trigger_type, config)
    problems = fit_problems(source, record)
    if not problems:
        return []
    gives = trigger_gives(trigger_type, record)
    return [FieldError(field, f"template {source.key!r} reads a value this trigger does not give ({gives}): "
                              f"{problems[0][1]}")]


def template_fit_errors(session: Session, source: TemplateSource) -> list[FieldError]:
    """An edited template against every workflow that sends it (archived ones send nothing)."""
    from crm_segments.segments.usages import template_users

    errors: list[FieldError] = []
    seen: set[int] = set()
    for use in template_users(session, source.key):
        workflow = session.get(Workflow, use.id)
        if workflow is None or workflow.status == "archived" or workflow.id in seen:
            continue
        seen.add(workflow.id)
        record = trigger_record(workflow.trigger_type, workflow.trigger_config or {})
        for field, problem in fit_problems(source, record):
            errors.append(FieldError(field, f"workflow {workflow.name!r} sends this template ({use.where}) "
                                            f"and {trigger_gives(workflow.trigger_type, record)}: {problem}"))
    return errors
