"""Small builders shared by the messaging tests."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.messages.outbox import enqueue_message
from crm_segments.models import ConsentChange, Message, Profile
from tests.factories import ProfileFactory

from .conftest import T0

_keys = itertools.count(1)
_phones = itertools.count(1000)
TEMPLATES = {"email": "evergreen/welcome", "sms": "marketing/win_back_reminder"}


def reachable(**overrides: Any) -> Profile:
    """A profile with an address, a phone number and consent for both channels."""
    values: dict[str, Any] = {"email_consent": True, "sms_consent": True, "phone": f"+1555123{next(_phones)}",
                              "time_zone": "America/New_York"}
    return ProfileFactory(**(values | overrides))  # type: ignore[no-any-return]


def queue(session: Session, profile: Profile, *, channel: str = "email", template: str | None = None,
          category: str = "marketing", key: str | None = None, **kwargs: Any) -> Message:
    kwargs.setdefault("now", T0)
    return enqueue_message(session, dedupe_key=key or f"test:{next(_keys)}", profile_id=profile.id,
                           channel=channel, template=template or TEMPLATES[channel], category=category,
                           **kwargs)


def fresh(session: Session, message: Message) -> Message:
    session.expire_all()
    found = session.get(Message, message.id)
    assert found is not None
    return found


def consent_changes(session: Session, profile: Profile) -> list[ConsentChange]:
    return list(session.scalars(select(ConsentChange).where(ConsentChange.profile_id == profile.id)
                                .order_by(ConsentChange.id)))


def count_messages(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def soon_after(value: dt.datetime | None, expected: dt.datetime, *, within: float = 5.0) -> bool:
    """``value`` is ``expected`` or a moment later: a run's clock moves on from the ``now`` it is given."""
    return value is not None and expected <= value < expected + dt.timedelta(seconds=within)
