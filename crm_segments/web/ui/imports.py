"""The CSV upload page: pick a type and upload a file; the import runs as a background task whose
page lists every bad row or the import report."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response
from wtforms import SelectField

from crm_segments.records.importer import IMPORT_KINDS, columns_of
from crm_segments.web.auth import role_required
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.tasks import queue_task

routes = PageRoutes()


class ImportForm(FlaskForm):
    kind = SelectField("Type", choices=list(IMPORT_KINDS))
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to import.")])


@routes.route("/import", methods=["GET", "POST"])
@role_required("admin")
def import_data() -> str | Response | tuple[str, int]:
    form = ImportForm()
    context = {"form": form, "columns": {kind: columns_of(kind) for kind in IMPORT_KINDS}}
    if not form.validate_on_submit():
        return render_template("crm_segments/import.html", **context), 400 if form.errors else 200
    upload = form.file.data
    params = {"kind": form.kind.data or "", "filename": upload.filename or "upload.csv"}
    task = queue_task("csv_import", params, subject="import", payload=upload.read())
    return redirect(url_for("crm_ui.task", task_id=task.id))


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
