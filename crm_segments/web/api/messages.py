"""Message and message template endpoints: the message log (same filters as the page, keyset pages,
newest first), one message with its delivery events, sending again or closing unconfirmed messages in
bulk (an admin's key); templates: list, get, update (checked like the
editor: nothing is saved when a part fails), reset to shipped, and preview against a real profile.
Reading is open to every API key; changing or previewing a template (which renders it) needs the key of
an admin."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, jsonify, request

from crm_segments.db import utcnow
from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.messages import message_log, unconfirmed
from crm_segments.models import Profile
from crm_segments.records.validation import validate
from crm_segments.schemas._base import PageParams
from crm_segments.templates import template_preview
from crm_segments.templates.template_store import (
    TemplateSource,
    TemplateState,
    template_state,
    template_states,
)
from crm_segments.web.db import db_session, reads_only, writing_session
from crm_segments.workflows.template_saving import check_template, reset_template, save_template

from .message_schemas import (
    MessageDetailOut,
    MessageEventOut,
    MessageFilters,
    MessageOut,
    MessagePage,
    PreviewIn,
    PreviewOut,
    SegmentResultList,
    SegmentResultOut,
    TemplateFilters,
    TemplateIn,
    TemplateList,
    TemplateOut,
    UnconfirmedIn,
    UnconfirmedOut,
)
from .routes import ADMIN_ONLY, Route, json_body
from .workflow_schemas import ResultsParams

MESSAGES, TEMPLATES = "messages", "message templates"


def list_messages() -> Response:
    args = request.args.to_dict()
    paging = validate(PageParams, {k: args.pop(k) for k in ("limit", "after") if k in args})
    filters = validate(MessageFilters, args)
    page = message_log.list_messages(session=db_session(),
                                     filters=message_log.as_filter(filters.model_dump()),
                                     limit=paging.limit, after=paging.after)
    items = [MessageOut.model_validate(m).model_dump(mode="json") for m in page.items]
    return jsonify(items=items, next_after=page.next_after)


def get_message(id: int) -> Response:
    detail = message_log.get_message(session=db_session(), message_id=id)
    columns = {c.key: getattr(detail.message, c.key) for c in detail.message.__table__.columns}
    out = MessageDetailOut.model_validate(
        {**columns, "events": [MessageEventOut.model_validate(e) for e in detail.events]})
    return jsonify(out.model_dump(mode="json"))


def _decide_unconfirmed(decide: unconfirmed.Decide) -> Response:
    body = validate(UnconfirmedIn, json_body())
    filters = message_log.as_filter(body.model_dump(exclude={"ids"}))
    count = decide(db_session(), filters=filters, ids=body.ids, actor=f"{g.crm_api_user.email} (API)",
                   now=utcnow())
    return jsonify(UnconfirmedOut(count=count).model_dump(mode="json"))


def requeue_unconfirmed() -> Response:
    return _decide_unconfirmed(unconfirmed.send_again)


def close_unconfirmed() -> Response:
    return _decide_unconfirmed(unconfirmed.close)


def segment_results() -> Response:
    from crm_segments.workflows.results import segment_results as results_by_segment

    params = validate(ResultsParams, request.args.to_dict())
    rows = results_by_segment(session=db_session(), since=params.since)
    items = [SegmentResultOut(segment_id=r.segment_id, segment_name=r.segment_name, workflows=r.workflows,
                              **r.results.as_dict()).model_dump(mode="json") for r in rows]
    return jsonify(items=items)


def _template(state: TemplateState) -> dict[str, Any]:
    s = state.source
    out = TemplateOut.model_validate({"key": s.key, "channel": s.channel, "content_type": s.content_type,
                                      "name": s.name, "subject": s.subject, "html_body": s.html_body,
                                      "text_body": s.text_body, "origin": state.origin})
    data: dict[str, Any] = out.model_dump(mode="json")
    return data


def list_templates() -> Response:
    filters = validate(TemplateFilters, request.args.to_dict())
    states = [s for s in template_states(db_session())
              if (filters.channel is None or s.source.channel == filters.channel)
              and (filters.content_type is None or s.source.content_type == filters.content_type)]
    return jsonify(items=[_template(s) for s in states])


def get_template(key: str) -> Response:
    return jsonify(_template(template_state(db_session(), key)))


@reads_only  # checked (rendered) while reading; only then does it take writing_session()
def update_template(key: str) -> tuple[Response, int]:
    state = template_state(db_session(), key)
    body = validate(TemplateIn, json_body())
    if state.source.channel == "sms" and (body.subject or body.html_body):
        field = "subject" if body.subject else "html_body"
        raise ValidationFailed([FieldError(field, "an SMS template has only text_body")])
    check_template(db_session(), key=key, text_body=body.text_body, subject=body.subject,
                   html_body=body.html_body)  # a slow or refused render holds no write lock
    session = writing_session()
    save_template(session, key=key, text_body=body.text_body, subject=body.subject, html_body=body.html_body,
                  user_id=g.crm_api_user.id)
    return jsonify(_template(template_state(session, key))), 200


def reset(key: str) -> tuple[Response, int]:
    session = db_session()
    template_state(session, key)  # 404 for an unknown key
    reset_template(session, key, user_id=g.crm_api_user.id)
    return jsonify(_template(template_state(session, key))), 200


@reads_only
def preview(key: str) -> Response | tuple[Response, int]:
    from crm_segments.web.webhooks import public_base_url

    session = db_session()
    state = template_state(session, key)
    body = validate(PreviewIn, json_body())
    saved = state.source
    sms = saved.channel == "sms"
    given = body.model_dump(exclude_unset=True, include={"subject", "html_body", "text_body"})
    source = TemplateSource(saved.key, saved.channel, saved.content_type, saved.name,
                            given.get("text_body") or saved.text_body,
                            subject=None if sms else given.get("subject", saved.subject),
                            html_body=None if sms else given.get("html_body", saved.html_body))
    profile = None
    if body.profile_id is not None:
        profile = session.get(Profile, body.profile_id)
        if profile is None:
            raise ValidationFailed([FieldError("profile_id", f"profile {body.profile_id} does not exist")])
    found = template_preview.preview_template(session, source, profile=profile,
                                              base_url=public_base_url(current_app),
                                              record_type=body.record_type, record_id=body.record_id)
    parts = found.parts
    out = PreviewOut(profile_id=found.profile.id, record_type=found.record_type, record_id=found.record_id,
                     subject=parts.get("subject"), html=parts.get("html"),
                     text=parts.get("text") or parts.get("sms") or "")
    return jsonify(out.model_dump(mode="json"))


def message_routes() -> list[Route]:
    one_template = "/templates/<path:key>"
    return [
        Route("/messages", "GET", "messages_list", list_messages,
              "List messages, newest first, with filters", MESSAGES, query=(PageParams, MessageFilters),
              out=MessagePage, errors=(401, 422)),
        Route("/messages/<int:id>", "GET", "messages_get", get_message,
              "Get a message with its rendered content and delivery events", MESSAGES, out=MessageDetailOut,
              errors=(401, 404)),
        Route("/messages/unconfirmed/requeue", "POST", "messages_unconfirmed_requeue", requeue_unconfirmed,
              "Send again the unconfirmed messages selected (no delivery event confirmed them: some may "
              "have arrived, and their recipients get a second copy); they go out with the next dispatch",
              MESSAGES, body=UnconfirmedIn, out=UnconfirmedOut, errors=(400, 401, 403, 422),
              roles=ADMIN_ONLY),
        Route("/messages/unconfirmed/close", "POST", "messages_unconfirmed_close", close_unconfirmed,
              "Close the unconfirmed messages selected as failed, naming who closed them", MESSAGES,
              body=UnconfirmedIn, out=UnconfirmedOut, errors=(400, 401, 403, 422), roles=ADMIN_ONLY),
        Route("/segment-results", "GET", "segment_results", segment_results,
              "Results of segment-triggered workflows per trigger segment: enrolled, sent, delivered, "
              "opened, clicked, bounced, unsubscribed, converted", MESSAGES, query=(ResultsParams,),
              out=SegmentResultList, errors=(401, 422)),
        Route("/templates", "GET", "templates_list", list_templates, "List message templates", TEMPLATES,
              query=(TemplateFilters,), out=TemplateList, errors=(401, 422)),
        Route(one_template, "GET", "templates_get", get_template, "Get a message template", TEMPLATES,
              out=TemplateOut, errors=(401, 404)),
        Route(one_template, "PUT", "templates_update", update_template,
              "Change a template's text; every part is checked and nothing is saved when one fails",
              TEMPLATES, body=TemplateIn, out=TemplateOut, errors=(400, 401, 403, 404, 422),
              roles=ADMIN_ONLY),
        Route(f"{one_template}/reset", "POST", "templates_reset", reset,
              "Put a shipped template back to its file's text", TEMPLATES, out=TemplateOut,
              errors=(401, 403, 404), roles=ADMIN_ONLY),
        Route(f"{one_template}/preview", "POST", "templates_preview", preview,
              "Render a template (or unsaved text) for a real profile and triggering record", TEMPLATES,
              body=PreviewIn, out=PreviewOut, errors=(400, 401, 403, 404, 422), roles=ADMIN_ONLY),
    ]
