"""A workflow as validated data: the shape of the YAML files, the editor's form and the JSON API.

``parse_definition`` checks the shape and the cross-field rules (unique step keys, branch targets
that exist and come later, re-entry days). References to segments, tags and templates are checked
against the database by ``references.resolve``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, ValidationError, model_validator

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import record_types
from crm_segments.records.validation import field_errors
from crm_segments.schemas._base import InputModel

from .step_types import EXIT, NEXT, Branch, Step


def date_fields() -> dict[str, tuple[str, ...]]:
    """The dates a date trigger can watch, per record type."""
    return {t.name: t.trigger_dates for t in record_types.record_types()}


def _one_of(allowed: tuple[str, ...], value: str) -> str:
    if value not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}")
    return value


def _enum(allowed: Any) -> Any:
    # Read when the JSON schema is built, so it lists the types registered by then.
    return lambda schema: schema.update(enum=list(allowed()))


# A registered record type's name, and an entity that carries tags (read from the registry).
RecordTypeName = Annotated[
    str,
    AfterValidator(lambda v: _one_of(tuple(t.name for t in record_types.record_types()), v)),
    Field(json_schema_extra=_enum(lambda: [t.name for t in record_types.record_types()])),
]
TagEntity = Annotated[
    str,
    AfterValidator(lambda v: _one_of(record_types.tag_entity_types(), v)),
    Field(json_schema_extra=_enum(record_types.tag_entity_types)),
]


class RecordPick(InputModel):
    """Attach the profile's most recent record of this type (optionally with one of these statuses)."""

    type: RecordTypeName
    statuses: list[str] = Field(default_factory=list)


class SegmentTrigger(InputModel):
    type: Literal["segment_entered"]
    segment: str = Field(min_length=1, max_length=120, description="The segment's key or name")
    record: RecordPick | None = None


class TagTrigger(InputModel):
    type: Literal["tag_added"]
    tag: str = Field(min_length=1, max_length=64)
    entity: TagEntity = "profile"


class DateTrigger(InputModel):
    """Enroll when ``field`` of a record plus ``offset_days`` is reached (-3: three days before)."""

    type: Literal["date_field"]
    record: RecordTypeName
    field: str
    offset_days: int = Field(default=0, ge=-365, le=365)
    statuses: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_field(self) -> DateTrigger:
        allowed = date_fields()[self.record]
        if self.field not in allowed:
            raise ValueError(f"field must be one of {', '.join(allowed)} for a {self.record}")
        return self


Trigger = Annotated[SegmentTrigger | TagTrigger | DateTrigger, Field(discriminator="type")]


class RecordSince(InputModel):
    """A record of this type (with this status) dated after the profile enrolled."""

    record: RecordTypeName
    field: str = "created_at"
    status: str | None = None
    same_record: bool = False  # only the record that triggered the enrollment

    @model_validator(mode="after")
    def _known_field(self) -> RecordSince:
        allowed = ("created_at", "updated_at", *date_fields()[self.record])
        if self.field not in allowed:
            raise ValueError(f"field must be one of {', '.join(allowed)} for a {self.record}")
        return self


class Goal(InputModel):
    """Met when the rule matches the profile, or any of the records appears after enrollment."""

    rule: dict[str, Any] | None = None
    since_enrollment: list[RecordSince] = Field(default_factory=list)
    conversion_window_days: int = Field(default=7, ge=1, le=365)

    @model_validator(mode="after")
    def _something(self) -> Goal:
        if self.rule is None and not self.since_enrollment:
            raise ValueError("a goal needs a rule or since_enrollment records")
        return self


class Reentry(InputModel):
    policy: Literal["once", "once_per_days", "every_time"] = "once"
    days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _days(self) -> Reentry:
        if self.policy == "once_per_days" and self.days is None:
            raise ValueError("days is required for the once_per_days policy")
        if self.policy != "once_per_days":
            self.days = None
        return self


class Schedule(InputModel):
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _order(self) -> Schedule:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class WorkflowDefinition(InputModel):
    key: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,79}$")
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    trigger: Trigger
    steps: list[Step] = Field(min_length=1, max_length=100)
    goal: Goal | None = None
    exit_on_segment_exit: bool = False
    reentry: Reentry = Field(default_factory=Reentry)
    enroll_existing: bool = False
    schedule: Schedule = Field(default_factory=Schedule)


def parse_definition(data: Any, *, prefix: str = "") -> WorkflowDefinition:
    """Validate ``data`` or raise ValidationFailed naming every offending field (``steps[2].template``)."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError(prefix.rstrip(".") or "workflow", "must be a mapping")])
    try:
        definition = WorkflowDefinition.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_tidy(field_errors(exc, prefix=prefix))) from None
    errors = step_errors(definition, prefix=prefix)
    if definition.exit_on_segment_exit and definition.trigger.type != "segment_entered":
        errors.append(FieldError(f"{prefix}exit_on_segment_exit", "needs a segment_entered trigger"))
    if errors:
        raise ValidationFailed(errors)
    return definition


def step_errors(definition: WorkflowDefinition, *, prefix: str = "") -> list[FieldError]:
    """Duplicate keys, and branch targets that are unknown or not later than the branch."""
    errors: list[FieldError] = []
    position: dict[str, int] = {}
    for index, step in enumerate(definition.steps):
        if step.key is None:
            continue
        if step.key in position:
            errors.append(FieldError(f"{prefix}steps[{index}].key", f"{step.key!r} is used twice"))
        position.setdefault(step.key, index)
    for index, step in enumerate(definition.steps):
        if not isinstance(step, Branch):
            continue
        for name in ("if_true", "if_false"):
            target = getattr(step, name)
            if target in (NEXT, EXIT):
                continue
            where = f"{prefix}steps[{index}].{name}"
            if target not in position:
                errors.append(FieldError(where, f"no step has the key {target!r} (or use next / exit)"))
            elif position[target] <= index:
                errors.append(FieldError(where, f"step {target!r} must come after the branch"))
    return errors


def _tidy(errors: list[FieldError]) -> list[FieldError]:
    # pydantic names the union member in the path ("steps[0].send_email.template"); drop it.
    members = {"send_email", "send_sms", "wait", "branch", "add_tag", "remove_tag", "notify_owner",
               "exit", "segment_entered", "tag_added", "date_field"}
    for error in errors:
        parts = error.field.split(".")
        error.field = ".".join(p for i, p in enumerate(parts) if not (i > 0 and p in members))
        error.message = error.message.removeprefix("Value error, ")
    return errors
