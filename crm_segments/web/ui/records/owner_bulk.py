"""Assign an owner from the profiles list's bulk bar: the selected rows, every profile matching the
search, or a segment's members; over CONFIRM_ABOVE profiles only after confirming the exact count."""

from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from werkzeug.wrappers import Response

from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.kernel.record_ids import parse_id
from crm_segments.profiles import queries as profile_queries
from crm_segments.records.owners import MAX_PROFILES, assign_owner
from crm_segments.tagging.bulk_task import SELECTION_FIELDS, selection_for
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.bulk_confirm import confirmation_page, selection_size
from crm_segments.web.ui.common.forms import safe_path, safe_redirect
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.records.edit import user_label, writable, write_context

routes = PageRoutes()


@routes.app_template_global("crm_bulk_owners")
def bulk_owners() -> list[tuple[int, str]]:
    """Users a bulk owner change can name, for the bulk bar's picker."""
    return profile_queries.owner_choices(session=db_session())


@routes.route("/profiles/owner/bulk", methods=["POST"])
@role_required("admin", "sales")
@writable
def profiles_owner_bulk() -> Response | str:
    session = db_session()
    back = safe_path(request.form.get("next"), url_for("crm_ui.profiles"))
    raw_owner = request.form.get("owner_id", "").strip()
    owner_id = parse_id(raw_owner)
    fields = {key: value for key, value in request.form.items() if key in SELECTION_FIELDS}
    try:
        if raw_owner and owner_id is None:
            raise ValidationFailed([FieldError("owner_id", "must be a user id or empty for nobody")])
        scope = request.form.get("scope", "")
        chosen = selection_for(session, entity_type="profile", scope=scope, fields=fields)
        count = selection_size(session, chosen)
        if count > MAX_PROFILES:
            raise ValidationFailed([FieldError("scope",
                                                f"at most {MAX_PROFILES:,} profiles at once, not {count:,}")])
        page = confirmation_page(count, entity_type="profile", back=back,
                                 doing=f"Make {user_label(owner_id)} the owner of")
        if page is not None:
            return page
        ids = list(session.scalars(chosen.ids))
        changed = assign_owner(session, ids, owner_id, ctx=write_context())
    except (ValidationFailed, NotFound) as exc:
        session.rollback()
        flash(f"Nothing was changed: {exc}", "error")
        return safe_redirect(back, url_for("crm_ui.profiles"))
    plural = "s" if changed != 1 else ""
    flash(f"{user_label(owner_id)} now owns {changed:,} profile{plural}." if owner_id is not None
          else f"Owner removed from {changed:,} profile{plural}.", "success")
    return safe_redirect(back, url_for("crm_ui.profiles"))


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
