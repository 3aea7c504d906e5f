"""What may hold a message back at dispatch time, checked inside the transaction that marks it sending:
expiry, rendering, address, consent, quiet hours in the recipient's zone, and frequency caps.

Everything a batch needs from the database (profiles, owners, records, recent sends) is loaded for the
whole batch beforehand (``starting.py``), so a check is plain Python on loaded rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crm_segments import email_addresses
from crm_segments.config import Settings
from crm_segments.models import Message, Profile
from crm_segments.templates.compose import compose
from crm_segments.templates.rendering import TemplateProblem
from crm_segments.templates.template_store import TemplateCache

from .caps import FrequencyCaps
from .send_windows import next_opening, zone


@dataclass(frozen=True)
class Hold:
    status: str                        # pending (wait until ``until``), suppressed, skipped or failed
    reason: str
    until: dt.datetime | None = None


def expired(message: Message, now: dt.datetime) -> bool:
    return message.expires_at is not None and message.expires_at <= now


def check(session: Session, message: Message, profile: Profile, *, settings: Settings, base_url: str,
          now: dt.datetime, caps: FrequencyCaps, templates: TemplateCache | None = None,
          rendered: dict[str, str] | TemplateProblem | None = None) -> Hold | None:
    """None when the message may go now, else why not (and until when, for a wait). ``rendered``: the
    message's parts or problem, when its part was rendered at once (``compose.render_messages``).

    A message that may go counts against its profile's frequency cap in ``caps`` at once."""
    if expired(message, now):
        return Hold("skipped", "expired before it could be sent")
    try:
        compose(session, message, profile, settings=settings, base_url=base_url, now=now, templates=templates,
                rendered=rendered)
    except TemplateProblem as exc:
        return Hold("failed", f"template {message.template_key}: {exc}"[:200])
    if not message.to_address:
        return Hold("suppressed", "no email address" if message.channel == "email" else "no phone number")
    if message.channel == "email" and (refusal := _unsendable_address(message)):
        return Hold("suppressed", refusal)
    to_staff = message.category == "test" or message.recipient_user_id is not None
    if not to_staff and (refusal := _consent_refusal(message, profile)):
        return Hold("suppressed", refusal)
    if not to_staff and (opening := _quiet_until(message, profile, settings, now)):
        local = opening.astimezone(zone(profile.time_zone, settings.messaging.default_time_zone))
        return Hold("pending", f"quiet hours until {local:%H:%M} local time", opening)
    if free := caps.free_at(message):
        return Hold("pending", "frequency cap reached", free)
    caps.count(message)
    return None


def _unsendable_address(message: Message) -> str | None:
    """An address stored before the provider's rule was checked where addresses come in: its domain
    goes in IDNA form; one the provider cannot take is suppressed here rather than sent to fail."""
    address = message.to_address or ""
    try:
        sendable = email_addresses.sendable(address)
    except email_addresses.AddressRefused as exc:
        return f"email address {address} {exc}"[:200]
    if sendable != address:
        message.to_address = sendable
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
