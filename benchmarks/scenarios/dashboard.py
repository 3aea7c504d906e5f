"""The home dashboard, the RFM grid, the pages that show RFM scores and acquisition sources, the
profiles list with its total and a profile page with its activity timeline, timed through the Flask
test client (server time per request, as a browser would wait for the HTML).

    python -m benchmarks.run dashboard-pages --profiles 1000000 --database-url postgresql://...

Set-up (untimed): demo data; every built-in segment refreshed twice (a first fill dated two days ago,
then a refresh now, so today's entries are a day's changes rather than the first fill); 90 days of
message activity, ``MESSAGES_PER_PROFILE`` messages a profile with delivery, opens and clicks, some
from workflow enrollments that met their goal. Target: every page under 500 ms at 1M profiles.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory, utcnow
from crm_segments.models import Message, Profile, RfmScore, Segment, SegmentEvent, User, Workflow
from crm_segments.segments.prebuilt import install_builtin_segments
from crm_segments.segments.refresh import refresh_many

MESSAGES_PER_PROFILE = 0.3
CONVERTED = 20_000  # enrollments that met their goal after a message, spread over 90 days
RUNS = 7  # requests per page; the first warms caches and is left out
PASSWORD = "bench-password-1"
DEMO_WORKFLOW = "Bench dashboard workflow"


def _activity(session: Session, profiles: int) -> None:
    """Messages over the last 90 days (one dispatcher's worth of statuses) and converted enrollments."""
    workflow = Workflow(name=DEMO_WORKFLOW, trigger_type="segment_entered", status="active",
                        steps=[{"key": "first_email", "type": "send_email", "template": "evergreen/welcome"}])
    session.add(workflow)
    session.flush()
    params = {"profiles": profiles, "converted": CONVERTED, "workflow": workflow.id,
              "messages": int(profiles * MESSAGES_PER_PROFILE)}
    session.execute(text("""
        INSERT INTO crm_workflow_enrollments (workflow_id, profile_id, trigger_key, status,
                                              workflow_version, enrolled_at, goal_met_at, attempts)
        SELECT :workflow, 1 + (g::bigint * 7919) % :profiles, 'bench:' || g, 'goal_met', 1,
               now() - (g::float / :converted) * interval '90 days' - interval '2 days',
               now() - (g::float / :converted) * interval '90 days', 0
        FROM generate_series(1, :converted) AS g
    """), params)
    session.execute(text("""
        INSERT INTO crm_messages (dedupe_key, workflow_id, enrollment_id, step_key, profile_id, channel,
            category, template_key, context, text_body, status, attempts, next_attempt_at, provider,
            sent_at, delivered_at, opened_at, clicked_at, failed_at, created_at, updated_at)
        SELECT 'bench-dashboard:' || g, e.workflow_id, e.id,
            CASE WHEN e.id IS NULL THEN NULL ELSE 'first_email' END,
            COALESCE(e.profile_id, 1 + (g::bigint * 104729) % :profiles),
            CASE WHEN g % 5 = 0 THEN 'sms' ELSE 'email' END,
            'marketing', 'evergreen/welcome', '{}', 'Hello',
            CASE WHEN g % 50 = 0 THEN 'bounced' WHEN g % 7 = 0 THEN 'clicked' WHEN g % 3 = 0 THEN 'opened'
                 ELSE 'delivered' END,
            1, t, 'local', t,
            CASE WHEN g % 50 = 0 THEN NULL ELSE t + interval '1 minute' END,
            CASE WHEN g % 50 <> 0 AND (g % 3 = 0 OR g % 7 = 0) THEN t + interval '1 hour' END,
            CASE WHEN g % 50 <> 0 AND g % 7 = 0 THEN t + interval '2 hours' END,
            CASE WHEN g % 50 = 0 THEN t + interval '1 minute' END, t, t
        FROM generate_series(1, :messages) AS g
        LEFT JOIN crm_workflow_enrollments e ON e.trigger_key = 'bench:' || g AND e.workflow_id = :workflow
        CROSS JOIN LATERAL (SELECT COALESCE(e.goal_met_at - interval '1 day',
                                            now() - (g::float / :messages) * interval '90 days') AS t) AS x
    """), params)


def prepare(context: BenchContext) -> None:
    context.ensure_demo_data()
    factory = make_session_factory(context.engine)
    with factory() as session:
        install_builtin_segments(session)
        session.commit()
        ids = list(session.scalars(select(Segment.id).where(Segment.is_builtin.is_(True))))
        unfilled = session.scalar(select(func.count()).select_from(Segment).where(Segment.version == 0))
        done = session.scalar(select(func.count()).select_from(Workflow)
                              .where(Workflow.name == DEMO_WORKFLOW))
    if unfilled:
        refresh_many(factory, ids, now=utcnow() - dt.timedelta(days=2))
        refresh_many(factory, ids, now=utcnow())
    if not done:
        with factory() as session:
            _activity(session, context.profiles)
            session.commit()
    with context.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def _client(context: BenchContext, email: str) -> Any:
    from crm_segments import create_app

    os.environ.setdefault("CRM_SEGMENTS_INSTANCE_DIR", tempfile.mkdtemp(prefix="crm-bench-"))
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": context.database_url, "SECRET_KEY": "bench-" + "x" * 32})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token
    response = client.post("/login", data={"email": email, "password": PASSWORD,
                                           "csrf_token": token.group(1)})
    assert response.status_code == 302, "sign-in failed"
    return client


def _users(session: Session) -> tuple[str, str]:
    """An admin (made here) and the sales person owning the most demo profiles (password set here)."""
    from crm_segments.accounts.management import set_password
    from crm_segments.accounts.users import create_user

    admin_email = f"bench-admin-{time.time_ns()}@example.com"
    create_user(session=session, email=admin_email, password=PASSWORD, role="admin", name="Bench admin")
    owner_id = session.scalar(select(Profile.owner_id).where(Profile.owner_id.is_not(None))
                              .group_by(Profile.owner_id).order_by(func.count().desc()).limit(1))
    owner = session.get(User, owner_id)
    assert owner is not None, "the demo data has no owned profiles"
    set_password(session=session, user=owner, password=PASSWORD)
    session.commit()
    return admin_email, owner.email


def _time(client: Any, path: str) -> dict[str, float]:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, f"{path}: {response.status_code}"
    warm = sorted(timings[1:])
    return {"median_ms": round(statistics.median(warm), 1), "max_ms": round(warm[-1], 1),
            "first_ms": round(timings[0], 1)}


@scenario("dashboard-pages", "home dashboard (admin and sales, 30 and 90 days), RFM grid and cell, profile "
          "pages with RFM scores and the activity timeline, segment page with acquisition sources, "
          "profiles list with its total: server time per request",
          prepare=prepare)
def dashboard_pages(context: BenchContext) -> dict[str, Any]:
    factory = make_session_factory(context.engine)
    with factory() as session:
        admin_email, sales_email = _users(session)
        scored = session.scalar(select(RfmScore.profile_id)
                                .where(RfmScore.recency == 5, RfmScore.frequency == 5)
                                .order_by(RfmScore.profile_id).limit(1))
        largest = session.scalar(select(Segment.id).order_by(Segment.member_count.desc()).limit(1))
        busiest = session.scalar(select(SegmentEvent.profile_id).group_by(SegmentEvent.profile_id)
                                 .order_by(func.count().desc(), SegmentEvent.profile_id).limit(1))
        sales_id = session.scalar(select(User.id).where(User.email == sales_email))
        counts = {"profiles": session.scalar(select(func.count()).select_from(Profile)),
                  "messages": session.scalar(select(func.count()).select_from(Message)),
                  "rfm_scores": session.scalar(select(func.count()).select_from(RfmScore)),
                  "largest_segment_members": session.scalar(select(func.max(Segment.member_count)))}
    admin, sales = _client(context, admin_email), _client(context, sales_email)
    pages = {
        "home admin 30 days": (admin, "/"),
        "home admin 90 days": (admin, "/?days=90"),
        "home sales 30 days": (sales, "/"),
        "rfm grid": (admin, "/rfm"),
        "rfm grid, my customers": (sales, "/rfm?mine=1"),
        "rfm cell 5/5": (admin, "/rfm/5/5"),
        "profile page with scores": (sales, f"/profiles/{scored}"),
        "segment page, largest segment": (admin, f"/segments/{largest}"),
        "profiles list with its total": (admin, "/profiles"),
        "profiles list, my customers, with their total": (sales, f"/profiles?owner={sales_id}"),
        "profile page with its timeline, most segment events": (sales, f"/profiles/{busiest}"),
        "activity page, most segment events": (sales, f"/profiles/{busiest}/activity"),
    }
    return {"data": counts, "pages": {name: _time(client, path) for name, (client, path) in pages.items()}}
