"""Saving a message template: every check of its parts, and of the workflows that send it, before
the write (template_store.py keeps the text; a template is checked here because the workflows that
send it must give it every value it reads)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.models import MessageTemplate
from crm_segments.models.messaging import CONTENT_TYPES
from crm_segments.templates.template_preview import preview_profile_limits
from crm_segments.templates.template_store import (
    TemplateSource,
    check_parts,
    default_name,
    get_template,
    shipped_templates,
    shipped_text,
    store_template,
)

from .template_fit import template_fit_errors


def check_template(session: Session, *, key: str, text_body: str, subject: str | None = None,
                   html_body: str | None = None, channel: str | None = None, content_type: str | None = None,
                   name: str | None = None) -> TemplateSource:
    """The template as ``save_template`` would save it, after every check it makes; raises
    ValidationFailed. It only reads, so a page can check in a reading transaction first: a template that
    renders slowly or past a limit is then refused before SQLite's write lock is taken."""
    current = get_template(session, key)
    channel = channel or (current.channel if current else None)
    content_type = content_type or (current.content_type if current else key.split("/", 1)[0])
    errors: list[FieldError] = []
    if channel not in ("email", "sms"):
        errors.append(FieldError("channel", "choose email or sms"))
    if content_type not in CONTENT_TYPES:
        errors.append(FieldError("content_type", f"choose one of {', '.join(CONTENT_TYPES)}"))
    if errors:
        raise ValidationFailed(errors)
    assert channel is not None and content_type is not None
    name = name or (current.name if current else default_name(key))
    source = TemplateSource(key, channel, content_type, name, text_body,
                            subject=subject if channel == "email" else None,
                            html_body=(html_body or None) if channel == "email" else None)
    if errors := check_parts(source):
        raise ValidationFailed(errors)
    # A workflow that sends this template must give it every value it reads (template_fit.py).
    if errors := template_fit_errors(session, source):
        raise ValidationFailed(errors)
    # A render limit the template hits for the profile the preview shows.
    if errors := preview_profile_limits(session, source):
        raise ValidationFailed(errors)
    return source


def save_template(session: Session, *, key: str, text_body: str, subject: str | None = None,
                  html_body: str | None = None, channel: str | None = None, content_type: str | None = None,
                  name: str | None = None, user_id: int | None = None) -> MessageTemplate:
    """Create or update a template after checking every part, also against the triggers of the workflows
    that send it and within the render limits for the preview profile; nothing is written if one fails."""
    source = check_template(session, key=key, text_body=text_body, subject=subject, html_body=html_body,
                            channel=channel, content_type=content_type, name=name)
    return store_template(session, source, user_id=user_id)


def reset_template(session: Session, key: str, *, user_id: int | None = None) -> MessageTemplate:
    """Put a shipped template back to its files' text; the file is its source again."""
    shipped = shipped_templates().get(key)
    if shipped is None:
        raise NotFound(f"template {key!r} is not a shipped template")
    row = save_template(session, key=key, text_body=shipped.text_body, subject=shipped.subject,
                        html_body=shipped.html_body, channel=shipped.channel,
                        content_type=shipped.content_type, name=shipped.name, user_id=user_id)
    row.shipped = shipped_text(shipped)
    session.flush()
    return row
