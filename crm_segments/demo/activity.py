"""Demo message activity for a seeded database: what a few months of workflows would have left behind.

The demo seed writes customers and their records; the home dashboard also shows messages (sent,
delivered, opened, clicked), conversions and quotes being followed up. This adds them: messages to
demo profiles over the last ``days`` days with typical outcomes, enrollments of the shipped quote
follow-up for sent quotes, and enrollments that met their goal after a message. Small volumes only
(screenshots, browser tests); rows are written through the models.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, Message, Profile, Quote, Segment, SegmentSizePoint, Workflow

FOLLOW_UP = "quote_follow_up"


@dataclass(frozen=True)
class Activity:
    messages: int
    follow_ups: int
    conversions: int


def _message(profile: Profile, workflow: Workflow, number: int, sent_at: dt.datetime, rng: random.Random,
             enrollment_id: int | None = None) -> Message:
    outcome = rng.random()
    bounced = outcome < 0.03
    opened = not bounced and outcome < 0.45
    clicked = opened and outcome < 0.15
    minutes = dt.timedelta(minutes=rng.randint(1, 300))
    return Message(
        dedupe_key=f"demo-activity:{number}", workflow_id=workflow.id, enrollment_id=enrollment_id,
        step_key=workflow.steps[0]["key"] if workflow.steps else None, profile_id=profile.id,
        channel="email", category="marketing", template_key="evergreen/welcome", to_address=profile.email,
        subject="Hello", text_body="Hello", rendered_at=sent_at, attempted_at=sent_at, provider="local",
        status="bounced" if bounced else "clicked" if clicked else "opened" if opened else "delivered",
        attempts=1, next_attempt_at=sent_at, sent_at=sent_at,
        delivered_at=None if bounced else sent_at + dt.timedelta(seconds=30),
        opened_at=sent_at + minutes if opened else None,
        clicked_at=sent_at + minutes + dt.timedelta(minutes=2) if clicked else None,
        failed_at=sent_at + dt.timedelta(seconds=30) if bounced else None,
        created_at=sent_at, updated_at=sent_at,
    )


def add_demo_activity(session: Session, *, now: dt.datetime, days: int = 90, per_day: int = 40,
                      seed: int = 1) -> Activity:
    """Add the activity; the caller commits. Needs demo profiles and the shipped workflows."""
    rng = random.Random(seed)
    workflows = list(session.scalars(select(Workflow).order_by(Workflow.id)))
    profiles = list(session.scalars(select(Profile).where(Profile.email.is_not(None))
                                    .order_by(Profile.id).limit(500)))
    if not workflows or not profiles:
        return Activity(0, 0, 0)
    follow_up = next((w for w in workflows if w.key == FOLLOW_UP), workflows[0])
    others = [w for w in workflows if w.id != follow_up.id] or workflows
    messages = conversions = 0
    for back in range(days, -1, -1):
        day = now - dt.timedelta(days=back)
        for _ in range(max(per_day + rng.randint(-per_day // 3, per_day // 3), 0)):
            sent_at = day.replace(hour=rng.randint(7, 19), minute=rng.randint(0, 59))
            if sent_at > now:
                continue
            profile, workflow = rng.choice(profiles), rng.choice(others)
            converts = rng.random() < 0.04 and sent_at + dt.timedelta(days=2) <= now
            enrollment = None
            if converts:
                enrollment = Enrollment(workflow_id=workflow.id, profile_id=profile.id,
                                        trigger_key=f"demo-activity:{messages}", status="goal_met",
                                        enrolled_at=sent_at - dt.timedelta(hours=1),
                                        goal_met_at=sent_at + dt.timedelta(days=rng.randint(1, 2)))
                session.add(enrollment)
                session.flush()
                conversions += 1
            session.add(_message(profile, workflow, messages, sent_at, rng,
                                 enrollment.id if enrollment else None))
            messages += 1
    follow_ups = _follow_sent_quotes(session, follow_up, now=now, rng=rng)
    session.flush()
    return Activity(messages, follow_ups, conversions)


def _follow_sent_quotes(session: Session, workflow: Workflow, *, now: dt.datetime, rng: random.Random,
                        limit: int = 12) -> int:
    """Enroll the oldest sent quotes (one a profile) in the quote follow-up, at various steps."""
    quotes = session.execute(select(Quote.id, Quote.profile_id, Quote.sent_at)
                             .where(Quote.status == "sent").order_by(Quote.sent_at).limit(limit * 3))
    keys = [s["key"] for s in workflow.steps if s.get("type") != "wait"] or [None]
    seen: set[int] = set()
    for quote_id, profile_id, sent_at in quotes:
        if profile_id in seen or len(seen) >= limit:
            continue
        seen.add(profile_id)
        session.add(Enrollment(
            workflow_id=workflow.id, profile_id=profile_id, trigger_key=f"demo-quote:{quote_id}",
            trigger_record_type="quote", trigger_record_id=quote_id, status="active",
            current_step_key=rng.choice(keys), next_run_at=now + dt.timedelta(hours=rng.randint(2, 72)),
            enrolled_at=sent_at or now,
        ))
    return len(seen)


def add_size_history(session: Session, *, now: dt.datetime, days: int = 30, seed: int = 1) -> int:
    """Daily sizes for the ``days`` before now, growing towards each segment's current size, as if
    the segments had been refreshed every day; returns how many points were written."""
    rng = random.Random(seed)
    written = 0
    for segment_id, members in session.execute(select(Segment.id, Segment.member_count)
                                               .where(Segment.member_count > 0)):
        size = members
        for back in range(1, days + 1):
            size = max(round(size * (1 - rng.uniform(-0.01, 0.03))), 0)  # a little smaller each day back
            session.add(SegmentSizePoint(segment_id=segment_id, size=size,
                                         measured_at=now - dt.timedelta(days=back, hours=rng.randint(0, 3))))
            written += 1
    session.flush()
    return written
