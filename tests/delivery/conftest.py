"""The fake providers and the settings that point at them, as for the messaging tests."""

from tests.messages.conftest import fake_sendgrid, fake_twilio, sendgrid_signer, settings

__all__ = ["fake_sendgrid", "fake_twilio", "sendgrid_signer", "settings"]
