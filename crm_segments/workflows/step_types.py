"""The steps a workflow can run, as validated data (one pydantic model per step type).

Every step carries a ``key`` that stays with it for life: new steps get one when saved, and a
moved or edited step keeps its own. Branch targets name later steps by key, so a workflow can
never loop and each step runs at most once per enrollment.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from crm_segments.schemas._base import InputModel

STEP_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
NEXT, EXIT = "next", "exit"  # branch targets besides a step key
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MESSAGE_CATEGORIES = ("marketing", "transactional")  # transactional ones are exempt from frequency caps

StepKey = Annotated[str, Field(pattern=STEP_KEY.pattern, description="Stable key of the step")]
TemplateKey = Annotated[str, Field(min_length=1, max_length=120, description="An email_templates key")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class _Step(InputModel):
    key: StepKey | None = None  # given when the step is first saved
    label: str = Field(default="", max_length=120)


class SendEmail(_Step):
    type: Literal["send_email"]
    template: TemplateKey
    category: Literal["marketing", "transactional"] = "marketing"


class SendSms(_Step):
    type: Literal["send_sms"]
    template: TemplateKey
    category: Literal["marketing", "transactional"] = "marketing"


class Duration(InputModel):
    days: int = Field(default=0, ge=0, le=3650)
    hours: int = Field(default=0, ge=0, le=10000)
    minutes: int = Field(default=0, ge=0, le=100000)

    @model_validator(mode="after")
    def _not_zero(self) -> Duration:
        if self.days == self.hours == self.minutes == 0:
            raise ValueError("a wait of zero does nothing: give days, hours or minutes")
        return self


def _every_day() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Until(InputModel):
    """The next moment that is one of ``weekdays`` at ``time`` in the profile's own time zone."""

    weekdays: list[Weekday] = Field(default_factory=lambda: _every_day(), min_length=1)
    time: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, 24-hour clock")


class Wait(_Step):
    type: Literal["wait"]
    duration: Duration | None = None
    until: Until | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Wait:
        if (self.duration is None) == (self.until is None):
            raise ValueError("give either duration or until, not both and not neither")
        return self


class Branch(_Step):
    """Go on to ``if_true`` or ``if_false`` (a later step's key, "next" or "exit") by a rule."""

    type: Literal["branch"]
    rule: dict[str, Any]
    if_true: str = NEXT
    if_false: str = NEXT


class AddTag(_Step):
    type: Literal["add_tag"]
    tag: str = Field(min_length=1, max_length=64)


class RemoveTag(_Step):
    type: Literal["remove_tag"]
    tag: str = Field(min_length=1, max_length=64)


class NotifyOwner(_Step):
    """An email to the profile's owner (a user of the product), always transactional."""

    type: Literal["notify_owner"]
    template: TemplateKey


class Exit(_Step):
    type: Literal["exit"]
    reason: str = Field(default="", max_length=120)


Step = Annotated[
    SendEmail | SendSms | Wait | Branch | AddTag | RemoveTag | NotifyOwner | Exit,
    Field(discriminator="type"),
]
STEP_TYPES = ("send_email", "send_sms", "wait", "branch", "add_tag", "remove_tag", "notify_owner", "exit")
