"""The lists' column picker and saved views: what a list page shows beside its table, and saving,
renaming and deleting a view from it (the same service as the API's /saved-views)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from crm_segments.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm_segments.models.saved_views import SavedView
from crm_segments.records import saved_views
from crm_segments.records.list_shapes import PROFILES, ListShape, list_shape
from crm_segments.records.validation import validate
from crm_segments.schemas.saved_views import SavedViewIn, SavedViewPatch
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()


@dataclass(frozen=True)
class ListView:
    """A list page's state as a view: its filters, sort and columns, and the saved views beside it."""

    shape: ListShape
    filters: dict[str, str]          # the filters given (blank ones left out)
    sort: str
    asked: tuple[str, ...]           # the columns asked for in the query string (none: all)
    shown: tuple[str, ...]           # the columns the table shows
    views: list[SavedView] = field(default_factory=list)
    current: SavedView | None = None  # the saved view this state is, if any

    @property
    def state(self) -> dict[str, Any]:
        """The query-string arguments of this state (paging left out)."""
        return {**self.filters, **({"sort": self.sort} if self.sort else {}),
                **({"columns": list(self.asked)} if self.asked else {})}

    def can_change(self, view: SavedView) -> bool:
        return saved_views.may_change(_viewer(), view)

    def url(self, view: SavedView) -> str:
        return list_url(view.list_key, view.filters, view.sort, view.columns)


def _viewer() -> saved_views.Viewer:
    return saved_views.Viewer(int(current_user.id), bool(current_user.is_admin))


def list_url(list_key: str, filters: dict[str, str], sort: str, columns: list[str] | tuple[str, ...]) -> str:
    args: dict[str, Any] = {**filters, **({"sort": sort} if sort else {}),
                            **({"columns": list(columns)} if columns else {})}
    if list_key == PROFILES:
        return url_for("crm_ui.profiles", **args)
    return url_for("crm_ui.record_list", kind=list_key, **args)


def list_view(list_key: str, filters: dict[str, str], sort: str) -> ListView:
    """The page's view state from its query string: the columns asked for (unknown ones ignored), the
    person's and the shared views, and which of them this state is."""
    shape = list_shape(list_key)
    asked = tuple(key for key in request.args.getlist("columns") if key in shape.column_keys)
    shown = shape.shown(asked)
    given = {k: v for k, v in filters.items() if v}
    views = saved_views.visible_views(db_session(), _viewer(), shape.key)
    current = next((v for v in views if v.filters == given and v.sort == sort
                    and shape.shown(v.columns) == shown), None)
    return ListView(shape, given, sort, asked if shown != shape.column_keys else (), shown, views, current)


def _refused(exc: ValidationFailed | Conflict | Forbidden | NotFound) -> tuple[str, int]:
    status, message = ((422, str(exc)) if isinstance(exc, ValidationFailed) else
                       (409, str(exc)) if isinstance(exc, Conflict) else
                       (403, str(exc)) if isinstance(exc, Forbidden) else (404, str(exc)))
    return render_template("crm_segments/error.html", code=status, heading="The view was not saved",
                           message=message), status


@routes.route("/saved-views", methods=["POST"])
@role_required("admin", "sales")
def saved_view_create() -> Response | tuple[str, int]:
    form = request.form
    list_key = form.get("list", "")
    data = {"list": list_key, "name": form.get("name", ""), "sort": form.get("sort", ""),
            "columns": form.getlist("columns"), "shared": form.get("shared") == "on",
            "filters": {k.removeprefix("filter."): v for k, v in form.items() if k.startswith("filter.")}}
    try:
        view = saved_views.create_view(db_session(), _viewer(), validate(SavedViewIn, data))
    except (ValidationFailed, Conflict, Forbidden) as exc:
        return _refused(exc)
    flash(f"Saved the view {view.name}.", "success")
    return redirect(list_url(view.list_key, view.filters, view.sort, view.columns), code=303)


@routes.route("/saved-views/<int:view_id>/rename", methods=["POST"])
@role_required("admin", "sales")
def saved_view_rename(view_id: int) -> Response | tuple[str, int]:
    try:
        patch = validate(SavedViewPatch, {"name": request.form.get("name", "")})
        view = saved_views.update_view(db_session(), _viewer(), view_id, patch.model_dump(exclude_unset=True))
    except (ValidationFailed, Conflict, Forbidden, NotFound) as exc:
        return _refused(exc)
    flash(f"Renamed the view to {view.name}.", "success")
    return redirect(list_url(view.list_key, view.filters, view.sort, view.columns), code=303)


@routes.route("/saved-views/<int:view_id>/delete", methods=["POST"])
@role_required("admin", "sales")
def saved_view_delete(view_id: int) -> Response | tuple[str, int]:
    session = db_session()
    try:
        view = saved_views.get_view(session, _viewer(), view_id)
        name, list_key = view.name, view.list_key
        saved_views.delete_view(session, _viewer(), view_id)
    except (Forbidden, NotFound) as exc:
        return _refused(exc)
    flash(f"Deleted the view {name}.", "success")
    return redirect(list_url(list_key, {}, "", ()), code=303)


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
