"""Message templates: shipped as files in ``email_templates/``, stored in the database once edited.

Files by content type: ``sales/quote_follow_up.subject.txt`` + ``.html`` + ``.txt`` make an email
template "sales/quote_follow_up"; ``sales/quote_reminder.sms.txt`` an SMS template. ``init-db``
copies them into ``crm_message_templates``, each row keeping the text it was copied from
(``shipped``).

One rule decides which text is used (``get_template``): a row that was edited (its text differs from
the shipped text it was copied from) and a template that exists only in the database win; otherwise
the shipped file is used as it is now. So an upgrade that changes a shipped file reaches every
template nobody edited, an admin's edit overrides its file, and "reset to shipped" puts the file's
text back and makes the file the source again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.delivery.opt_out import opt_out_errors
from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.models import MessageTemplate, Workflow
from crm_segments.models.messaging import CONTENT_TYPES
from crm_segments.resources import data_path
from crm_segments.segments.deletion import check_deletable, deletion_reason, pause_workflows
from crm_segments.segments.usages import template_users

from .context import sample_context
from .rendering import validate_parts


@dataclass(frozen=True)
class TemplateSource:
    key: str
    channel: str
    content_type: str
    name: str
    text_body: str
    subject: str | None = None
    html_body: str | None = None

    def parts(self) -> dict[str, str]:
        """The parts to render, by kind: subject/html/text for email, sms for SMS."""
        if self.channel == "sms":
            return {"sms": self.text_body}
        parts = {"subject": self.subject or "", "text": self.text_body}
        if self.html_body:
            parts["html"] = self.html_body
        return parts


def default_name(key: str) -> str:
    return key.rsplit("/", 1)[-1].replace("_", " ").capitalize()


@lru_cache(maxsize=1)
def shipped_templates(folder: Path | None = None) -> dict[str, TemplateSource]:
    root = folder or data_path("email_templates")
    found: dict[str, TemplateSource] = {}
    for content_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name in CONTENT_TYPES):
        for sms in sorted(content_dir.glob("*.sms.txt")):
            key = f"{content_dir.name}/{sms.name.removesuffix('.sms.txt')}"
            found[key] = TemplateSource(key, "sms", content_dir.name, default_name(key),
                                        sms.read_text().strip())
        for subject in sorted(content_dir.glob("*.subject.txt")):
            stem = subject.name.removesuffix(".subject.txt")
            key = f"{content_dir.name}/{stem}"
            html = content_dir / f"{stem}.html"
            found[key] = TemplateSource(
                key, "email", content_dir.name, default_name(key), (content_dir / f"{stem}.txt").read_text(),
                subject=subject.read_text().strip(), html_body=html.read_text() if html.exists() else None,
            )
    return found


def _from_row(row: MessageTemplate) -> TemplateSource:
    return TemplateSource(row.key, row.channel, row.content_type, row.name, row.text_body,
                          subject=row.subject, html_body=row.html_body)


def _content(source: TemplateSource | MessageTemplate) -> dict[str, str | None]:
    return {"subject": source.subject or None, "html_body": source.html_body or None,
            "text_body": source.text_body}


def is_edited(row: MessageTemplate) -> bool:
    """The row's text is an edit, not the shipped text it was copied from."""
    if not row.shipped:
        return True
    shipped = {k: row.shipped.get(k) or None for k in ("subject", "html_body")}
    return _content(row) != {**shipped, "text_body": row.shipped.get("text_body")}


def _effective(row: MessageTemplate | None, shipped: TemplateSource | None) -> TemplateSource | None:
    if row is not None and (shipped is None or is_edited(row)):
        return _from_row(row)
    return shipped


def get_template(session: Session, key: str) -> TemplateSource | None:
    """The text a message uses: an edited or database-only template, else the shipped file."""
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.key == key))
    return _effective(row, shipped_templates().get(key))


@dataclass(frozen=True)
class TemplateState:
    """A template as the editor shows it: the text in use and where it comes from."""

    source: TemplateSource
    origin: str            # "shipped" (the file), "edited" (a database edit of a file) or "custom"
    shipped: TemplateSource | None
    updated_by_id: int | None = None


def template_state(session: Session, key: str) -> TemplateState:
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.key == key))
    shipped = shipped_templates().get(key)
    source = _effective(row, shipped)
    if source is None:
        raise NotFound(f"no message template {key!r}")
    origin = "custom" if shipped is None else ("edited" if source is not shipped else "shipped")
    return TemplateState(source, origin, shipped, row.updated_by_id if row is not None else None)


def template_states(session: Session) -> list[TemplateState]:
    """Every template (shipped and database-only), by key."""
    rows = {row.key: row for row in session.scalars(select(MessageTemplate))}
    shipped = shipped_templates()
    states = []
    for key in sorted(set(rows) | set(shipped)):
        source = _effective(rows.get(key), shipped.get(key))
        assert source is not None
        origin = "custom" if key not in shipped else ("edited" if source is not shipped[key] else "shipped")
        row = rows.get(key)
        states.append(TemplateState(source, origin, shipped.get(key), row.updated_by_id if row else None))
    return states


class TemplateCache:
    """Templates looked up once per dispatch run instead of once per message."""

    def __init__(self) -> None:
        self._found: dict[str, TemplateSource | None] = {}

    def get(self, session: Session, key: str) -> TemplateSource | None:
        if key not in self._found:
            self._found[key] = get_template(session, key)
        return self._found[key]


def list_templates(session: Session) -> list[TemplateSource]:
    return [state.source for state in template_states(session)]


def template_problem(session: Session, key: str, *, channel: str) -> str | None:
    """Why ``key`` cannot be used on ``channel`` (for workflow validation), or None."""
    source = get_template(session, key)
    if source is None:
        return f"no message template {key!r}"
    if source.channel != channel:
        return f"template {key!r} is an {source.channel} template, not {channel}"
    return None


def install_templates(session: Session) -> None:
    """Installer for ``init-db``: add shipped templates that are missing and bring the ones nobody
    edited up to their files; leave edited ones alone."""
    existing = {row.key: row for row in session.scalars(select(MessageTemplate))}
    for source in shipped_templates().values():
        row = existing.get(source.key)
        if row is None:
            session.add(MessageTemplate(
                key=source.key, channel=source.channel, content_type=source.content_type, name=source.name,
                subject=source.subject, html_body=source.html_body, text_body=source.text_body,
                is_builtin=True, shipped=shipped_text(source),
            ))
        elif not is_edited(row) and row.shipped != shipped_text(source):
            _copy(row, source)
            row.shipped = shipped_text(source)
    session.flush()


def _copy(row: MessageTemplate, source: TemplateSource) -> None:
    row.channel, row.content_type, row.name = source.channel, source.content_type, source.name
    row.subject, row.html_body, row.text_body = source.subject, source.html_body, source.text_body


def shipped_text(source: TemplateSource) -> dict[str, str | None]:
    return {"subject": source.subject, "html_body": source.html_body, "text_body": source.text_body}


PART_FIELDS = {"subject": "subject", "html": "html_body", "text": "text_body", "sms": "text_body"}


def check_parts(source: TemplateSource) -> list[FieldError]:
    """Every part renders against the sample context within the render limits, and a marketing template
    says how to opt out (opt_out.py); errors name the part and the missing value, limit or link."""
    errors: list[FieldError] = []
    if source.channel == "email" and not (source.subject or "").strip():
        errors.append(FieldError("subject", "an email needs a subject"))
    texts, problems = validate_parts(source.parts())
    for kind, problem in problems.items():
        errors.append(FieldError(PART_FIELDS.get(kind, kind), problem.message))
    errors += opt_out_errors(source.channel, source.content_type, texts, sample_context()["unsubscribe_url"])
    return errors


def store_template(session: Session, source: TemplateSource, *,
                   user_id: int | None = None) -> MessageTemplate:
    """Write ``source`` (checked already) to its row, made if missing."""
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.key == source.key))
    if row is None:
        shipped = shipped_templates().get(source.key)
        row = MessageTemplate(key=source.key, is_builtin=shipped is not None,
                              shipped=shipped_text(shipped) if shipped else None)
        session.add(row)
    _copy(row, source)
    row.updated_by_id = user_id
    session.flush()
    return row


def delete_template(session: Session, key: str, *, on_use: str = "refuse", user_id: int | None = None,
                    now: dt.datetime | None = None) -> list[Workflow]:
    """Delete a template made here; returns the workflows paused because a step sends it.

    While a workflow step sends it, InUse is raised unless ``on_use`` is "detach". A shipped
    template comes from its file and cannot be deleted (reset it instead).
    """
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.key == key))
    if key in shipped_templates():
        raise ValidationFailed([FieldError("key", f"{key!r} is a shipped template: reset it instead")])
    if row is None:
        raise NotFound(f"no message template {key!r}")
    what = f"template {key!r}"
    uses = template_users(session, key)
    check_deletable(what, uses, on_use)
    paused = pause_workflows(session, uses, reason=deletion_reason(session, what, user_id=user_id,
                                                                   now=now or utcnow()))
    session.delete(row)
    session.flush()
    return paused
