"""The shipped workflows: valid files, an idempotent installer, reset, and the quote follow-up run
end to end."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Message, Segment, Workflow
from crm_segments.workflows.editing import update_workflow
from crm_segments.workflows.engine import advance_due
from crm_segments.workflows.files import install_shipped, reset_to_shipped, to_definition
from crm_segments.workflows.lifecycle import set_status
from crm_segments.workflows.triggers import enroll_from_events
from tests.factories import JobFactory, ProfileFactory, QuoteFactory, UserFactory

from .helpers import T0, enrollments, enter, make_segment

pytestmark = pytest.mark.usefixtures("backend")
SHIPPED_SEGMENTS = {"quoted_not_converted": "Quoted, not converted", "new_customers": "New Customers",
                    "rfm_high_value_churned": "High Value Churned"}


@pytest.fixture
def segments(session: Session) -> dict[str, Segment]:
    """The shipped segments the workflows name (made here, so these tests stand on their own)."""
    found = {s.key: s for s in session.scalars(select(Segment).where(Segment.key.in_(SHIPPED_SEGMENTS)))}
    return {key: found.get(key) or make_segment(session, name=f"{name} (test)", key=key)
            for key, name in SHIPPED_SEGMENTS.items()}


def _by_key(session: Session) -> dict[str | None, Workflow]:
    return {w.key: w for w in session.scalars(select(Workflow))}


def test_installer_creates_drafts_once_and_keeps_edits(session: Session,
                                                       segments: dict[str, Segment]) -> None:
    install_shipped(session)
    install_shipped(session)
    shipped = _by_key(session)
    assert set(shipped) >= {"quote_follow_up", "welcome", "win_back", "review_request"}
    follow_up = shipped["quote_follow_up"]
    assert (follow_up.status, follow_up.is_builtin) == ("draft", True)
    assert [s["type"] for s in follow_up.steps][:4] == ["send_email", "wait", "wait", "send_sms"]

    edited = to_definition(follow_up)
    edited["steps"][1]["duration"] = {"days": 5}
    update_workflow(session=session, workflow_id=follow_up.id, data=edited)
    install_shipped(session)
    assert follow_up.steps[1]["duration"]["days"] == 5  # the admin's edit stays
    reset_to_shipped(session=session, workflow_id=follow_up.id)
    assert follow_up.steps[1]["duration"]["days"] == 3


def test_a_missing_segment_is_named_with_the_file(session: Session) -> None:
    with pytest.raises(ValidationFailed) as failed:
        install_shipped(session)
    assert "quote_follow_up.yaml: trigger.segment" in {e.field for e in failed.value.errors}
    assert session.scalars(select(Workflow)).first() is None


def test_quote_follow_up_end_to_end(session: Session, session_factory: sessionmaker[Session],
                                    segments: dict[str, Segment]) -> None:
    install_shipped(session)
    workflow = _by_key(session)["quote_follow_up"]
    set_status(session=session, workflow_id=workflow.id, status="active", now=T0)
    owner = UserFactory()
    customer = ProfileFactory(owner_id=owner.id, time_zone="America/New_York", email="c@example.com")
    quote = QuoteFactory(profile=customer, status="sent", sent_at=T0 - dt.timedelta(days=10))
    enter(session, segments["quoted_not_converted"], customer, at=T0 + dt.timedelta(minutes=1))
    enroll_from_events(session, now=T0 + dt.timedelta(minutes=2))
    advance_due(session_factory, now=T0 + dt.timedelta(minutes=2))

    [enrollment] = enrollments(session, workflow)
    assert (enrollment.trigger_record_type, enrollment.trigger_record_id) == ("quote", quote.id)
    first = session.scalars(select(Message).where(Message.workflow_id == workflow.id)).one()
    assert (first.template_key, first.record_type, first.record_id) == (
        "sales/quote_follow_up", "quote", quote.id)

    # Three days later (a Thursday, 09:02 UTC) it waits for 10:00 on a weekday in New York.
    advance_due(session_factory, now=T0 + dt.timedelta(days=3, minutes=2))
    [enrollment] = enrollments(session, workflow)
    assert enrollment.next_run_at == dt.datetime(2024, 6, 6, 14, 0, tzinfo=dt.UTC)
    advance_due(session_factory, now=dt.datetime(2024, 6, 6, 14, 0, tzinfo=dt.UTC))
    sent = list(session.scalars(select(Message.template_key).where(Message.workflow_id == workflow.id)
                                .order_by(Message.id)))
    assert sent == ["sales/quote_follow_up", "sales/quote_reminder"]

    JobFactory(profile=customer, created_at=dt.datetime(2024, 6, 7, tzinfo=dt.UTC))
    advance_due(session_factory, now=dt.datetime(2024, 6, 12, tzinfo=dt.UTC))
    [enrollment] = enrollments(session, workflow)
    assert enrollment.status == "goal_met"
    assert len(session.scalars(select(Message).where(Message.workflow_id == workflow.id)).all()) == 2


def test_init_db_defaults_install_the_workflows_on_the_shipped_segments(session: Session) -> None:
    from crm_segments.wiring import install_defaults

    install_defaults(session=session)
    install_defaults(session=session)
    shipped = _by_key(session)
    segment_keys = {w.key: session.get(Segment, w.trigger_segment_id).key  # type: ignore[union-attr]
                    for w in shipped.values() if w.trigger_segment_id}
    assert segment_keys == {"quote_follow_up": "quoted_not_converted", "welcome": "new_customers",
                            "win_back": "rfm_high_value_churned"}
    assert shipped["review_request"].trigger_config["record"] == "job"
