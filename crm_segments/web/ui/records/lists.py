"""Record pages: the filtered, keyset-paginated lists of quotes, jobs and opportunities (with the bulk
tag bar), and one page per record with its lines, links, tags and tag history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from crm_segments.kernel.errors import NotFound, ValidationFailed
from crm_segments.records import details as record_details
from crm_segments.records import queries as record_queries
from crm_segments.records.queries import KINDS_BY_PATH, RecordKind
from crm_segments.tagging import audit
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.paging import cursor_arg
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.common.sorting import sort_headers
from crm_segments.web.ui.saved_views import list_view

routes = PageRoutes()

# The registry decides at request time which path segments are record types (web/record_paths.py).
KIND_PATHS = "<record_kind:kind>"


def _listed(kind: str) -> RecordKind:
    record_kind = KINDS_BY_PATH.get(kind)
    if record_kind is None:
        abort(404)
    return record_kind
HISTORY_SHOWN = 50


def list_filters(kind: RecordKind) -> dict[str, str]:
    return {key: request.args.get(key, "").strip() for key in kind.filter_keys}


def validated(kind: RecordKind, filters: dict[str, str]) -> record_queries.RecordFilter:
    """The list's filter model, the one the API's list of the kind reads its query with."""
    return record_queries.parse_record_filter(kind, filters)


@routes.route("/records")
@role_required("admin", "sales")
def records() -> Response:
    return redirect(url_for("crm_ui.record_list", kind="quotes"))


@routes.route(f"/{KIND_PATHS}")
@role_required("admin", "sales")
def record_list(kind: str) -> tuple[str, int]:
    session = db_session()
    record_kind = _listed(kind)
    filters = list_filters(record_kind)
    given: dict[str, Any] = {k: v for k, v in filters.items() if v}

    sort = request.args.get("sort", "").strip()
    view = list_view(record_kind.path, filters, sort)

    def page_url(**cursor: int) -> str:
        return url_for("crm_ui.record_list", kind=kind, **(view.state | cursor))

    context: dict[str, Any] = {
        "kind": record_kind, "kinds": KINDS_BY_PATH.values(), "filters": filters, "filtered": bool(given),
        "tag_names": record_queries.tag_names(session=session, entity_type=record_kind.entity_type),
        "errors": [], "bad_fields": set(), "page": None, "list_view": view, "shown": view.shown,
        "sort_headers": sort_headers("crm_ui.record_list", record_kind.sort_keys.columns, sort,
                                     {**given, "columns": list(view.asked)}, kind=kind),
        "bulk": {"entity_type": record_kind.entity_type, "table": "records-table",
                 "filter_keys": record_kind.filter_keys, "plural": record_kind.title.lower()},
    }
    try:
        record_filter = validated(record_kind, filters)
        page = record_queries.list_records(
            session=session, record_filter=record_filter, sort=sort,
            after=cursor_arg("after", noun="record"), before=cursor_arg("before", noun="record"),
            limit=int(current_app.config["CRM_SEGMENTS_PAGE_SIZE"]),
        )
    except ValidationFailed as exc:
        context.update(errors=exc.errors, bad_fields={e.field for e in exc.errors})
        return render_template("crm_segments/records/list.html", **context), 400
    context.update(
        page=page,
        total=record_queries.count_records(session=session, record_filter=record_filter),
        next_url=page_url(after=page.next_after) if page.next_after is not None else None,
        prev_url=page_url(before=page.prev_before) if page.prev_before is not None else None,
    )
    return render_template("crm_segments/records/list.html", **context), 200


@routes.route(f"/{KIND_PATHS}/<int:record_id>")
@role_required("admin", "sales")
def record_page(kind: str, record_id: int) -> str:
    session = db_session()
    record_kind = _listed(kind)
    try:
        detail = record_details.record_detail(session=session, entity_type=record_kind.entity_type,
                                              record_id=record_id)
    except NotFound:
        abort(404)
    history = audit.tag_history(session=session, profile_id=detail.profile.id, limit=HISTORY_SHOWN,
                                entity=(record_kind.entity_type, record_id))
    return render_template("crm_segments/records/page.html", kind=record_kind, detail=detail,
                           record=detail.record, profile=detail.profile, history=history)


@routes.app_template_global("crm_record_url")
def record_url(entity_type: str, record_id: int) -> str:
    """The page of a quote, job or opportunity (for links from other pages)."""
    return url_for("crm_ui.record_page", kind=record_queries.KINDS[entity_type].path, record_id=record_id)


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
