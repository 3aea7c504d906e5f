"""The RFM grid, the customers of one cell (saved as a static list by an admin), and each customer's
R/F/M scores on the profile page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from crm_segments.dashboard import rfm_grid as rfm
from crm_segments.db import utcnow
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Profile, RfmScore
from crm_segments.records.validation import validate
from crm_segments.schemas.segments import SegmentIn
from crm_segments.segments import service, static_lists
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.paging import cursor_arg
from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()

PAGE_SIZE = 50


def _mine() -> bool:
    return request.args.get("mine", request.form.get("mine", "")) == "1"


def _owner() -> int | None:
    return current_user.id if _mine() else None


@routes.route("/rfm")
@role_required("admin", "sales")
def rfm_grid() -> str:
    grid = rfm.rfm_grid(db_session(), owner_id=_owner())
    return render_template("crm_segments/dashboard/rfm.html", grid=grid, scores=rfm.SCORES, mine=_mine())


def _check_cell(recency: int, frequency: int) -> None:
    if recency not in rfm.SCORES or frequency not in rfm.SCORES:
        abort(404)  # scores run from 1 to 5: there is no such cell


@routes.route("/rfm/<int:recency>/<int:frequency>")
@role_required("admin", "sales")
def rfm_cell(recency: int, frequency: int) -> tuple[str, int]:
    _check_cell(recency, frequency)
    return _cell(recency, frequency)


def _cell(recency: int, frequency: int, *, save_errors: list[Any] | None = None, name: str = "",
          status: int = 200) -> tuple[str, int]:
    session = db_session()
    errors: list[Any] = []
    try:
        page = rfm.cell_page(session, recency, frequency, owner_id=_owner(),
                             after=cursor_arg("after", noun="profile"),
                             before=cursor_arg("before", noun="profile"), limit=PAGE_SIZE)
    except ValidationFailed as exc:
        errors, page, status = exc.errors, None, 400
    cell = rfm.rfm_grid(session, owner_id=_owner()).cell(recency, frequency)
    keep: dict[str, Any] = {"recency": recency, "frequency": frequency, "mine": "1" if _mine() else None}
    return render_template(
        "crm_segments/dashboard/rfm_cell.html", recency=recency, frequency=frequency, cell=cell, page=page,
        errors=errors, save_errors=save_errors or [], name=name, mine=_mine(),
        scores=rfm.scores_of(session, [p.id for p in page.rows]) if page else {},
        next_url=url_for("crm_ui.rfm_cell", **keep, after=page.next_after)
        if page and page.next_after is not None else None,
        prev_url=url_for("crm_ui.rfm_cell", **keep, before=page.prev_before)
        if page and page.prev_before is not None else None,
    ), status


@routes.route("/rfm/<int:recency>/<int:frequency>/save", methods=["POST"])
@role_required("admin")
def rfm_cell_save(recency: int, frequency: int) -> Response | tuple[str, int]:
    _check_cell(recency, frequency)
    session = db_session()
    name = (request.form.get("name") or "").strip()
    description = f"Customers with recency score {recency} and frequency score {frequency}"
    try:
        chosen = validate(SegmentIn, {"name": name, "kind": "static", "description": description})
        segment = service.create_segment(session, data=chosen, actor_id=current_user.id)
        diff = static_lists.change_members(
            session, segment, rfm.cell_profile_ids(recency, frequency, owner_id=_owner()), action="add",
            now=utcnow(), source="bulk", actor_id=current_user.id)
    except ValidationFailed as exc:  # the 400 rolls back the request's unit of work: nothing is saved
        return _cell(recency, frequency, save_errors=exc.errors, name=name, status=400)
    flash(f"Saved {diff.entered:,} {'profile' if diff.entered == 1 else 'profiles'} as the static list "
          f"“{segment.name}”.", "success")
    return redirect(url_for("crm_ui.segment", segment_id=segment.id), code=303)


def _profile_scores(session: Session, profile: Profile) -> dict[str, Any]:
    return {"score": session.get(RfmScore, profile.id)}


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    sections.add(ProfileSection(
        key="rfm", title="RFM scores", template="crm_segments/dashboard/_profile_rfm.html",
        context=_profile_scores, column="side", order=10,
    ))
