"""A test send of a saved template to a user: rendered for a real profile now (so a test that cannot
render is refused at once), then queued like any message."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments import email_addresses
from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Message, Profile, User
from crm_segments.templates.template_preview import preview_template
from crm_segments.templates.template_store import TemplateSource

from .outbox import send_test_message


def send_test(session: Session, source: TemplateSource, *, user: User, profile: Profile | None,
              base_url: str, to_address: str | None = None, record_type: str | None = None,
              record_id: int | None = None) -> Message:
    """Queue a test message of the saved template, rendered for a real profile, to ``user``: the
    user's email (or ``to_address``, a phone number for SMS). It is rendered here first, so a test
    that cannot render is refused now, not failed later. A test message is exempt from consent, quiet
    hours and frequency caps and never counts toward a profile's cap."""
    address = (to_address or "").strip() or (user.email if source.channel == "email" else "")
    if source.channel == "sms" and not _phone(address):
        raise ValidationFailed([FieldError("to_address", "a test SMS needs your phone number, "
                                                         "e.g. +15551234567")])
    if not address:
        raise ValidationFailed([FieldError("to_address", "no address to send the test to")])
    if source.channel == "email":
        try:  # one the provider cannot take is refused now rather than sent to fail
            address = email_addresses.normalize(address) if (to_address or "").strip() \
                else email_addresses.sendable(address)
        except email_addresses.AddressRefused as exc:
            raise ValidationFailed([FieldError("to_address", f"{address} {exc}")]) from None
    rendered = preview_template(session, source, profile=profile, base_url=base_url, record_type=record_type,
                                record_id=record_id)
    record_type, record_id = rendered.record_type, rendered.record_id
    record = (record_type, record_id) if record_type is not None and record_id is not None else None
    return send_test_message(session, template=source.key, channel=source.channel,
                             profile_id=rendered.profile.id, user_id=user.id, to_address=address,
                             record=record)


def _phone(text: str) -> bool:
    digits = text[1:] if text.startswith("+") else ""
    return digits.isdigit() and 8 <= len(digits) <= 15
