"""Consent on the profile page: the consent history section, and a form to record consent given or
withdrawn (by phone, on paper, in person). Anyone may withdraw; only an admin may record consent,
and says how it was given."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import ConsentChange, Profile
from crm_segments.profiles import consent
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()

HISTORY_SHOWN = 50
CHANNEL_NAMES = {"email": "Email", "sms": "SMS"}


@routes.route("/profiles/<int:profile_id>/consent", methods=["POST"])
@role_required("admin", "sales")
def profile_consent(profile_id: int) -> Response:
    session = db_session()
    if session.get(Profile, profile_id) is None:
        abort(404)
    granted = request.form.get("granted") == "1"
    if granted and current_user.role != "admin":
        abort(403)
    channel = request.form.get("channel", "")
    back = redirect(url_for("crm_ui.profile", profile_id=profile_id, _anchor="consent"))
    try:
        change = consent.change_from_form(session, profile_id=profile_id, channel=channel, granted=granted,
                                          actor=consent.Actor(current_user.email, current_user.id),
                                          note=request.form.get("note", ""))
    except ValidationFailed as exc:
        session.rollback()
        flash("Nothing was changed: " + "; ".join(e.message for e in exc.errors), "error")
        return back
    name = CHANNEL_NAMES.get(channel, channel)
    if change is None:
        flash(f"{name} consent was already {'given' if granted else 'withdrawn'}; nothing changed.", "info")
    else:
        flash(f"{name} consent {'recorded' if granted else 'withdrawn'}.", "info")
    return back


@routes.app_template_filter("crm_consent_change")
def change_label(change: ConsentChange) -> str:
    """What a history row did, in words."""
    if change.source == "bounce":
        return "address bounced"
    if change.new_value and change.restores_id is not None:
        return "restored"
    return "given" if change.new_value else "withdrawn"


def _history(session: Session, profile: Profile) -> dict[str, Any]:
    rows, more = consent.history(session, profile_id=profile.id, limit=HISTORY_SHOWN)
    return {"changes": rows, "more": more is not None, "shown": HISTORY_SHOWN}


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    sections.add(ProfileSection(
        key="consent_history", title="Consent history", template="crm_segments/profile/_consent_history.html",
        context=_history, column="main", order=55,
    ))
