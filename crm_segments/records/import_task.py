"""The CSV import background task, queued by the import page: all or nothing, in one transaction."""

from __future__ import annotations

import io
from collections.abc import Callable

from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import User
from crm_segments.records.importer import import_csv
from crm_segments.tasks.kinds import TaskInput, TaskResult

ERRORS_KEPT = 1000  # a file can have many bad rows; the page lists this many


def import_task(session_factory: Callable[[], Session], task: TaskInput,
                report: Callable[[str], None]) -> TaskResult:
    filename = str(task.params.get("filename") or "the file")
    kind = str(task.params["kind"])
    report(f"Importing {filename} ({len(task.payload or b''):,} bytes)")
    with session_factory() as session:
        user = session.get(User, task.user_id) if task.user_id is not None else None
        try:
            result = import_csv(session=session, kind=kind, stream=io.BytesIO(task.payload or b""), user=user)
        except ValidationFailed as exc:
            session.rollback()
            errors = [{"row": e.row, "field": e.field, "message": e.message}
                      for e in exc.errors[:ERRORS_KEPT]]
            count = len(exc.errors)
            return TaskResult(False, f"{count:,} problem{'s' if count != 1 else ''} in {filename} — "
                                     "nothing was imported.",
                              {"errors": errors, "error_count": count, "filename": filename})
        session.commit()
    return TaskResult(True, f"Imported {filename}: {result}.", {"filename": filename})
