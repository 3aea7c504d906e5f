"""Queue long work from a page and follow it: the task page shows progress while the task runs and
its outcome when it ends, reloading itself until then."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, url_for
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_segments.models import BackgroundTask, Segment
from crm_segments.state import get_state
from crm_segments.tasks.queue import enqueue
from crm_segments.tasks.worker import PROGRESS
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()


def queue_task(kind: str, params: dict[str, Any], *, subject: str = "",
               payload: bytes | None = None) -> BackgroundTask:
    """Queue a task in the request's unit of work; the worker is woken once that commits."""
    session = db_session()
    task = enqueue(session, kind=kind, params=params, subject=subject, payload=payload,
                   user_id=current_user.id)
    worker = get_state(current_app).task_worker
    if worker is not None:
        def wake(_session: Session) -> None:
            worker.wake()

        event.listen(session, "after_commit", wake, once=True)
    return task


def _back_link(session: Session, task: BackgroundTask) -> tuple[str, str]:
    if task.kind == "segment_refresh":
        segment = session.get(Segment, task.params.get("segment_id"))
        if segment is not None:
            return segment.name, url_for("crm_ui.segment", segment_id=segment.id)
        return "Segments", url_for("crm_ui.segments")
    if task.kind == "auto_tag_rule":
        return "Auto-tag rules", url_for("crm_ui.tag_rules")
    if task.kind == "bulk_tag":
        return "Bulk operations", url_for("crm_ui.tag_operations")
    return "Import", url_for("crm_ui.import_data")


@routes.route("/tasks/<int:task_id>")
@role_required("admin", "sales")
def task(task_id: int) -> str:
    session = db_session()
    found = session.get(BackgroundTask, task_id)
    kind = get_state(current_app).task_kinds.get(found.kind) if found is not None else None
    if found is None or kind is None or current_user.role not in kind.roles:
        abort(404)
    back_label, back_url = _back_link(session, found)
    return render_template("crm_segments/task.html", task=found, kind=kind,
                           progress=PROGRESS.get(found.id), back_label=back_label, back_url=back_url)


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
