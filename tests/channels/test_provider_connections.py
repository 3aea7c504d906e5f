"""Connections to the providers are kept alive and reused, at most one per send thread; one the
provider closed is not reused; a connection dropped after the request left is still ambiguous."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.channels import Channel, Outgoing, make_channels
from crm_segments.config import Settings
from crm_segments.messages.dispatch import dispatch_due
from tests.fakes import FakeProvider, FakeSendGrid, FakeTwilio
from tests.messages.conftest import T0, provider_settings
from tests.messages.helpers import fresh, queue, reachable

THREADS = 24  # more than the Twilio library's own pool keeps (10 for http, CPUs + 4 for https)


def _outgoing(channel: str, n: int) -> Outgoing:
    if channel == "email":
        return Outgoing(n, "email", f"p{n}@example.com", "Hello", subject="Hi", html_body="<p>Hello</p>")
    return Outgoing(n, "sms", "+15551230000", "Hello", status_callback_url=f"https://crm.example.com/s/{n}")


def _channel(name: str, tmp_path: Path, fake: FakeProvider, **overrides: object) -> Channel:
    settings = (provider_settings(tmp_path, sendgrid=fake, **overrides) if isinstance(fake, FakeSendGrid)
                else provider_settings(tmp_path, twilio=fake, **overrides))  # type: ignore[arg-type]
    return make_channels(settings)[name]


@pytest.fixture(params=["email", "sms"])
def provider(request: pytest.FixtureRequest, fake_sendgrid: FakeSendGrid,
             fake_twilio: FakeTwilio) -> tuple[str, FakeProvider]:
    return request.param, fake_sendgrid if request.param == "email" else fake_twilio


def test_messages_in_a_row_go_over_one_connection(provider: tuple[str, FakeProvider], tmp_path: Path) -> None:
    name, fake = provider
    channel = _channel(name, tmp_path, fake)
    for n in range(5):
        assert channel.send(_outgoing(name, n)).provider_message_id
    assert len(fake.messages) == 5
    assert len({request.peer for request in fake.requests}) == 1


def test_concurrent_sends_keep_at_most_one_connection_per_send_thread(
        provider: tuple[str, FakeProvider], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    name, fake = provider
    fake.latency = 0.02  # every thread's call is in flight at once
    channel = _channel(name, tmp_path, fake, send_threads=THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        accepted = list(pool.map(lambda n: channel.send(_outgoing(name, n)), range(8 * THREADS)))
    assert all(answer.provider_message_id for answer in accepted) and len(fake.messages) == 8 * THREADS
    assert len({request.peer for request in fake.requests}) <= THREADS
    # Every thread's connection is kept for the next call, none closed because the pool was full.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")] == []


def test_a_connection_the_provider_closed_is_not_reused(provider: tuple[str, FakeProvider],
                                                        tmp_path: Path) -> None:
    name, fake = provider
    channel = _channel(name, tmp_path, fake)
    closed = fake.close_after_next()
    channel.send(_outgoing(name, 1))
    assert closed.wait(5)
    assert channel.send(_outgoing(name, 2)).provider_message_id  # on a new connection, sent once
    first, second = fake.requests
    assert first.peer != second.peer and len(fake.messages) == 2


@pytest.mark.usefixtures("backend")
def test_a_dropped_sendgrid_connection_is_unknown_and_never_resent(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    channel = make_channels(settings)["email"]
    channel.send(_outgoing("email", 0))  # a kept-alive connection is in the pool
    message = queue(session, reachable())
    fake_sendgrid.drop_next(accept=True)  # SendGrid took it, then the connection broke
    assert dispatch_due(session_factory, settings=settings, now=T0)["unknown"] == 1
    row = fresh(session, message)
    assert (row.status, row.error_code) == ("unknown", "no_answer")
    assert dispatch_due(session_factory, settings=settings, now=T0.replace(hour=23)).claimed == 0
    assert len(fake_sendgrid.requests) == 2
