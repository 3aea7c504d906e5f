"""The profile's activity timeline: its newest entries on the profile page, and every entry, page by
page, on the profile's activity page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Profile
from crm_segments.profiles import timeline
from crm_segments.records.queries import KINDS
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()

SHOWN_ON_PROFILE = 10


@routes.app_template_global("crm_activity_link")
def activity_link(entry: timeline.Entry) -> str | None:
    """The page an activity entry names (a record or a message), if it has one."""
    if entry.link is None:
        return None
    kind, target = entry.link
    if kind == "message":
        return url_for("crm_ui.message", message_id=target)
    record_kind = KINDS.get(kind)  # a record type with its own page
    if record_kind is not None:
        return url_for("crm_ui.record_page", kind=record_kind.path, record_id=target)
    return None


@routes.route("/profiles/<int:profile_id>/activity")
@role_required("admin", "sales")
def profile_activity(profile_id: int) -> tuple[str, int]:
    session = db_session()
    profile = session.get(Profile, profile_id)
    if profile is None:
        abort(404)
    try:
        page = timeline.profile_timeline(session, profile_id=profile_id,
                                         before=request.args.get("before", "").strip() or None)
    except ValidationFailed as exc:
        return render_template("crm_segments/profile/activity.html", profile=profile, page=None,
                               errors=exc.errors), 400
    return render_template("crm_segments/profile/activity.html", profile=profile, page=page, errors=[]), 200


def _latest(session: Session, profile: Profile) -> dict[str, Any]:
    return {"page": timeline.profile_timeline(session, profile_id=profile.id, limit=SHOWN_ON_PROFILE)}


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    sections.add(ProfileSection(
        key="activity", title="Activity", template="crm_segments/profile/_activity_section.html",
        context=_latest, column="main", order=5,
    ))
