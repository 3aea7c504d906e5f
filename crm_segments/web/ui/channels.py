"""Paused channels on every page: the banner's data, and resuming a channel (admins).

A channel pauses when its provider refuses the product's credentials (messages/channel_pauses.py).
The layout asks for the paused channels only for admins, and only then queries the database.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from crm_segments.db import utcnow
from crm_segments.kernel.errors import NotFound
from crm_segments.messages.channel_pauses import ChannelState, channel_state, paused_states, resume_channel
from crm_segments.web.auth import role_required, safe_next
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()


@routes.app_template_global("crm_paused_channels")
def paused_channels() -> list[ChannelState]:
    """The paused channels, for the banner; none when the database cannot answer (an error page)."""
    try:
        return paused_states(db_session())
    except SQLAlchemyError:
        return []


@routes.route("/channels/<channel>/resume", methods=["POST"])
@role_required("admin")
def channel_resume(channel: str) -> Response:
    session = db_session()
    try:
        resumed = resume_channel(session, channel, user_id=current_user.id, now=utcnow())
    except NotFound as exc:
        flash(str(exc), "error")
        return redirect(safe_next(request.form.get("next")), code=303)
    state = channel_state(session, channel)
    if resumed:
        flash(f"{state.label} sending resumed: the {state.queued} queued message"
              f"{'s go' if state.queued != 1 else ' goes'} out with the next dispatch.", "success")
    else:
        flash(f"{state.label} sending was not paused.", "info")
    return redirect(safe_next(request.form.get("next")), code=303)


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
