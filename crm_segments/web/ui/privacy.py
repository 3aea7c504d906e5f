"""One person's data on the profile page, for admins: download everything about the profile as JSON
(right of access), and erase it after a page that shows what goes (right of erasure).

Admins only, like deleting a profile through the API: the export holds the person's messages and
texts, and an erasure cannot be undone.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from crm_segments.kernel.errors import NotFound
from crm_segments.models import Profile
from crm_segments.privacy.erasure import erase_profile, erasure_preview
from crm_segments.privacy.export import export_profile
from crm_segments.privacy.plan import PLAN
from crm_segments.state import get_state
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.forms import ConfirmForm
from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()

log = logging.getLogger(__name__)


@routes.route("/profiles/<int:profile_id>/export.json")
@role_required("admin")
def profile_export(profile_id: int) -> Response:
    try:
        document = export_profile(session=db_session(), profile_id=profile_id)
    except NotFound:
        abort(404)
    log.info("profile %s exported by user %s", profile_id, current_user.id)
    response = current_app.response_class(json.dumps(document, ensure_ascii=False, indent=2),
                                          mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="profile-{profile_id}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.route("/profiles/<int:profile_id>/erase", methods=["GET", "POST"])
@role_required("admin")
def profile_erase(profile_id: int) -> tuple[str, int] | Response:
    session = db_session()
    outbox_dir = get_state(current_app).settings.outbox_dir
    form = ConfirmForm()
    try:
        if form.validate_on_submit():
            erased = erase_profile(session=session, profile_id=profile_id, outbox_dir=outbox_dir,
                                   user_id=current_user.id, via="ui")
            flash(f"Profile #{profile_id} was erased: {sum(erased.rows.values()):,} rows and "
                  f"{erased.outbox_files:,} outbox files.", "success")
            return redirect(url_for("crm_ui.profiles"))
        preview = erasure_preview(session=session, profile_id=profile_id, outbox_dir=outbox_dir)
    except NotFound:
        abort(404)
    profile = session.get(Profile, profile_id)
    goes = [(PLAN[name].why, count, PLAN[name].erase) for name, count in preview.rows.items()]
    page = render_template("crm_segments/privacy/erase.html", profile=profile, goes=goes,
                           outbox_files=len(preview.outbox_files), form=form)
    return page, 400 if form.is_submitted() else 200  # a submit without a valid CSRF token


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    sections.add(ProfileSection(
        key="personal_data", title="Personal data", template="crm_segments/privacy/_profile_section.html",
        column="side", order=200, roles=("admin",),
    ))
