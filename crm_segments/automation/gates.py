"""What may hold a message back at dispatch time, checked inside the transaction that marks it sending:
expiry, rendering, address, consent, quiet hours in the recipient's zone, and frequency caps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.config import FrequencyCap, Settings
from crm_segments.models import Message, Profile

from .compose import compose
from .rendering import TemplateProblem
from .send_windows import next_opening, zone
from .template_store import TemplateCache

CAPPED_CATEGORIES = ("marketing",)  # transactional and test messages are exempt
# Statuses that mean the message went out (or may have): they count against a frequency cap.
COUNTS_AS_SENT = ("sending", "unknown", "sent", "delivered", "opened", "clicked", "unsubscribed",
                  "spam_report", "bounced")


@dataclass(frozen=True)
class Hold:
    status: str                        # pending (wait until ``until``), suppressed, skipped or failed
    reason: str
    until: dt.datetime | None = None


def check(session: Session, message: Message, profile: Profile, *, settings: Settings, base_url: str,
          now: dt.datetime, templates: TemplateCache | None = None) -> Hold | None:
    """None when the message may go now, else why not (and until when, for a wait)."""
    if message.expires_at is not None and message.expires_at <= now:
        return Hold("skipped", "expired before it could be sent")
    try:
        compose(session, message, profile, settings=settings, base_url=base_url, now=now, templates=templates)
    except TemplateProblem as exc:
        return Hold("failed", f"template {message.template_key}: {exc}"[:200])
    if not message.to_address:
        return Hold("suppressed", "no email address" if message.channel == "email" else "no phone number")
    to_staff = message.category == "test" or message.recipient_user_id is not None
    if not to_staff and (refusal := _consent_refusal(message, profile)):
        return Hold("suppressed", refusal)
    if not to_staff and (opening := _quiet_until(message, profile, settings, now)):
        local = opening.astimezone(zone(profile.time_zone, settings.messaging.default_time_zone))
        return Hold("pending", f"quiet hours until {local:%H:%M} local time", opening)
    if message.category in CAPPED_CATEGORIES and (free := _cap_until(session, message, settings, now)):
        return Hold("pending", "frequency cap reached", free)
    return None


def _consent_refusal(message: Message, profile: Profile) -> str | None:
    if message.channel == "email":
        if not profile.email_consent:
            return "no email consent"
        if profile.email_bounced_at is not None:
            return "email address bounced or reported spam"
        return None
    return None if profile.sms_consent else "no SMS consent"


def _quiet_until(message: Message, profile: Profile, settings: Settings,
                 now: dt.datetime) -> dt.datetime | None:
    messaging = settings.messaging
    window = messaging.email_send_window if message.channel == "email" else messaging.sms_send_window
    return next_opening(now, window, zone(profile.time_zone, messaging.default_time_zone))


def _cap(message: Message, settings: Settings) -> FrequencyCap | None:
    messaging = settings.messaging
    return messaging.email_frequency_cap if message.channel == "email" else messaging.sms_frequency_cap


def _cap_until(session: Session, message: Message, settings: Settings,
               now: dt.datetime) -> dt.datetime | None:
    """When the profile's cap on this channel frees up, or None when it is not reached."""
    cap = _cap(message, settings)
    if cap is None:
        return None
    count, oldest = session.execute(
        select(func.count(), func.min(Message.attempted_at)).where(
            Message.profile_id == message.profile_id, Message.channel == message.channel,
            Message.category.in_(CAPPED_CATEGORIES), Message.id != message.id,
            Message.status.in_(COUNTS_AS_SENT), Message.attempted_at > now - cap.window,
        )).one()
    if count < cap.limit or oldest is None:
        return None
    return max(oldest + cap.window, now + dt.timedelta(minutes=1))
