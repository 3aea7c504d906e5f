"""Message rows for the message log, template editor and message API tests."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy.orm import Session

from crm_segments.models import Message, MessageEvent, Profile, Workflow
from tests.workflows.helpers import make_segment

T0 = dt.datetime(2030, 6, 3, 15, 0, tzinfo=dt.UTC)
_keys = itertools.count(1)


def message(session: Session, profile: Profile, **values: Any) -> Message:
    """A message row as the dispatcher leaves it; by default an email sent at ``T0``."""
    at = values.pop("at", T0)
    defaults: dict[str, Any] = {
        "dedupe_key": f"web-test:{next(_keys)}", "profile_id": profile.id, "channel": "email",
        "category": "marketing", "template_key": "evergreen/welcome", "status": "sent",
        "to_address": profile.email, "subject": f"Welcome, {profile.first_name}", "text_body": "Hello",
        "rendered_at": at, "attempted_at": at, "sent_at": at, "provider": "local", "attempts": 1,
        "next_attempt_at": at, "created_at": at, "updated_at": at,
    }
    row = Message(**(defaults | values))
    session.add(row)
    session.flush()
    return row


def event(session: Session, row: Message, name: str, at: dt.datetime, detail: str = "",
          provider: str = "sendgrid") -> MessageEvent:
    found = MessageEvent(provider=provider, provider_event_id=f"evt-{next(_keys)}", message_id=row.id,
                         profile_id=row.profile_id, event=name, detail=detail, occurred_at=at, payload={})
    session.add(found)
    session.flush()
    return found


def workflow(session: Session, name: str, *, segment_name: str | None = None) -> Workflow:
    """A bare workflow row (optionally triggered by a new segment) for messages to point at."""
    segment = make_segment(session, name=segment_name) if segment_name else None
    found = Workflow(name=name, trigger_type="segment_entered" if segment else "tag_added",
                     trigger_segment_id=segment.id if segment else None, steps=[])
    session.add(found)
    session.flush()
    return found
