"""Consent changes with an audit entry each; bounced addresses stop email until the address changes."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.models import ConsentChange, Profile


def set_consent(session: Session, *, profile: Profile, channel: str, granted: bool, source: str,
                detail: str = "", message_id: int | None = None, user_id: int | None = None,
                now: dt.datetime | None = None) -> bool:
    """Set email or SMS consent; returns False (and writes nothing) when it already had that value."""
    if channel not in ("email", "sms"):
        raise ValueError(f"channel: {channel!r} is not email or sms")
    now = now or utcnow()
    old = bool(profile.email_consent if channel == "email" else profile.sms_consent)
    if old == granted:
        return False
    if channel == "email":
        profile.email_consent, profile.email_consent_at, profile.email_consent_source = granted, now, source
    else:
        profile.sms_consent, profile.sms_consent_at, profile.sms_consent_source = granted, now, source
    session.add(ConsentChange(profile_id=profile.id, channel=channel, old_value=old, new_value=granted,
                              source=source, detail=detail[:500], message_id=message_id, user_id=user_id,
                              changed_at=now))
    session.flush()
    return True


def mark_email_bounced(profile: Profile, *, now: dt.datetime) -> bool:
    """Stop email to the profile's address; True when it was not marked already."""
    if profile.email_bounced_at is not None:
        return False
    profile.email_bounced_at = now
    return True
