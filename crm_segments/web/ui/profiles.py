"""Profile pages: the searchable, keyset-paginated list and one profile with its records."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user

from crm_segments.kernel.errors import NotFound, ValidationFailed
from crm_segments.kernel.list_filters import NO_OWNER
from crm_segments.models.profiles import LIFECYCLE_STATUSES
from crm_segments.profiles import details as profile_details
from crm_segments.profiles import queries as profile_queries
from crm_segments.records.list_shapes import PROFILES
from crm_segments.records.profiles import parse_profile_filter
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.paging import cursor_arg
from crm_segments.web.ui.common.profile_sections import ProfileSections, profile_sections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.common.sorting import sort_headers
from crm_segments.web.ui.saved_views import ListView, list_view

routes = PageRoutes()

FILTER_ARGS = profile_queries.FILTER_KEYS


def _page_url(view: ListView, **cursor: int) -> str:
    return url_for("crm_ui.profiles", **(view.state | cursor))


@routes.route("/profiles")
@role_required("admin", "sales")
def profiles() -> tuple[str, int]:
    session = db_session()
    filters = {k: request.args.get(k, "").strip() for k in FILTER_ARGS}
    sort = request.args.get("sort", "").strip()
    view = list_view(PROFILES, filters, sort)
    context: dict[str, Any] = {
        "sort": sort,
        "list_view": view,
        "shown": view.shown,
        "sort_headers": sort_headers("crm_ui.profiles", profile_queries.SORT_KEYS.columns, sort,
                                     {**filters, "columns": list(view.asked)}),
        "filters": filters,
        "regions": profile_queries.distinct_regions(session=session),
        "tag_names": profile_queries.tag_names(session=session),
        "segment_choices": profile_queries.segment_choices(session=session),
        "owner_choices": (owners := profile_queries.owner_choices(session=session)),
        "owner_names": dict(owners),
        "no_owner": NO_OWNER,
        "mine": filters["owner"] == str(current_user.id),
        "lifecycles": LIFECYCLE_STATUSES,
        "errors": [],
        "page": None,
        "tags": {},
    }
    try:
        profile_filter = parse_profile_filter(filters)  # the API's filter model for /profiles
        page = profile_queries.list_profiles(
            session=session, profile_filter=profile_filter, sort=sort,
            after=cursor_arg("after", noun="profile"), before=cursor_arg("before", noun="profile"),
            limit=int(current_app.config["CRM_SEGMENTS_PAGE_SIZE"]),
        )
    except ValidationFailed as exc:
        context["errors"] = exc.errors
        return render_template("crm_segments/profiles/list.html", **context), 400
    context.update(
        page=page,
        total=profile_queries.count_profiles(session=session, profile_filter=profile_filter),
        tags=profile_details.tags_by_profile(session=session, profile_ids=[p.id for p in page.rows]),
        next_url=_page_url(view, after=page.next_after) if page.next_after is not None else None,
        prev_url=_page_url(view, before=page.prev_before) if page.prev_before is not None else None,
        filtered=any(filters.values()),
    )
    return render_template("crm_segments/profiles/list.html", **context), 200


@routes.route("/profiles/<int:profile_id>")
@role_required("admin", "sales")
def profile(profile_id: int) -> str:
    session = db_session()
    try:
        overview = profile_details.profile_overview(session=session, profile_id=profile_id)
    except NotFound:
        abort(404)
    return render_template(
        "crm_segments/profile/page.html",
        overview=overview,
        profile=overview.profile,
        extra_sections=profile_sections(current_app).for_profile(session=session, profile=overview.profile),
    )


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
