"""The local outbox page: what would have gone to SendGrid or Twilio when no keys are configured."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from crm_segments.messages.outbox import local_outbox
from crm_segments.state import get_state
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()


@routes.route("/outbox")
@role_required("admin", "sales")
def outbox() -> str:
    channel = request.args.get("channel") or None
    settings = get_state(current_app).settings
    messages = local_outbox(db_session(), channel=channel)
    return render_template("crm_segments/outbox.html", messages=messages, channel=channel,
                           # the server's file system is the admins' business
                           outbox_dir=settings.outbox_dir if current_user.role == "admin" else None,
                           messaging=settings.messaging)


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
