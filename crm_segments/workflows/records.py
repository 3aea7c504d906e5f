"""The CRM records a workflow can be about (the quote a follow-up is for), by type name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, select

from crm_segments.models.record_types import record_type as registered


def record_model(record_type: str) -> Any:
    return registered(record_type).model


def status_column(record_type: str) -> Any:
    kind = registered(record_type)
    if kind.status is None:
        raise ValueError(f"{kind.plural} have no status")
    return kind.column(kind.status)


def latest_record(record_type: str, *, profile_id: Any, statuses: list[str]) -> Select[Any]:
    """The id of the profile's most recent record of this type (with one of ``statuses``)."""
    model = record_model(record_type)
    query = select(model.id).where(model.profile_id == profile_id)
    if statuses:
        query = query.where(status_column(record_type).in_(statuses))
    return query.order_by(model.created_at.desc(), model.id.desc()).limit(1)


def record_pick(config: dict[str, Any], *, profile_id: Any) -> tuple[str | None, ColumnElement[Any] | None]:
    """The (record type, record id expression) a profile-level trigger attaches, if it asks for one."""
    pick = config.get("record")
    if not isinstance(pick, dict):
        return None, None
    record_type = str(pick["type"])
    query = latest_record(record_type, profile_id=profile_id, statuses=list(pick.get("statuses") or []))
    return record_type, query.scalar_subquery()
