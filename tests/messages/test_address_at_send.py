"""Addresses stored before the provider's rule (or written by the host app in SQL) are checked again at
send time: an internationalised domain goes in IDNA form; a local part the provider cannot take is
suppressed with the reason, never sent to fail. The fake SendGrid refuses what its definition's
``format: email`` refuses, and its fixture fails the test on any such request."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.messages.dispatch import dispatch_due
from crm_segments.messages.template_test_sends import send_test
from crm_segments.templates.template_store import get_template
from tests.factories import UserFactory
from tests.fakes import FakeSendGrid

from .conftest import BASE_URL, T0
from .helpers import fresh, queue, reachable

pytestmark = pytest.mark.usefixtures("backend")


def test_a_stored_non_ascii_local_part_is_suppressed_with_the_reason(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    legacy = queue(session, reachable(email="josé@example.com"))
    fine = queue(session, reachable(email="ann@example.com"))
    report = dispatch_due(session_factory, settings=settings, now=T0)
    assert (report["suppressed"], report["sent"]) == (1, 1)
    assert fake_sendgrid.recipients() == ["ann@example.com"] and len(fake_sendgrid.requests) == 1
    row = fresh(session, legacy)
    assert (row.status, row.attempts, row.provider_message_id) == ("suppressed", 0, None)
    assert "josé@example.com" in (row.status_reason or "") and "'é'" in (row.status_reason or "")
    assert fresh(session, fine).status == "sent"


def test_a_stored_idn_domain_is_sent_in_its_idna_form(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    message = queue(session, reachable(email="anna@bücher.example"))
    assert dispatch_due(session_factory, settings=settings, now=T0)["sent"] == 1
    assert fake_sendgrid.recipients() == ["anna@xn--bcher-kva.example"]
    assert fresh(session, message).to_address == "anna@xn--bcher-kva.example"


def test_a_test_send_to_an_address_the_provider_cannot_take_is_refused_at_once(session: Session) -> None:
    user = UserFactory(email="zoë@example.com")  # stored before the rule
    profile = reachable()
    source = get_template(session, "evergreen/welcome")
    assert source is not None
    with pytest.raises(ValidationFailed) as refused:
        send_test(session, source, user=user, profile=profile, base_url=BASE_URL)
    [error] = refused.value.errors
    assert error.field == "to_address" and "'ë'" in error.message
