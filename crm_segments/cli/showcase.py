"""A demo-seeded app to look at: demo customers with their records, a few months of message activity,
every segment filled, an admin and a sales person (a demo owner) who can sign in.

Used by the screenshots script (docs/screenshots/take.py) and the dashboard's browser test, so both
show the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import select, update

from crm_segments import create_app
from crm_segments.accounts import users
from crm_segments.accounts.management import set_password
from crm_segments.cli.admin import init_database
from crm_segments.cli.server import prepare_first_pages
from crm_segments.db import utcnow
from crm_segments.demo.activity import add_demo_activity, add_size_history
from crm_segments.demo.reference import DEMO_OWNERS
from crm_segments.demo.seed import seed_demo
from crm_segments.models import Profile, Segment, User
from crm_segments.segments.refresh import refresh_many
from crm_segments.state import get_state

ADMIN_EMAIL = "admin@showcase.example"
MOVED_TO = "California"  # the shipped "Customers in Region" segment's default region


@dataclass(frozen=True)
class Showcase:
    app: Flask
    admin_email: str
    sales_email: str  # a demo owner: their customers come first on the home page
    password: str


def showcase_app(folder: Path, *, password: str, profiles: int = 400, seed: int = 7) -> Showcase:
    """Build the app on a new SQLite database in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": f"sqlite:///{folder / 'showcase.db'}",
                      "SECRET_KEY": "showcase-secret-key-0123456789",
                      "CRM_SEGMENTS_OUTBOX_DIR": str(folder / "outbox"),
                      "CRM_SEGMENTS_BACKGROUND_WORKER": False})
    init_database(app)
    seed_demo(app, profiles=profiles, seed=seed)
    factory = get_state(app).session_factory
    with factory() as session, session.begin():
        add_demo_activity(session, now=utcnow(), seed=seed)
        users.create_user(session=session, email=ADMIN_EMAIL, password=password, role="admin",
                          name="Avery Admin")
        owner = session.scalars(select(User).where(User.email == DEMO_OWNERS[0][1])).one()
        set_password(session=session, user=owner, password=password)
    prepare_first_pages(app)
    _changes_today(app)
    return Showcase(app, ADMIN_EMAIL, DEMO_OWNERS[0][1], password)


def _changes_today(app: Flask) -> None:
    """A month of daily sizes before today, then a few customers move to the region the shipped
    "Customers in Region" segment watches and every segment is
    refreshed again, so today's entries are a day's changes (a first fill records no entries)."""
    factory = get_state(app).session_factory
    now = utcnow()
    with factory() as session, session.begin():
        add_size_history(session, now=now)
        movers = list(session.scalars(select(Profile.id).where(Profile.region != MOVED_TO)
                                      .order_by(Profile.id.desc()).limit(12)))
        session.execute(update(Profile).where(Profile.id.in_(movers)).values(region=MOVED_TO))
        segment_ids = list(session.scalars(select(Segment.id)))
    refresh_many(factory, segment_ids, now=now)
