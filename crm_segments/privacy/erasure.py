"""Right of erasure: delete everything that names one profile, following the plan (plan.py).

In one transaction: rows about many people that name the person are scrubbed, rows that reference the
person without a foreign key (inbound texts from their number, bulk undo items) are deleted, then the
profile itself, whose foreign keys and triggers take its records, tags, segment history, messages,
consent history and enrollments with it; the change log rows its deletion wrote go after it (so the
log keeps nothing of the person). An audit row (``crm_erasures``) keeps ids and counts only.
The person's files in the local outbox are removed last, once every statement has succeeded: a
rollback after that leaves their message rows without files, never a file without its row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from crm_segments.channels.local import outbox_path
from crm_segments.db import Base, utcnow
from crm_segments.kernel.errors import NotFound
from crm_segments.models import BackgroundTask, Erasure, Message, Profile
from crm_segments.segments.membership import forget_profile

from .plan import PLAN, Person


@dataclass(frozen=True)
class Preview:
    """What an erasure of the profile would remove: rows per table and local outbox files."""

    profile_id: int
    rows: dict[str, int]
    outbox_files: list[Path]


def _profile(session: Session, profile_id: int) -> Profile:
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise NotFound(f"no profile with id {profile_id}")
    return profile


def _counts(session: Session, person: Person) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, rule in PLAN.items():
        if rule.erase != "none" and rule.rows is not None:
            table = Base.metadata.tables[name]
            found = int(session.scalar(select(func.count()).select_from(table).where(rule.rows(person))) or 0)
            if found:
                counts[name] = found
    return counts


def _outbox_files(session: Session, person: Person, outbox_dir: Path) -> list[Path]:
    messages = session.execute(select(Message.id, Message.channel)
                               .where(Message.profile_id == person.profile_id))
    paths = [outbox_path(outbox_dir, message_id, channel) for message_id, channel in messages]
    return [path for path in paths if path.exists()]


def erasure_preview(*, session: Session, profile_id: int, outbox_dir: Path) -> Preview:
    person = Person.of(session, _profile(session, profile_id), uploads=True)
    return Preview(profile_id, _counts(session, person), _outbox_files(session, person, outbox_dir))


def _delete_rows(session: Session, person: Person, *, after_profile: bool) -> None:
    for name, rule in PLAN.items():
        if (rule.erase == "delete" and rule.rows is not None and name != Profile.__tablename__
                and rule.after_profile == after_profile):
            session.execute(delete(Base.metadata.tables[name]).where(rule.rows(person)))


def erase_profile(*, session: Session, profile_id: int, outbox_dir: Path, user_id: int | None, via: str,
                  now: dt.datetime | None = None) -> Erasure:
    """Erase the profile and everything that names it; the audit row it wrote. NotFound when there is
    no such profile. Never commits: the caller's transaction does."""
    now = now or utcnow()
    profile = _profile(session, profile_id)
    person = Person.of(session, profile, uploads=True)
    counts = _counts(session, person)
    files = _outbox_files(session, person, outbox_dir)
    session.flush()
    for name, rule in PLAN.items():
        if rule.erase == "scrub" and rule.rows is not None:
            table = Base.metadata.tables[name]
            if name == BackgroundTask.__tablename__:  # a queued task that names the person does not run
                session.execute(update(table).where(rule.rows(person), table.c.status == "queued")
                                .values(status="failed", finished_at=now))
            session.execute(update(table).where(rule.rows(person)).values(**rule.scrub))
    _delete_rows(session, person, after_profile=False)
    forget_profile(session, profile_id)
    session.delete(profile)
    session.flush()
    _delete_rows(session, person, after_profile=True)
    audit = Erasure(profile_id=profile_id, erased_at=now, erased_by_id=user_id, via=via, rows=counts,
                    outbox_files=len(files))
    session.add(audit)
    session.flush()
    for path in files:
        path.unlink(missing_ok=True)
    return audit
