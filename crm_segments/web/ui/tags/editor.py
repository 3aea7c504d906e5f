"""The tag editor on profile and record pages: add (with type-ahead, creating new tags inline) and
remove tags, clear suppressions; and the profile page's record-tags and tag-history sections.

The editor posts JSON from tags.js and gets JSON back; without JavaScript its plain forms post and
come back to the page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from crm_segments.kernel.errors import NotFound, RateLimited, ValidationFailed
from crm_segments.kernel.record_ids import parse_id
from crm_segments.models import Profile, Tag
from crm_segments.models.record_types import taggable_types
from crm_segments.records.entities import entity_profile_id
from crm_segments.tagging import audit, manual, suppressions
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.forms import json_object, safe_redirect
from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.tags.views import tag_json, tags_per_minute

routes = PageRoutes()

# Any entity type: the services check it against the registry when the request comes.
ENTITY = "<taggable_type:entity_type>/<int:entity_id>"
RECORDS_SHOWN = 20  # per record type in the profile page's record-tags section
HISTORY_SHOWN = 50
Reply = tuple[Response, int] | Response


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _value(name: str) -> Any:
    if request.is_json:
        body = json_object()
        return body.get(name) if body is not None else None
    return request.form.get(name)


def _back(entity_type: str, entity_id: int) -> Response:
    profile_id = _profile_of(entity_type, entity_id)
    fallback = url_for("crm_ui.profile", profile_id=profile_id) if profile_id else url_for("crm_ui.tags")
    return safe_redirect(request.form.get("next"), fallback)


def _profile_of(entity_type: str, entity_id: int) -> int | None:
    try:
        return entity_profile_id(session=db_session(), entity_type=entity_type, entity_id=entity_id)
    except NotFound:
        return None


def _failed(exc: ValidationFailed | NotFound | RateLimited, entity_type: str, entity_id: int) -> Reply:
    db_session().rollback()
    status = 404 if isinstance(exc, NotFound) else 429 if isinstance(exc, RateLimited) else 422
    message = "; ".join(e.message for e in exc.errors) if isinstance(exc, ValidationFailed) else str(exc)
    if _wants_json():
        fields = [{"field": e.field, "message": e.message}
                  for e in exc.errors] if isinstance(exc, ValidationFailed) else []
        return jsonify(error={"message": message, "fields": fields}), status
    if status == 404:
        abort(404)
    flash(f"Nothing was changed: {message}", "error")
    return _back(entity_type, entity_id)


def _tag_id_value() -> int | None:
    raw = _value("tag_id")
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)  # a script's number, read as the form's text is
    return parse_id(raw)


@routes.route(f"/tags/entity/{ENTITY}/add", methods=["POST"])
@role_required("admin", "sales")
def entity_tag_add(entity_type: str, entity_id: int) -> Reply:
    session = db_session()
    try:
        change = manual.add_tag(session=session, entity_type=entity_type, entity_id=entity_id,
                                tag_name=_value("name"), user_id=current_user.id,
                                per_minute=tags_per_minute())
    except (ValidationFailed, NotFound, RateLimited) as exc:
        return _failed(exc, entity_type, entity_id)
    if _wants_json():
        return jsonify(changed=change.changed, tag=tag_json(change.tag), source="manual",
                       remove_url=url_for("crm_ui.entity_tag_remove", entity_type=entity_type,
                                          entity_id=entity_id)), 201 if change.changed else 200
    return _back(entity_type, entity_id)


@routes.route(f"/tags/entity/{ENTITY}/remove", methods=["POST"])
@role_required("admin", "sales")
def entity_tag_remove(entity_type: str, entity_id: int) -> Reply:
    session = db_session()
    try:
        tag_id = _tag_id_value()
        change = manual.remove_tag(session=session, entity_type=entity_type, entity_id=entity_id,
                                   tag_id=tag_id, tag_name=None if tag_id else _value("name"),
                                   user_id=current_user.id)
    except (ValidationFailed, NotFound) as exc:
        return _failed(exc, entity_type, entity_id)
    if _wants_json():
        return jsonify(changed=change.changed, tag=tag_json(change.tag), suppressed=change.suppressed), 200
    if change.suppressed:
        flash(f"Removed {change.tag.name!r}; automatic rules will not add it back here.", "info")
    return _back(entity_type, entity_id)


@routes.route(f"/tags/entity/{ENTITY}/suppressions/<int:tag_id>/clear", methods=["POST"])
@role_required("admin", "sales")
def entity_suppression_clear(entity_type: str, entity_id: int, tag_id: int) -> Reply:
    session = db_session()
    cleared = suppressions.clear_suppression(session=session, entity_type=entity_type, entity_id=entity_id,
                                             tag_id=tag_id)
    if _wants_json():
        return jsonify(cleared=cleared), 200
    return _back(entity_type, entity_id)


@routes.app_template_global("crm_tag_suppressions")
def tag_suppressions(entity_type: str, entity_id: int) -> list[Tag]:
    """Tags kept off this entity by a hand removal, for its tag editor."""
    return list(suppressions.entity_suppressions(session=db_session(), entity_type=entity_type,
                                                 entity_id=entity_id))


def _record_tags(session: Session, profile: Profile) -> dict[str, Any]:
    groups = []
    for kind in taggable_types():
        model, entity_type = kind.model, kind.name
        label = getattr(model, kind.label) if kind.label else model.id
        rows = session.execute(select(model.id, label).where(getattr(model, kind.owner) == profile.id)
                               .order_by(model.created_at.desc(), model.id.desc()).limit(RECORDS_SHOWN)).all()
        taggings = manual.taggings_by_entity(session=session, entity_type=entity_type,
                                             entity_ids=[r[0] for r in rows])
        groups.append({"entity_type": entity_type,
                       "records": [{"id": r[0], "label": r[1] or f"#{r[0]}", "taggings": taggings[r[0]]}
                                   for r in rows]})
    return {"groups": [g for g in groups if g["records"]]}


def _history(session: Session, profile: Profile) -> dict[str, Any]:
    return {"entries": audit.tag_history(session=session, profile_id=profile.id, limit=HISTORY_SHOWN)}


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    sections.add(ProfileSection(
        key="record_tags", title="Record tags", template="crm_segments/tags/_record_tags.html",
        context=_record_tags, column="main", order=50,
    ))
    sections.add(ProfileSection(
        key="tag_history", title="Tag history", template="crm_segments/tags/_history.html",
        context=_history, column="main", order=60,
    ))
