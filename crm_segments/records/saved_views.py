"""Saved views of the lists: each person's named filter, sort and columns, and the views an admin
shared with everyone. A view is changed or deleted by its owner, a shared one also by an admin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import Conflict, Forbidden, NotFound
from crm_segments.models.saved_views import SavedView
from crm_segments.schemas.saved_views import SavedViewIn

from .list_shapes import check_view, list_shape


@dataclass(frozen=True)
class Viewer:
    """Who reads or changes views."""

    user_id: int
    is_admin: bool


def visible_views(session: Session, viewer: Viewer, list_key: str) -> list[SavedView]:
    """The viewer's own views of the list and the shared ones, by name."""
    query = (select(SavedView)
             .where(SavedView.list_key == list_key,
                    or_(SavedView.owner_id == viewer.user_id, SavedView.shared.is_(True)))
             .order_by(SavedView.name, SavedView.id))
    return list(session.scalars(query))


def get_view(session: Session, viewer: Viewer, view_id: int) -> SavedView:
    view = session.get(SavedView, view_id)
    if view is None or not (view.owner_id == viewer.user_id or view.shared):
        raise NotFound(f"no saved view {view_id}")
    return view


def may_change(viewer: Viewer, view: SavedView) -> bool:
    return view.owner_id == viewer.user_id or (view.shared and viewer.is_admin)


def create_view(session: Session, viewer: Viewer, data: SavedViewIn) -> SavedView:
    shape = list_shape(data.list)
    filters = {k: v for k, v in data.filters.items() if v}
    check_view(shape, filters=filters, sort=data.sort, columns=data.columns)
    if data.shared and not viewer.is_admin:
        raise Forbidden("only an admin can share a view with everyone")
    _check_name_free(session, viewer.user_id, shape.key, data.name, None)
    view = SavedView(owner_id=viewer.user_id, list_key=shape.key, name=data.name, filters=filters,
                     sort=data.sort, columns=list(data.columns), shared=data.shared)
    session.add(view)
    session.flush()
    return view


def update_view(session: Session, viewer: Viewer, view_id: int, changes: dict[str, Any]) -> SavedView:
    """``changes``: the fields of a SavedViewPatch that were given (a null one changes nothing)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    view = get_view(session, viewer, view_id)
    if not may_change(viewer, view):
        raise Forbidden("only its owner, or an admin for a shared view, can change a view")
    if changes.get("shared") and not viewer.is_admin:
        raise Forbidden("only an admin can share a view with everyone")
    filters = {k: v for k, v in changes.get("filters", view.filters).items() if v}
    sort, columns = changes.get("sort", view.sort), list(changes.get("columns", view.columns))
    check_view(list_shape(view.list_key), filters=filters, sort=sort, columns=columns)
    if "name" in changes:
        _check_name_free(session, view.owner_id, view.list_key, changes["name"], view.id)
        view.name = changes["name"]
    view.filters, view.sort, view.columns = filters, sort, columns
    if "shared" in changes:
        view.shared = bool(changes["shared"])
    session.flush()
    return view


def delete_view(session: Session, viewer: Viewer, view_id: int) -> None:
    view = get_view(session, viewer, view_id)
    if not may_change(viewer, view):
        raise Forbidden("only its owner, or an admin for a shared view, can delete a view")
    session.delete(view)
    session.flush()


def _check_name_free(session: Session, owner_id: int, list_key: str, name: str, own_id: int | None) -> None:
    clash = session.scalar(select(SavedView.id).where(
        SavedView.owner_id == owner_id, SavedView.list_key == list_key, SavedView.name == name))
    if clash is not None and clash != own_id:
        raise Conflict("name", f"there is already a view called {name!r} of this list")
