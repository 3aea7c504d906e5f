"""Channels hand one message to a provider: SendGrid (email), Twilio (SMS) or the local outbox."""

from __future__ import annotations

from functools import lru_cache

from crm_segments.config import Settings

from .base import Accepted, AmbiguousError, Channel, Outgoing, PermanentError, RetryableError, SendError

__all__ = ["Accepted", "AmbiguousError", "Channel", "Outgoing", "PermanentError", "RetryableError",
           "SendError", "make_channels"]


@lru_cache(maxsize=8)
def make_channels(settings: Settings) -> dict[str, Channel]:
    """The channel for each of "email" and "sms", as the settings choose (clients are reused)."""
    from .local import LocalOutboxChannel
    from .provider_logs import configure as configure_provider_logs

    messaging = settings.messaging
    configure_provider_logs(messaging.provider_log_level)
    local = LocalOutboxChannel(outbox_dir=settings.outbox_dir, email_from=messaging.email_from)
    channels: dict[str, Channel] = {"email": local, "sms": local}
    if messaging.email_provider == "sendgrid" and messaging.sendgrid_api_key:
        from .sendgrid import SendGridChannel

        channels["email"] = SendGridChannel(api_key=messaging.sendgrid_api_key,
                                            email_from=messaging.email_from,
                                            host=messaging.sendgrid_host, timeout=messaging.provider_timeout,
                                            connections=messaging.send_threads)
    if messaging.sms_provider == "twilio" and messaging.twilio_account_sid and messaging.twilio_auth_token:
        from .twilio import TwilioChannel

        channels["sms"] = TwilioChannel(account_sid=messaging.twilio_account_sid,
                                        auth_token=messaging.twilio_auth_token,
                                        from_number=messaging.twilio_from_number,
                                        messaging_service_sid=messaging.twilio_messaging_service_sid,
                                        api_url=messaging.twilio_api_url, timeout=messaging.provider_timeout,
                                        connections=messaging.send_threads)
    return channels
