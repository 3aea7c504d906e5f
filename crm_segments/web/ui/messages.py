"""The message log: every message with filters, one message with its content and delivery timeline,
and (admins) sending a failed or unknown message again, and sending again or closing the unconfirmed
messages the filters select, all at once. Sales and admins view."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from crm_segments.config import MessagingSettings
from crm_segments.db import utcnow
from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.kernel.record_ids import MAX_ID, parse_id
from crm_segments.messages import message_log, unconfirmed
from crm_segments.messages.outbox import requeue_message
from crm_segments.models import Profile, Workflow
from crm_segments.models.messaging import CHANNELS, MESSAGE_CATEGORIES, MESSAGE_STATUSES
from crm_segments.state import get_state
from crm_segments.templates.template_store import list_templates
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.html_preview import with_preview_styles
from crm_segments.workflows.results import Results, results_by, workflow_results

routes = PageRoutes()

PAGE_SIZE = 50
PROFILE_MESSAGES_SHOWN = 10
FILTER_FIELDS = ("channel", "status", "category", "workflow", "segment", "profile", "q", "template",
                 "since", "until")


def _int(args: MultiDict[str, str], name: str, errors: list[FieldError]) -> int | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    if (chosen := parse_id(value)) is None:
        errors.append(FieldError(name, f"must be an id (a whole number from 1 to {MAX_ID})"))
    return chosen


def _day(args: MultiDict[str, str], name: str, errors: list[FieldError], *, end: bool) -> dt.datetime | None:
    value = args.get(name, "").strip()
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, "must be a date (YYYY-MM-DD)"))
        return None
    # Days are UTC days, and "until" includes its whole day.
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start + dt.timedelta(days=1) if end else start


def read_filter(args: MultiDict[str, str]) -> message_log.MessageFilter:
    """The log's filters from the query string; ValidationFailed names each bad field."""
    errors: list[FieldError] = []
    values: dict[str, Any] = {name: args.get(name, "").strip() or None
                              for name in ("channel", "status", "category", "template")}
    values.update(workflow_id=_int(args, "workflow", errors), segment_id=_int(args, "segment", errors),
                  profile_id=_int(args, "profile", errors), q=args.get("q", "").strip(),
                  since=_day(args, "since", errors, end=False), until=_day(args, "until", errors, end=True))
    try:
        found = message_log.as_filter(values)
    except ValidationFailed as exc:
        errors += exc.errors
        found = message_log.MessageFilter()
    if errors:
        raise ValidationFailed(errors)
    return found


def uses_local_outbox(settings: MessagingSettings) -> bool:
    """Some channel writes to the local outbox (the same choice as the dispatcher's channels)."""
    email = settings.email_provider == "sendgrid" and bool(settings.sendgrid_api_key)
    sms = (settings.sms_provider == "twilio"
           and bool(settings.twilio_account_sid and settings.twilio_auth_token))
    return not (email and sms)


def _selected_results(filters: message_log.MessageFilter) -> tuple[str, Results] | None:
    """Results of the workflow or segment the log is filtered on."""
    session = db_session()
    if filters.workflow_id is not None:
        workflow = session.get(Workflow, filters.workflow_id)
        if workflow is not None:
            return workflow.name, workflow_results(session=session, workflow_id=workflow.id)
    if filters.segment_id is not None:
        by_segment = results_by(session, Workflow.trigger_segment_id,
                                where=Workflow.trigger_segment_id == filters.segment_id)
        return "", by_segment.get(filters.segment_id, Results())
    return None


@routes.route("/messages")
@role_required("admin", "sales")
def messages() -> tuple[str, int]:
    session = db_session()
    args = request.args
    errors: list[FieldError] = []
    try:
        filters = read_filter(args)
    except ValidationFailed as exc:
        errors, filters = exc.errors, message_log.MessageFilter()
    after = args.get("after", "")
    page = (message_log.list_messages(session=session, filters=filters, limit=PAGE_SIZE,
                                      after=parse_id(after))
            if not errors else message_log.MessagePage([], None))
    current: dict[str, Any] = {name: args.get(name, "") for name in FILTER_FIELDS if args.get(name)}
    settings = get_state(current_app).settings.messaging
    segments = message_log.trigger_segments(session=session)
    context = dict(
        page=page, profiles=message_log.profiles_of(session=session, messages=page.items),
        filters=current, errors={e.field: e.message for e in errors},
        channels=CHANNELS, statuses=MESSAGE_STATUSES, categories=MESSAGE_CATEGORIES,
        workflows=message_log.workflow_names(session=session), segments=segments,
        templates=[t.key for t in list_templates(session)],
        selected=_selected_results(filters) if not errors else None,
        profile_filter=session.get(Profile, filters.profile_id) if filters.profile_id else None,
        segment_names=dict(segments), workflow_names=dict(message_log.workflow_names(session=session)),
        local_outbox=uses_local_outbox(settings),
        unconfirmed=unconfirmed.count_unconfirmed(session, filters) if not errors else 0,
        unconfirmed_url=url_for("crm_ui.messages", **(current | {"status": "unconfirmed"})),
        unconfirmed_fields={k: v for k, v in current.items() if k not in ("status", "after")},
        next_url=url_for("crm_ui.messages", **current, after=page.next_after) if page.next_after else None,
    )
    return render_template("crm_segments/messages/list.html", **context), 400 if errors else 200


@routes.route("/messages/<int:message_id>")
@role_required("admin", "sales")
def message(message_id: int) -> Response:
    try:
        detail = message_log.get_message(session=db_session(), message_id=message_id)
    except NotFound:
        abort(404)
    settings = get_state(current_app).settings
    outbox_file = None
    if detail.message.provider == "local" and detail.message.sent_at is not None:
        suffix = "eml" if detail.message.channel == "email" else "txt"
        outbox_file = settings.outbox_dir / f"message-{detail.message.id:08d}.{suffix}"
    page = render_template("crm_segments/messages/detail.html", detail=detail, m=detail.message,
                           outbox_file=outbox_file)
    return with_preview_styles(page, 200, detail.message.html_body)


@routes.route("/messages/<int:message_id>/requeue", methods=["POST"])
@role_required("admin")
def message_requeue(message_id: int) -> Response:
    session = db_session()
    try:
        requeue_message(session, message_id)
    except NotFound:
        abort(404)
    except Conflict as exc:
        session.rollback()
        flash(exc.message, "error")
    else:
        flash("The message is queued again; it goes out with the next dispatch.", "success")
    return redirect(url_for("crm_ui.message", message_id=message_id))


UNCONFIRMED_ACTIONS = {"requeue": (unconfirmed.send_again, "{n} unconfirmed message{s} queued again; "
                                  "they go out with the next dispatch."),
                       "close": (unconfirmed.close, "{n} unconfirmed message{s} closed as failed.")}


@routes.route("/messages/unconfirmed/<action>", methods=["POST"])
@role_required("admin")
def messages_unconfirmed(action: str) -> Response:
    """Send again, or close, every unconfirmed message the log's filters (posted with the form) select."""
    if action not in UNCONFIRMED_ACTIONS:
        abort(404)
    try:
        filters = read_filter(request.form)
    except ValidationFailed:
        abort(400)
    decide, done = UNCONFIRMED_ACTIONS[action]
    count = decide(db_session(), filters=filters, actor=current_user.email, now=utcnow())
    flash(done.format(n=count, s="" if count == 1 else "s"), "success")
    kept: dict[str, Any] = {name: request.form[name] for name in FILTER_FIELDS
                            if request.form.get(name) and name != "status"}
    return redirect(url_for("crm_ui.messages", **kept))


def _profile_messages(session: Session, profile: Profile) -> dict[str, Any]:
    filters = message_log.MessageFilter(profile_id=profile.id)
    page = message_log.list_messages(session=session, filters=filters, limit=PROFILE_MESSAGES_SHOWN)
    return {"messages": page.items, "more": page.next_after is not None}


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    sections.add(ProfileSection(
        key="messages", title="Messages", template="crm_segments/messages/_profile_messages.html",
        context=_profile_messages, column="main", order=70,
    ))
