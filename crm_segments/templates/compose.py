"""Render a message once, before its first attempt: the exact subject, bodies and address kept on the
row are what every retry sends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from crm_segments.config import Settings
from crm_segments.delivery import links
from crm_segments.models import Message, Profile, User

from .context import build_context
from .rendering import TemplateProblem, parts_or_problem, render_many, render_parts
from .template_store import TemplateCache, TemplateSource, get_template

UNSUBSCRIBE_PREVIEW = "unsubscribe-link-preview"


def unsubscribe_link(message: Message, *, settings: Settings, base_url: str) -> str | None:
    """The profile's own unsubscribe link; none for SMS, test sends and messages to users."""
    if message.channel != "email" or message.category == "test" or message.recipient_user_id is not None:
        return None
    token = links.unsubscribe_token(settings.messaging.signing_key, profile_id=message.profile_id,
                                    message_id=message.id)
    return links.unsubscribe_url(base_url, token)


def recipient(session: Session, message: Message, profile: Profile) -> str | None:
    if message.to_address:
        return message.to_address
    if message.recipient_user_id is not None:
        user = session.get(User, message.recipient_user_id)
        return user.email if user is not None and message.channel == "email" else None
    return profile.email if message.channel == "email" else profile.phone


def compose(session: Session, message: Message, profile: Profile, *, settings: Settings, base_url: str,
            now: dt.datetime, templates: TemplateCache | None = None,
            rendered: dict[str, str] | TemplateProblem | None = None) -> None:
    """Fill the row's address and rendered parts; raises TemplateProblem when it cannot be rendered.
    ``rendered``: the message's parts (or its problem) from ``render_messages``, if rendered already."""
    if message.rendered_at is not None:
        return
    if isinstance(rendered, TemplateProblem):
        raise rendered
    parts = rendered if rendered is not None else render_message(session, message, profile, settings=settings,
                                                                 base_url=base_url, templates=templates)
    message.subject = parts.get("subject")
    message.html_body = parts.get("html")
    message.text_body = parts.get("text") or parts.get("sms") or ""
    message.to_address = recipient(session, message, profile)
    message.rendered_at = now


def render_message(session: Session, message: Message, profile: Profile, *, settings: Settings,
                   base_url: str, templates: TemplateCache | None = None) -> dict[str, str]:
    """The message's parts rendered from its template, by kind; raises TemplateProblem."""
    parts, context = _what_to_render(session, message, profile, settings=settings, base_url=base_url,
                                     templates=templates)
    return render_parts(parts, context, limits=settings.templates)  # one request, every part


def render_messages(session: Session, rows: Sequence[tuple[Message, Profile]], *, settings: Settings,
                    base_url: str, templates: TemplateCache | None = None
                    ) -> dict[int, dict[str, str] | TemplateProblem]:
    """Each message's parts as ``render_message`` gives them, or its TemplateProblem, by message id: all
    of them in one request to a renderer (the part of the queue a dispatcher prepares at once)."""
    outcomes: dict[int, dict[str, str] | TemplateProblem] = {}
    to_render: list[tuple[int, Mapping[str, str], Mapping[str, Any]]] = []
    for message, profile in rows:
        try:
            to_render.append((message.id, *_what_to_render(session, message, profile, settings=settings,
                                                           base_url=base_url, templates=templates)))
        except TemplateProblem as exc:
            outcomes[message.id] = exc
    results = render_many([(parts, context) for _, parts, context in to_render], limits=settings.templates)
    for (message_id, _, _), result in zip(to_render, results, strict=True):
        outcomes[message_id] = parts_or_problem(result)
    return outcomes


def _what_to_render(session: Session, message: Message, profile: Profile, *, settings: Settings,
                    base_url: str, templates: TemplateCache | None) -> tuple[dict[str, str], dict[str, Any]]:
    """The message's template parts and the context they render with; raises TemplateProblem."""
    key = message.template_key
    source = templates.get(session, key) if templates is not None else get_template(session, key)
    if source is None:
        raise TemplateProblem("template", f"no message template {message.template_key!r}")
    if source.channel != message.channel:
        raise TemplateProblem("template", f"{message.template_key!r} is an {source.channel} template")
    link = unsubscribe_link(message, settings=settings, base_url=base_url)
    extra = {k: v for k, v in (message.context or {}).items() if k not in ("record_type", "record_id")}
    context = build_context(session, profile=profile, record_type=message.record_type,
                            record_id=message.record_id,
                            unsubscribe_url=link or links.unsubscribe_url(base_url, UNSUBSCRIBE_PREVIEW),
                            extra=extra)
    return source.parts(), context


def preview(session: Session, source: TemplateSource, *, profile: Profile, base_url: str,
            record_type: str | None = None, record_id: int | None = None) -> dict[str, str]:
    """Every part of a template rendered for a real profile (the editor's preview); the unsubscribe
    link is a harmless placeholder. Raises TemplateProblem naming what is missing or the bound hit."""
    return render_parts(source.parts(), preview_context(session, profile=profile, base_url=base_url,
                                                        record_type=record_type, record_id=record_id))


def preview_context(session: Session, *, profile: Profile, base_url: str, record_type: str | None = None,
                    record_id: int | None = None) -> dict[str, Any]:
    return build_context(session, profile=profile, record_type=record_type, record_id=record_id,
                         unsubscribe_url=links.unsubscribe_url(base_url, UNSUBSCRIBE_PREVIEW))
