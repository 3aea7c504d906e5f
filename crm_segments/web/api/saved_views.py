"""Saved views of the lists: each key's user reads their own views and the shared ones, and saves,
renames, changes and deletes their own; an admin's key may share a view and change shared ones."""

from __future__ import annotations

import builtins
import datetime as dt

from flask import Response, g, jsonify, request
from pydantic import BaseModel, Field

from crm_segments.models.saved_views import SavedView
from crm_segments.records import saved_views
from crm_segments.records.list_shapes import list_shape
from crm_segments.records.validation import validate
from crm_segments.schemas._base import InputModel, OutputModel
from crm_segments.schemas.saved_views import SavedViewIn, SavedViewPatch
from crm_segments.web.db import db_session

from .auth import is_admin
from .routes import Route, json_body

VIEWS = "saved views"


class SavedViewOut(OutputModel):
    id: int
    list: str = Field(validation_alias="list_key", description="The list: \"profiles\" or a record list.")
    name: str
    filters: dict[str, str]
    sort: str
    columns: builtins.list[str] = Field(description="The columns shown, by key; empty for all.")
    shared: bool
    owner_id: int
    changeable: bool = Field(description="The key's user may rename, change or delete it.")
    created_at: dt.datetime
    updated_at: dt.datetime


class SavedViewList(BaseModel):
    items: list[SavedViewOut]


class SavedViewListParams(InputModel):
    list: str = Field(description="The list whose views to return: \"profiles\" or a record list.")


def _viewer() -> saved_views.Viewer:
    return saved_views.Viewer(int(g.crm_api_user.id), is_admin())


def _out(view: SavedView) -> dict[str, object]:
    data = SavedViewOut.model_validate(
        {**{k: getattr(view, k) for k in ("id", "list_key", "name", "filters", "sort", "columns", "shared",
                                          "owner_id", "created_at", "updated_at")},
         "changeable": saved_views.may_change(_viewer(), view)})
    return data.model_dump(mode="json")


def list_views() -> Response:
    params = validate(SavedViewListParams, request.args.to_dict())
    shape = list_shape(params.list)
    return jsonify(items=[_out(v) for v in saved_views.visible_views(db_session(), _viewer(), shape.key)])


def create_view() -> tuple[Response, int]:
    view = saved_views.create_view(db_session(), _viewer(), validate(SavedViewIn, json_body()))
    return jsonify(_out(view)), 201


def get_view(id: int) -> Response:
    return jsonify(_out(saved_views.get_view(db_session(), _viewer(), id)))


def update_view(id: int) -> Response:
    changes = validate(SavedViewPatch, json_body()).model_dump(exclude_unset=True)
    return jsonify(_out(saved_views.update_view(db_session(), _viewer(), id, changes)))


def delete_view(id: int) -> tuple[str, int]:
    saved_views.delete_view(db_session(), _viewer(), id)
    return "", 204


def saved_view_routes() -> list[Route]:
    one = "/saved-views/<int:id>"
    return [
        Route("/saved-views", "GET", "saved_views_list", list_views,
              "List the key's user's views of a list and the views shared with everyone", VIEWS,
              query=(SavedViewListParams,), out=SavedViewList, errors=(401, 422)),
        Route("/saved-views", "POST", "saved_views_create", create_view,
              "Save a view of a list: its filters, sort and columns; sharing it needs an admin's key",
              VIEWS, body=SavedViewIn, ok=(201,), out=SavedViewOut, errors=(400, 401, 403, 409, 422)),
        Route(one, "GET", "saved_views_get", get_view, "Get a saved view", VIEWS, out=SavedViewOut,
              errors=(401, 404)),
        Route(one, "PATCH", "saved_views_update", update_view,
              "Rename or change a view (its owner; a shared view also an admin)", VIEWS,
              body=SavedViewPatch, out=SavedViewOut, errors=(400, 401, 403, 404, 409, 422)),
        Route(one, "DELETE", "saved_views_delete", delete_view,
              "Delete a view (its owner; a shared view also an admin)", VIEWS, ok=(204,),
              errors=(401, 403, 404)),
    ]
