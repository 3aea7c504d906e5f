"""One person's data: the export of a profile (right of access) and its erasure (right of erasure,
``DELETE /profiles/{id}``). Both need the API key of an admin."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Response, current_app, g, jsonify
from pydantic import BaseModel, Field

from crm_segments.privacy.erasure import erase_profile
from crm_segments.privacy.export import FORMAT, export_profile
from crm_segments.state import get_state
from crm_segments.web.db import db_session

from .routes import ADMIN_ONLY, Route

log = logging.getLogger(__name__)
PROFILES = "profiles"


class ProfileExport(BaseModel):
    format: str = Field(description=f"{FORMAT!r}")
    exported_at: dt.datetime
    profile_id: int
    profile: dict[str, Any] = Field(description="The profile's own fields, as stored.")
    data: dict[str, list[dict[str, Any]]] = Field(
        description="The rows of every table that holds the profile's data, by section: its records "
                    "and their lines, tags and tag history, segment memberships and history, messages "
                    "and their delivery events, consent history, workflow enrollments and steps.")
    inbound_texts: list[dict[str, Any]] = Field(description="Texts received from the profile's number.")
    names: dict[str, dict[str, str]] = Field(
        description="Names of the tags, segments, workflows and products the rows refer to, by id.")


def export(id: int) -> Response:
    document = export_profile(session=db_session(), profile_id=id)  # NotFound: 404
    log.info("profile %s exported by user %s (API)", id, g.crm_api_user.id)
    return jsonify(ProfileExport.model_validate(document).model_dump(mode="json"))


def erase(id: int) -> None:
    """``DELETE /profiles/{id}``: the profile and everything that names it (NotFound: 404)."""
    erase_profile(session=db_session(), profile_id=id, outbox_dir=get_state(current_app).settings.outbox_dir,
                  user_id=g.crm_api_user.id, via="api")


def personal_data_routes() -> list[Route]:
    return [
        Route("/profiles/<int:id>/export", "GET", "profiles_export", export,
              "Everything the product holds about one profile, as JSON (right of access); admins", PROFILES,
              out=ProfileExport, errors=(401, 403, 404), roles=ADMIN_ONLY),
    ]
