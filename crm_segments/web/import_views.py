"""The CSV upload page: pick a type, upload a file, see every bad row or the import report."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response
from wtforms import SelectField

from crm_segments.services.errors import ValidationFailed
from crm_segments.services.importer import IMPORT_KINDS, columns_of, import_csv
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui import bp

ERRORS_SHOWN = 1000  # a file can have many bad rows; the table stays readable


class ImportForm(FlaskForm):
    kind = SelectField("Type", choices=list(IMPORT_KINDS))
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to import.")])


@bp.route("/import", methods=["GET", "POST"])
@role_required("admin")
def import_data() -> str | Response | tuple[str, int]:
    form = ImportForm()
    context = {"form": form, "columns": {kind: columns_of(kind) for kind in IMPORT_KINDS},
               "errors": [], "error_count": 0, "shown": ERRORS_SHOWN}
    if not form.validate_on_submit():
        return render_template("crm_segments/import.html", **context), 400 if form.errors else 200
    session = db_session()
    try:
        report = import_csv(session=session, kind=form.kind.data or "", stream=form.file.data.stream,
                            user=current_user._get_current_object())
    except ValidationFailed as exc:
        session.rollback()
        context.update(errors=exc.errors[:ERRORS_SHOWN], error_count=len(exc.errors),
                       filename=form.file.data.filename)
        return render_template("crm_segments/import.html", **context), 422
    session.commit()
    flash(f"Imported {form.file.data.filename}: {report}.", "success")
    return redirect(url_for("crm_ui.import_data"))
