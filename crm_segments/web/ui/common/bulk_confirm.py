"""The confirmation step of a bulk change over many rows: the exact count, then a second submit.

A bulk form over more than ``CONFIRM_ABOVE`` rows is answered with a page that names the exact number
and posts the same fields again with ``confirm_count``; nothing changes until that arrives. The
count is the confirmation: if the selection has grown or shrunk since, the person is asked again.
"""

from __future__ import annotations

from flask import render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import record_types
from crm_segments.selection.targets import Selection

CONFIRM_ABOVE = 100


def _plural(entity_type: str) -> str:
    kind = record_types.find(entity_type)
    return "profiles" if entity_type == "profile" or kind is None else kind.plural


def selection_size(session: Session, chosen: Selection) -> int:
    return int(session.scalar(select(func.count()).select_from(chosen.ids.subquery())) or 0)


def confirmation_page(count: int, *, entity_type: str, doing: str, back: str) -> str | None:
    """The page asking to confirm ``doing`` (e.g. "Add tags 'vip' to") ``count`` rows, or None when
    no confirmation is needed or the request carries it."""
    if count <= CONFIRM_ABOVE or request.form.get("confirm_count", "") == str(count):
        return None
    fields = [(key, value) for key, value in request.form.items(multi=True)
              if key not in ("csrf_token", "confirm_count")]
    return render_template("crm_segments/bulk/confirm.html", count=count, doing=doing, fields=fields,
                           noun=_plural(entity_type), action=request.path, back=back)
