"""Workflows at scale: a burst of segment entries through to the email provider, and a quote saved
through the API through to its follow-up enrollment.

    python -m benchmarks.run workflow-burst --profiles 10000
    python -m benchmarks.run workflow-quote-api --profiles 100000

Targets (PostgreSQL): 10,000 profiles entering a segment at once have all their first emails
handed to the (fake, loopback) provider within 60 s, rendering included, at least 300 messages/s;
a quote saved through the API is followed by its profile's follow-up enrollment within 5 s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory, utcnow
from crm_segments.models import Enrollment, Message, Profile, Segment, SegmentEvent, SegmentMember, Workflow

BURST = 10_000
BURST_WORKFLOW = "Bench burst"
QUOTE_REQUESTS = 20
FAKE_PROCESSES = 2  # fake SendGrid server processes (each checks every request against the definition)


def _prepare_burst(context: BenchContext) -> None:
    """N reachable profiles who all entered one segment a moment ago, and an active workflow on it."""
    from crm_segments.workflows.editing import create_workflow
    from crm_segments.workflows.lifecycle import set_status

    count = min(context.profiles, BURST)
    now = utcnow()
    with make_session_factory(context.engine)() as session:
        segment = Segment(name=f"Bench burst {time.time_ns()}", kind="static")
        session.add(segment)
        session.flush()
        workflow = create_workflow(session=session, data={
            "name": BURST_WORKFLOW, "trigger": {"type": "segment_entered", "segment": segment.name},
            "steps": [{"key": "welcome", "type": "send_email", "template": "evergreen/welcome"},
                      {"key": "later", "type": "wait", "duration": {"days": 7}}]})
        set_status(session=session, workflow_id=workflow.id, status="active", now=now)
        stamp = time.time_ns()
        ids = session.scalars(insert(Profile).returning(Profile.id), [
            {"external_id": f"burst-{stamp}-{i}", "first_name": f"Burst{i}", "email": f"burst{i}@example.com",
             "email_consent": True, "time_zone": "UTC", "created_at": now, "updated_at": now}
            for i in range(count)]).all()
        at = now + dt.timedelta(seconds=1)
        session.execute(insert(SegmentMember), [{"segment_id": segment.id, "profile_id": i, "entered_at": at}
                                                for i in ids])
        session.execute(insert(SegmentEvent), [{"segment_id": segment.id, "profile_id": i, "kind": "entered",
                                                "occurred_at": at} for i in ids])
        session.commit()


@scenario("workflow-burst", "10,000 profiles enter a segment at once: every first email to the fake SendGrid",
          prepare=_prepare_burst)
def burst(context: BenchContext) -> dict[str, Any]:
    """The scheduler's jobs as they would run at the first tick after the entries: the workflow runner
    (enroll, then queue the first emails, committing every 500) on a thread, and the send job's
    dispatcher on this one, as one scheduler process runs them. The fake SendGrid runs in processes
    of its own (a real provider is another machine) and checks every request against SendGrid's
    OpenAPI definition before answering it, as in the tests."""
    return _burst(context, check_after=False)


@scenario("workflow-burst-checked-after",
          "workflow-burst, with the fake SendGrid checking every request after the timed part",
          prepare=_prepare_burst)
def burst_checked_after(context: BenchContext) -> dict[str, Any]:
    """The same burst, but the fake answers at once and checks every request against the definition
    once the timing has stopped (the run fails if one does not match): the figure without the fake's
    own CPU (2-3 ms of openapi-core per request) on the machine the sender runs on."""
    return _burst(context, check_after=True)


def _burst(context: BenchContext, *, check_after: bool) -> dict[str, Any]:
    from crm_segments.config import MessagingSettings, Settings
    from crm_segments.messages.dispatch import dispatch_all
    from crm_segments.workflows.engine import advance_due, enroll_due
    from tests.fakes.processes import FakeProviderProcesses

    factory = make_session_factory(context.engine)
    with factory() as session:
        workflow_id = session.scalar(select(Workflow.id).where(Workflow.name == BURST_WORKFLOW))
    expected = min(context.profiles, BURST)
    api_key = "SG.bench-key"
    fake = FakeProviderProcesses("sendgrid", processes=FAKE_PROCESSES, check_after=check_after,
                                 api_key=api_key)
    with fake:
        messaging = dataclasses.replace(MessagingSettings(), signing_key="bench-" + "x" * 32,
                                        email_provider="sendgrid", sendgrid_api_key=api_key,
                                        sendgrid_host=fake.url, email_from="Shop <shop@example.com>",
                                        provider_timeout=10.0)
        settings = Settings(database_url=context.database_url, outbox_dir=Path(tempfile.mkdtemp()),
                            public_url="https://crm.example.com", messaging=messaging)
        timings: dict[str, float] = {}
        progress = _Progress(lambda: fake.messages, expected)
        cpu_before = time.process_time()
        started = time.perf_counter()

        def run_workflows() -> None:
            now = utcnow() + dt.timedelta(seconds=2)
            enroll_due(factory, now=now)
            timings["enrolled_seconds"] = time.perf_counter() - started
            advance_due(factory, now=now)
            timings["queued_seconds"] = time.perf_counter() - started

        worker = threading.Thread(target=run_workflows)
        worker.start()
        progress.start(started)
        while fake.messages < expected and time.perf_counter() - started < 300:
            report = dispatch_all(factory, settings=settings, now=utcnow() + dt.timedelta(seconds=2),
                                  workers=messaging.send_threads)
            if not report.claimed:
                time.sleep(0.05)  # the send job's next tick: the workflow runner has not queued more yet
        progress.stop()
        handed_seconds = time.perf_counter() - started
        worker.join()
        cpu_seconds = time.process_time() - cpu_before
        handed, fake_cpu = fake.messages, fake.cpu_seconds
    requests, checked, spec_errors = fake.requests, fake.checked, fake.spec_errors  # all checked now
    samples = fake.spec_error_samples[:3]
    with factory() as session:
        statuses = dict(session.execute(select(Message.status, func.count()).where(
            Message.workflow_id == workflow_id).group_by(Message.status)).all())
    if spec_errors or checked != requests:
        raise AssertionError(f"{requests} requests, {checked} checked against SendGrid's OpenAPI definition, "
                             f"{spec_errors} outside it: {samples}")
    return {"profiles": expected, "handed_to_provider": handed, "provider_requests": requests,
            "checked_against_definition": checked, "checked_after_timing": check_after,
            "spec_errors": spec_errors, "send_threads": messaging.send_threads,
            "fake_processes": FAKE_PROCESSES,
            "enrolled_seconds": round(timings.get("enrolled_seconds", 0), 2),
            "queued_seconds": round(timings.get("queued_seconds", 0), 2),
            "first_handed_seconds": progress.first, "all_handed_seconds": round(handed_seconds, 2),
            "messages_per_second": round(handed / handed_seconds) if handed_seconds else None,
            "sustained_per_second": progress.sustained(),
            "sender_cpu_seconds": round(cpu_seconds, 1),
            "fake_provider_cpu_seconds_timed": round(fake_cpu, 1),
            "statuses": statuses}


class _Progress:
    """Polls the provider's count every 50 ms: when the first message arrived, and the rate between
    10 % and 90 % of them (the sustained rate, without the start-up and the tail)."""

    def __init__(self, count: Callable[[], int], expected: int) -> None:
        self.count, self.expected = count, expected
        self.marks: dict[float, float] = {}
        self.first: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, started: float) -> None:
        self._started = started
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            handed, at = self.count(), time.perf_counter() - self._started
            if handed and self.first is None:
                self.first = round(at, 2)
            for fraction in (0.1, 0.9):
                if handed >= fraction * self.expected and fraction not in self.marks:
                    self.marks[fraction] = at

    def sustained(self) -> int | None:
        if 0.1 not in self.marks or 0.9 not in self.marks or self.marks[0.9] <= self.marks[0.1]:
            return None
        return round(0.8 * self.expected / (self.marks[0.9] - self.marks[0.1]))


def _prepare_quote_api(context: BenchContext) -> None:
    """Demo data, the shipped segments and workflows, and the quote follow-up turned on."""
    from crm_segments.wiring import install_defaults
    from crm_segments.workflows.lifecycle import set_status

    context.ensure_demo_data()
    with make_session_factory(context.engine)() as session:
        install_defaults(session=session)
        workflow = session.scalars(select(Workflow).where(Workflow.key == "quote_follow_up")).one()
        set_status(session=session, workflow_id=workflow.id, status="active", now=utcnow())
        session.commit()


@scenario("workflow-quote-api", "a quote saved through the API: time until its follow-up enrollment exists",
          prepare=_prepare_quote_api)
def quote_api(context: BenchContext) -> dict[str, Any]:
    from crm_segments import create_app
    from crm_segments.accounts.users import create_api_key, create_user

    os.environ.setdefault("CRM_SEGMENTS_INSTANCE_DIR", tempfile.mkdtemp(prefix="crm-bench-"))
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": context.database_url, "SECRET_KEY": "bench-" + "x" * 32})
    factory = make_session_factory(context.engine)
    stamp = time.time_ns()
    with factory() as session:
        user = create_user(session=session, email=f"bench{stamp}@example.com", password="bench-password-1",
                           role="admin")
        _, secret = create_api_key(session=session, email=user.email, name="bench")
        workflow_id = session.scalar(select(Workflow.id).where(Workflow.key == "quote_follow_up"))
        session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    sent_at = (utcnow() - dt.timedelta(days=20)).isoformat()  # old enough to count as not converted
    timings, enrolled = [], 0
    for i in range(QUOTE_REQUESTS):
        profile = client.post("/api/v1/profiles", headers=headers, json={
            "external_id": f"bench-q-{stamp}-{i}", "first_name": "Quinn", "email": f"q{stamp}{i}@example.com",
            "email_consent": True})
        assert profile.status_code == 201, profile.json
        started = time.perf_counter()
        quote = client.post("/api/v1/quotes", headers=headers, json={
            "external_id": f"bench-q-{stamp}-{i}", "profile_id": profile.json["id"],
            "number": f"BQ-{stamp}-{i}", "status": "sent", "total": "950.00", "sent_at": sent_at})
        assert quote.status_code == 201, quote.json
        with factory() as session:  # a fresh connection: the enrollment is committed and visible
            found = session.scalar(select(func.count()).where(
                Enrollment.workflow_id == workflow_id, Enrollment.trigger_record_id == quote.json["id"]))
        timings.append(time.perf_counter() - started)
        enrolled += int(found or 0)
    timings.sort()
    return {"requests": QUOTE_REQUESTS, "enrolled": enrolled,
            "median_ms": round(statistics.median(timings) * 1000, 1),
            "max_ms": round(timings[-1] * 1000, 1)}
