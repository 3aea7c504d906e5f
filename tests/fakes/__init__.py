"""Fake SendGrid and Twilio servers for tests and benchmarks: the official client libraries talk to
them over HTTP on 127.0.0.1; every request is checked against the providers' OpenAPI definitions."""

from .sendgrid import FakeSendGrid
from .server import Blocker, FakeProvider, Received
from .twilio import FakeTwilio

__all__ = ["Blocker", "FakeProvider", "FakeSendGrid", "FakeTwilio", "Received"]
