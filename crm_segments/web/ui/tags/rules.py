"""Auto-tag rule pages for admins: list with last-run figures, edit (condition as JSON, errors shown
at their path), dry run of the form as it stands, run now, reset to shipped, delete."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from crm_segments.kernel.errors import Conflict, FieldError, NotFound, RateLimited, ValidationFailed
from crm_segments.kernel.json_text import parse_json
from crm_segments.models import AutoTagRule
from crm_segments.models.record_types import tag_entity_types
from crm_segments.models.tags import AUTO_TAG_MODES
from crm_segments.records.validation import validate
from crm_segments.schemas.auto_tag_rules import AutoTagRuleIn
from crm_segments.tagging import auto, rules
from crm_segments.tagging.manual import resolve_tag
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.forms import ConfirmForm
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.tags.views import field_errors, tags_per_minute
from crm_segments.web.ui.tasks import queue_task

routes = PageRoutes()

EXAMPLE = {"all": [{"field": "lifecycle_status", "op": "eq", "value": "customer"},
                   {"records": "jobs", "where": {"field": "status", "op": "eq", "value": "completed"},
                    "count": {"op": "gte", "value": 3}}]}


class RuleForm(FlaskForm):
    name = StringField("Name")
    description = TextAreaField("Description")
    entity_type = SelectField("Applies to", choices=[])
    tag = StringField("Tag")
    mode = SelectField("Mode", choices=list(AUTO_TAG_MODES))
    enabled = BooleanField("Enabled", default=True)
    condition = TextAreaField("Condition (rule document, JSON)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entity_type.choices = list(tag_entity_types())  # the types registered now


def _input(form: RuleForm) -> AutoTagRuleIn:
    """The editor's fields as the API's input model reads them (the same checks and messages); a
    condition that is not JSON is reported with the other fields' errors."""
    errors: list[FieldError] = []
    try:
        condition = parse_json(form.condition.data or "")
    except ValueError as exc:
        errors.append(FieldError("condition", f"is not valid JSON: {exc}"))
        condition = {}
    data = {"name": form.name.data or "", "description": form.description.data or "",
            "entity_type": form.entity_type.data, "mode": form.mode.data, "enabled": bool(form.enabled.data),
            "tag": form.tag.data or "", "condition": condition}
    try:
        chosen = validate(AutoTagRuleIn, data)
    except ValidationFailed as exc:
        raise ValidationFailed(errors + exc.errors) from None
    if errors:
        raise ValidationFailed(errors)
    return chosen


def _page(form: RuleForm, rule: AutoTagRule | None, errors: dict[str, str],
          dry: auto.RunResult | None = None, status: int | None = None) -> tuple[str, int]:
    return render_template("crm_segments/tags/rule_form.html", form=form, rule=rule, errors=errors, dry=dry,
                           confirm=ConfirmForm(), example=json.dumps(EXAMPLE, indent=2),
                           modes=AUTO_TAG_MODES), status or (422 if errors else 200)


def _rule_or_404(rule_id: int) -> AutoTagRule:
    try:
        return rules.get_rule(session=db_session(), rule_id=rule_id)
    except NotFound:
        abort(404)


@routes.route("/tags/rules")
@role_required("admin")
def tag_rules() -> str:
    return render_template("crm_segments/tags/rules.html", rules=rules.list_rules(session=db_session()),
                           confirm=ConfirmForm())


@routes.route("/tags/rules/new", methods=["GET", "POST"])
@role_required("admin")
def tag_rule_new() -> tuple[str, int] | Response:
    form = RuleForm()
    if not form.is_submitted():
        form.condition.data = json.dumps(EXAMPLE, indent=2)
        return _page(form, None, {})
    session = db_session()
    try:
        data = _input(form)
        if request.form.get("dry_run"):
            return _page(form, None, {}, _dry_run(None, data))
        rule = rules.create_rule(session=session, data=data, user_id=current_user.id,
                                 per_minute=tags_per_minute())
    except (ValidationFailed, Conflict, NotFound, RateLimited) as exc:
        session.rollback()
        return _page(form, None, _errors(exc), status=_status(exc))
    flash(f"Created rule {rule.name!r}. It runs with the next scheduled run, or use Run now.", "success")
    return redirect(url_for("crm_ui.tag_rule_edit", rule_id=rule.id))


@routes.route("/tags/rules/<int:rule_id>", methods=["GET", "POST"])
@role_required("admin")
def tag_rule_edit(rule_id: int) -> tuple[str, int] | Response:
    session = db_session()
    rule = _rule_or_404(rule_id)
    form = RuleForm()
    if not form.is_submitted():
        form = RuleForm(obj=rule)
        form.tag.data, form.condition.data = rule.tag.name, json.dumps(rule.condition, indent=2)
        return _page(form, rule, {})
    try:
        data = _input(form)
        if request.form.get("dry_run"):
            return _page(form, rule, {}, _dry_run(rule, data))
        rules.update_rule(session=session, rule_id=rule.id, data=data, user_id=current_user.id,
                          per_minute=tags_per_minute())
    except (ValidationFailed, Conflict, NotFound, RateLimited) as exc:
        session.rollback()
        return _page(form, _rule_or_404(rule_id), _errors(exc), status=_status(exc))
    flash(f"Saved rule {rule.name!r}.", "success")
    return redirect(url_for("crm_ui.tag_rule_edit", rule_id=rule.id))


def _status(exc: Exception) -> int:
    return 429 if isinstance(exc, RateLimited) else 422


def _errors(exc: ValidationFailed | Conflict | NotFound | RateLimited) -> dict[str, str]:
    if isinstance(exc, NotFound):
        return {"tag": str(exc)}
    if isinstance(exc, RateLimited):
        return {"tag": exc.message}
    errors: dict[str, str] = {}
    for field, message in field_errors(exc).items():
        key = "condition" if field.startswith("condition") else field
        key = "tag" if key.startswith("tag") else key
        errors[key] = f"{field}: {message}" if key == "condition" and field != "condition" else message
    return errors


def _dry_run(rule: AutoTagRule | None, data: AutoTagRuleIn) -> auto.RunResult:
    """Counts for the rule as it stands in the form, saved or not, changing nothing."""
    session = db_session()
    rules.parse_condition(data.condition, entity_type=data.entity_type)
    tag = resolve_tag(session=session, tag_name=data.tag, create=False)
    draft = AutoTagRule(id=rule.id if rule else None, entity_type=data.entity_type,
                        condition=data.condition, tag_id=tag.id, mode=data.mode)
    return auto.run_rule(session=session, rule=draft, dry_run=True)


@routes.route("/tags/rules/<int:rule_id>/run", methods=["POST"])
@role_required("admin")
def tag_rule_run(rule_id: int) -> Response:
    rule = _rule_or_404(rule_id)
    task = queue_task("auto_tag_rule", {"rule_id": rule.id}, subject=f"auto_tag_rule:{rule.id}")
    return redirect(url_for("crm_ui.task", task_id=task.id))


@routes.route("/tags/rules/<int:rule_id>/reset", methods=["POST"])
@role_required("admin")
def tag_rule_reset(rule_id: int) -> Response:
    session = db_session()
    rule = _rule_or_404(rule_id)
    try:
        rules.reset_to_shipped(session=session, rule_id=rule.id)
    except ValidationFailed as exc:
        session.rollback()  # a redirect commits: undo whatever the refused reset wrote
        flash(str(exc), "error")
        return redirect(url_for("crm_ui.tag_rule_edit", rule_id=rule.id))
    flash(f"Reset {rule.name!r} to the shipped condition.", "success")
    return redirect(url_for("crm_ui.tag_rule_edit", rule_id=rule.id))


@routes.route("/tags/rules/<int:rule_id>/delete", methods=["POST"])
@role_required("admin")
def tag_rule_delete(rule_id: int) -> Response:
    session = db_session()
    rule = _rule_or_404(rule_id)
    name = rule.name
    rules.delete_rule(session=session, rule_id=rule.id)
    flash(f"Deleted rule {name!r}; the tags it added stay.", "success")
    return redirect(url_for("crm_ui.tag_rules"))


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
