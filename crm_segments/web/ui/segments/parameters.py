"""A built-in segment's parameters as typed form fields (numbers, amounts, pickers fed from the data)
instead of a JSON box; the same values drive the editor's preview and the save."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Profile, Segment
from crm_segments.models.catalog import Category
from crm_segments.segments.prebuilt import BY_KEY, Builtin, checked_parameters

PREFIX = "param-"
_LABELS = {"days": "Days", "regions": "Regions", "categories": "Categories", "low": "From amount",
           "high": "To amount"}


@dataclass(frozen=True)
class ParameterField:
    name: str
    label: str
    kind: str  # "number", "amount" or "choices"
    value: Any
    choices: tuple[str, ...] = ()
    top: int = 3650

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def builtin_of(segment: Segment | None) -> Builtin | None:
    """The built-in whose parameters still shape ``segment``'s rule (None once the rule was hand-written)."""
    if segment is None or segment.parameters is None:
        return None
    return BY_KEY.get(segment.key or "")


def parameter_fields(session: Session, segment: Segment | None) -> list[ParameterField]:
    builtin = builtin_of(segment)
    if builtin is None or segment is None:
        return []
    values = {**builtin.defaults, **(segment.parameters or {})}
    fields = []
    for name, default in builtin.defaults.items():
        label = _LABELS.get(name, name.replace("_", " ").capitalize())
        if isinstance(default, list):
            fields.append(ParameterField(name, label, "choices", values[name],
                                         _choices(session, name, values[name])))
        elif isinstance(default, int):
            top = 5 if name in ("high", "low") else 3650
            label = f"{'Highest' if name == 'high' else 'Lowest'} score" if top == 5 else label
            fields.append(ParameterField(name, label, "number", values[name], top=top))
        else:
            fields.append(ParameterField(name, label, "amount", values[name]))
    return fields


def _choices(session: Session, name: str, chosen: list[str]) -> tuple[str, ...]:
    """The values the data holds, plus any chosen one the data no longer has."""
    if name == "regions":
        found = session.scalars(select(Profile.region).where(Profile.region.is_not(None))
                                .distinct().order_by(Profile.region))
    else:
        found = session.scalars(select(Category.name).order_by(Category.name))
    known = [v for v in found if v]
    return tuple(sorted({*known, *chosen}))


def parameters_from_form(form: MultiDict[str, str], segment: Segment | None) -> dict[str, Any] | None:
    """The typed fields read back into a parameters document; None when the page had none."""
    builtin = builtin_of(segment)
    if builtin is None or not any(key.startswith(PREFIX) for key in form):
        return None
    return read_parameters(builtin, {name: (form.getlist(PREFIX + name) if isinstance(default, list)
                                            else form.get(PREFIX + name, ""))
                                     for name, default in builtin.defaults.items()})


def read_parameters(builtin: Builtin, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Form text (or the preview's JSON) as typed values; the built-in's checks name what is wrong."""
    params: dict[str, Any] = {}
    for name, default in builtin.defaults.items():
        value = raw.get(name, default)
        if isinstance(default, int) and isinstance(value, str):
            text = value.strip()
            if not text.isdigit():
                raise ValidationFailed([FieldError(f"parameters.{name}", "must be a whole number")])
            value = int(text)
        params[name] = value
    return checked_parameters(builtin, params)
