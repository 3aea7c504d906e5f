"""Queueing: one row per dedupe key, whatever is asked twice; cancelling and re-queueing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import Conflict
from crm_segments.messages.outbox import cancel_pending, requeue_message, send_test_message
from tests.factories import UserFactory

from .conftest import T0
from .helpers import count_messages, fresh, queue, reachable

pytestmark = pytest.mark.usefixtures("backend")


def test_enqueue_twice_gives_one_row(session: Session) -> None:
    profile = reachable()
    first = queue(session, profile, key="enrollment:1:step:first_email", workflow_id=3, enrollment_id=1,
                  context={"record_type": "quote", "record_id": 9, "coupon": "SPRING"})
    second = queue(session, profile, key="enrollment:1:step:first_email", template="sales/quote_last_chance")
    assert second.id == first.id and count_messages(session) == 1
    assert second.template_key == "evergreen/welcome"  # the first request wins
    assert (first.status, first.record_type, first.record_id) == ("pending", "quote", 9)
    assert first.next_attempt_at == T0
    assert first.context["coupon"] == "SPRING"


def test_bad_channel_or_category_is_refused(session: Session) -> None:
    profile = reachable()
    with pytest.raises(ValueError, match="channel"):
        queue(session, profile, channel="fax", template="x")
    with pytest.raises(ValueError, match="category"):
        queue(session, profile, category="spam")
    assert count_messages(session) == 0


def test_cancel_pending_skips_only_what_was_not_handed_over(session: Session) -> None:
    profile = reachable()
    waiting = queue(session, profile, enrollment_id=5)
    handed = queue(session, profile, enrollment_id=5)
    handed.status = "sent"
    other = queue(session, profile, enrollment_id=6)
    assert cancel_pending(session, enrollment_id=5, reason="goal met", now=T0) == 1
    assert fresh(session, waiting).status == "skipped" and fresh(session, waiting).status_reason == "goal met"
    assert fresh(session, handed).status == "sent" and fresh(session, other).status == "pending"


def test_requeue_only_failed_or_unknown(session: Session) -> None:
    message = queue(session, reachable())
    with pytest.raises(Conflict):
        requeue_message(session, message.id)
    message.status, message.attempts = "unknown", 3
    later = T0 + dt.timedelta(hours=1)
    again = requeue_message(session, message.id, now=later)
    assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 0, later)


def test_test_send_goes_to_the_user_with_a_fresh_key(session: Session) -> None:
    user = UserFactory(email="seller@example.com")
    profile = reachable()
    first = send_test_message(session, template="evergreen/welcome", channel="email", profile_id=profile.id,
                              user_id=user.id, to_address=user.email)
    second = send_test_message(session, template="evergreen/welcome", channel="email", profile_id=profile.id,
                               user_id=user.id, to_address=user.email)
    assert first.id != second.id
    assert (first.category, first.to_address, first.recipient_user_id) == ("test", user.email, user.id)
