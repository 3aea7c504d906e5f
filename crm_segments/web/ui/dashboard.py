"""The home page: what needs attention today and how messages and segments are doing, per role.

A sales person sees their own customers' quotes and segment entries first (profile owner = the
signed-in user) and a count of their customers; an admin sees everyone's, oldest first.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_login import current_user
from sqlalchemy import func, select

from crm_segments.dashboard.channels import channel_health
from crm_segments.dashboard.entries import todays_entries
from crm_segments.dashboard.messages import METRICS, RANGES, daily_messages
from crm_segments.dashboard.quotes import awaiting_quotes
from crm_segments.dashboard.segment_trends import segment_trends
from crm_segments.db import utcnow
from crm_segments.models import Profile
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.charts import Series, line_chart, sparkline
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()

METRIC_LABELS = {"sent": "Sent", "delivered": "Delivered", "opened": "Opened", "clicked": "Clicked",
                 "converted": "Converted"}


def _days_arg() -> int | None:
    raw = request.args.get("days", "").strip()
    if not raw:
        return RANGES[0]
    return int(raw) if raw in {str(r) for r in RANGES} else None


@routes.route("/")
@role_required("admin", "sales")
def home() -> tuple[str, int]:
    session = db_session()
    now = utcnow()
    days = _days_arg()
    status = 200
    errors = []
    if days is None:
        errors.append(f"days: must be one of {', '.join(str(r) for r in RANGES)}")
        days, status = RANGES[0], 400
    owner_id = current_user.id if current_user.role == "sales" else None
    messages = daily_messages(session, now=now, days=days)
    chart = line_chart(messages.days, [Series(METRIC_LABELS[m], m, messages.counts[m]) for m in METRICS])
    trends = segment_trends(session, now=now)
    context: dict[str, Any] = {
        "errors": errors, "days": days, "ranges": RANGES, "now": now,
        "quotes": awaiting_quotes(session, owner_id=owner_id),
        "entries": todays_entries(session, now=now, owner_id=owner_id),
        "messages": messages, "metric_labels": METRIC_LABELS, "chart": chart,
        "trends": [(t, sparkline(t.sizes)) for t in trends],
        "channels": channel_health(session, now=now),
        "my_customers": session.scalar(select(func.count()).select_from(Profile)
                                       .where(Profile.owner_id == owner_id)) if owner_id else None,
    }
    return render_template("crm_segments/dashboard/home.html", **context), status


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
