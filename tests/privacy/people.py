"""A person with data in every table that can hold some, the way the product writes it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from crm_segments.channels.local import outbox_path
from crm_segments.delivery.twilio_events import record_inbound
from crm_segments.models import (
    BackgroundTask,
    BulkOperation,
    BulkOperationItem,
    ConsentChange,
    Enrollment,
    EnrollmentStep,
    JobTagSuppression,
    Message,
    MessageEvent,
    OpportunityTagSuppression,
    Profile,
    ProfileTagSuppression,
    QuoteTagSuppression,
    RfmCutoff,
    RfmScore,
    Segment,
    SegmentEvent,
    SegmentMember,
    Tag,
    Workflow,
)
from crm_segments.tagging.manual import add_tag
from tests.factories import (
    JobFactory,
    JobLineFactory,
    JobTagFactory,
    OpportunityFactory,
    OpportunityTagFactory,
    ProfileFactory,
    QuoteFactory,
    QuoteLineFactory,
    SupportTicketFactory,
    TagFactory,
)

T0 = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)


@dataclass
class Shared:
    """What belongs to no one: a tag, a segment, a workflow."""

    tag: Tag
    segment: Segment
    workflow: Workflow


def shared(session: Session) -> Shared:
    segment = Segment(name="Customers", kind="static")
    workflow = Workflow(name="Welcome", trigger_type="segment_entered", status="active")
    session.add_all([segment, workflow])
    session.flush()
    return Shared(TagFactory(name="Warm"), segment, workflow)


@dataclass
class Person:
    profile: Profile
    names: tuple[str, ...]  # values that name the person: none may remain after the erasure
    files: list[Path]


def person(session: Session, n: int, common: Shared, outbox_dir: Path) -> Person:
    email, phone, external_id = f"zoe.quill{n}@example.org", f"+1555010{n:04d}", f"HOST-CUST-{n:05d}"
    first, last = f"Zoe{n}", f"Quillfeather{n}"
    profile = ProfileFactory(email=email, phone=phone, external_id=external_id, first_name=first,
                             last_name=last, sms_consent=True, custom_attributes={"nickname": f"Zed{n}"})
    pid = profile.id
    quote, job, opportunity = QuoteFactory(profile=profile), JobFactory(profile=profile), \
        OpportunityFactory(profile=profile)
    QuoteLineFactory(quote=quote, description=f"Kitchen for {first} {last}")
    JobLineFactory(job=job)
    SupportTicketFactory(profile=profile, subject=f"Call {phone}", body=f"Write to {email}")
    session.add(RfmScore(profile_id=pid, recency=5, frequency=4, monetary=3))
    session.add(RfmCutoff(score="frequency", quintile=n, buyers=2, profile_id=pid, purchase_count=1,
                          total_spent=0))  # the score row at a cut-off, copied
    # Tags, their history and suppressions, a bulk removal kept for undo (profile and quote).
    add_tag(session=session, entity_type="profile", entity_id=pid, tag_id=common.tag.id, now=T0)
    add_tag(session=session, entity_type="quote", entity_id=quote.id, tag_id=common.tag.id, now=T0)
    JobTagFactory(job=job, tag=common.tag), OpportunityTagFactory(opportunity=opportunity, tag=common.tag)
    session.add_all([model(entity_id=entity_id, tag_id=common.tag.id) for model, entity_id in (
        (ProfileTagSuppression, pid), (QuoteTagSuppression, quote.id), (JobTagSuppression, job.id),
        (OpportunityTagSuppression, opportunity.id))])
    for entity_type, entity_id, selection in (("profile", pid, {"q": email}), ("quote", quote.id, None)):
        described = f"Profiles matching q {email!r}" if selection else "ids"
        operation = BulkOperation(action="remove", entity_type=entity_type, selection_kind="filter",
                                  selection_description=described, selection=selection,
                                  tags=[{"id": common.tag.id, "name": "Warm"}])
        session.add(operation)
        session.flush()
        session.add(BulkOperationItem(operation_id=operation.id, tag_id=common.tag.id, entity_id=entity_id))
    # Segments and workflows.
    segment_id = common.segment.id
    session.add_all([SegmentMember(segment_id=segment_id, profile_id=pid, entered_at=T0),
                     SegmentEvent(segment_id=segment_id, profile_id=pid, kind="entered", occurred_at=T0)])
    enrollment = Enrollment(workflow_id=common.workflow.id, profile_id=pid, trigger_key=f"segment:{n}")
    session.add(enrollment)
    session.flush()
    # Messages, their outbox files and delivery events; texts from the person's number.
    files = []
    for channel, to in (("email", email), ("sms", phone)):
        message = Message(dedupe_key=f"test:{n}:{channel}", profile_id=pid, channel=channel,
                          category="marketing", template_key="marketing/hello", context={"first_name": first},
                          to_address=to, subject=f"Hello {first}", text_body=f"Hello {first} {last}",
                          status="delivered", provider="local", provider_message_id=f"local-{n}-{channel}",
                          enrollment_id=enrollment.id)
        session.add(message)
        session.flush()
        session.add(MessageEvent(provider="local", provider_event_id=f"local:{n}:{channel}",
                                 message_id=message.id, profile_id=pid, event="delivered", occurred_at=T0,
                                 payload={"to": to}))
        session.add(EnrollmentStep(enrollment_id=enrollment.id, step_key=f"send_{channel}",
                                   step_type=f"send_{channel}", outcome="queued", message_id=message.id,
                                   detail=f"to {to}"))
        path = outbox_path(outbox_dir, message.id, channel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"To: {to}\n\nHello {first} {last}\n")
        files.append(path)
    record_inbound(session, {"MessageSid": f"SMin{n}", "From": phone, "To": "+15550000000",
                             "Body": f"This is {first}, call me"}, now=T0)
    record_inbound(session, {"MessageSid": f"SMstop{n}", "From": phone, "To": "+15550000000", "Body": "STOP"},
                   now=T0)
    session.add(MessageEvent(provider="sendgrid", provider_event_id=f"sendgrid:stray{n}", event="bounce",
                             occurred_at=T0, detail="mailbox full", payload={"email": email.upper()}))
    session.add(ConsentChange(profile_id=pid, channel="email", old_value=False, new_value=True, source="form",
                              detail=f"signed up as {email}"))
    # Background work that names the person: a queued import and a finished one.
    session.add_all([
        BackgroundTask(kind="import", subject="import", status="queued", params={"kind": "profiles"},
                       payload=f"external_id,email\r\n{external_id},{email}\r\n".encode()),
        BackgroundTask(kind="import", subject="import", status="done", params={"kind": "profiles"},
                       outcome="1 row failed", details={"errors": [f"row 2: {phone} is not valid"]}),
    ])
    session.flush()
    return Person(profile, (email, phone, external_id, f"{first} {last}", last, f"Zed{n}"), files)
