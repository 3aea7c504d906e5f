"""Deleting something in use: the ``on_use`` choice and the 409 answer that lists every user."""

from __future__ import annotations

from typing import Literal

from flask import Response, jsonify
from pydantic import BaseModel, Field

from crm_segments.schemas._base import InputModel
from crm_segments.segments.deletion import InUse


class OnUseParams(InputModel):
    on_use: Literal["refuse", "detach"] = Field(
        default="refuse",
        description="When workflows, segments or auto-tag rules use it: refuse (409 listing them, nothing "
                    "changes) or detach (pause the workflows that use it, each with the reason). A segment's "
                    "or auto-tag rule's condition that uses it always gets 409: change the rule first.")


class UseOut(BaseModel):
    kind: Literal["workflow", "segment", "auto_tag_rule"]
    id: int
    name: str
    where: str = Field(description="Where it is used, e.g. trigger, steps[2].tag, rule.all[0].tags.")
    status: str
    is_condition: bool = Field(description="A rule's condition: blocks the delete even with on_use=detach.")


def in_use_response(exc: InUse) -> tuple[Response, int]:
    """409 in the API's error shape, with ``used_by`` listing every user."""
    used_by = [UseOut(kind=u.kind, id=u.id, name=u.name, where=u.where, status=u.status,
                      is_condition=u.is_condition).model_dump() for u in exc.uses]
    hint = "change these rules first" if exc.conditions else "retry with on_use=detach to pause them"
    body = {"code": "in_use", "message": exc.message,
            "fields": [{"field": "on_use", "message": f"{len(exc.uses)} uses; {hint}"}], "used_by": used_by}
    return jsonify(error=body), 409
