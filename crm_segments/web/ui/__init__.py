"""The pages' blueprint, built for each app.

Each domain's page module (named like its API module in ``web/api``) adds its routes, template
helpers and profile-page sections in its ``register`` function; ``PAGES`` calls them in this order.
What they share is in ``web/ui/common``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Blueprint

from crm_segments.web.ui import (
    accounts,
    channels,
    consent,
    dashboard,
    imports,
    layout,
    messages,
    outbox,
    privacy,
    profiles,
    records,
    rfm,
    saved_views,
    segments,
    tags,
    tasks,
    templates,
    timeline,
    workflows,
)
from crm_segments.web.ui.common.profile_sections import ProfileSections

WEB_ROOT = Path(__file__).resolve().parent.parent  # templates/ and static/ stay in web/

PAGES: tuple[Callable[[Blueprint, ProfileSections], None], ...] = (
    layout.register,
    dashboard.register,
    rfm.register,
    profiles.register,
    timeline.register,
    consent.register,
    records.register,
    saved_views.register,
    imports.register,
    outbox.register,
    workflows.register,
    tags.register,
    segments.register,
    messages.register,
    templates.register,
    tasks.register,
    channels.register,
    privacy.register,
    accounts.register,
)


def create_blueprint() -> Blueprint:
    """The ``crm_ui`` blueprint with every page, and its app's profile-page sections."""
    bp = Blueprint("crm_ui", __name__, root_path=str(WEB_ROOT), template_folder="templates",
                   static_folder="static/crm_segments", static_url_path="/static/crm_segments")
    sections = ProfileSections()
    for register in PAGES:
        register(bp, sections)
    sections.keep_on(bp)
    return bp
