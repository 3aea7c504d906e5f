"""A segment's stored members: a searchable keyset-paginated page, and a streamed CSV export.

The export reads the members in keyset chunks, so its memory does not grow with the segment.
Cells that a spreadsheet would run as a formula are neutralised (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Profile, SegmentMember
from crm_segments.profiles.queries import search_condition

EXPORT_CHUNK = 5000
EXPORT_COLUMNS = ("id", "external_id", "first_name", "last_name", "email", "phone", "company", "city",
                  "region", "country", "lifecycle_status", "email_consent", "sms_consent")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\x00")


@dataclass(frozen=True)
class MemberRow:
    profile: Profile
    entered_at: dt.datetime


@dataclass(frozen=True)
class MemberPage:
    items: list[MemberRow]
    next_after: int | None  # pass as ``after`` for the next page


def members_page(session: Session, segment_id: int, *, q: str | None = None, after: int | None = None,
                 limit: int = 50) -> MemberPage:
    """Members in profile id order, optionally only those whose name / email / company starts with ``q``."""
    query: Any = (
        select(Profile, SegmentMember.entered_at)
        .join(SegmentMember, SegmentMember.profile_id == Profile.id)
        .where(SegmentMember.segment_id == segment_id)
        .order_by(Profile.id).limit(limit + 1)
    )
    if q and q.strip():
        query = query.where(search_condition(q.strip()[:100]))
    if after is not None:
        query = query.where(Profile.id > after)
    rows = session.execute(query).all()
    items = [MemberRow(profile, entered_at) for profile, entered_at in rows[:limit]]
    return MemberPage(items, items[-1].profile.id if len(rows) > limit else None)


def neutralise(value: Any) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ tab, CR or NUL gets a quote in front."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_STARTS):
        return "'" + text.replace("\x00", "")
    return text


def export_csv(new_session: Callable[[], Session], segment_id: int) -> Iterator[str]:
    """The members as CSV text, one chunk of lines at a time, with a header line first.

    Each chunk is read in a short session of its own that is closed before the chunk is yielded,
    so a slow or abandoned download never holds a connection, a transaction or a lock.
    """
    columns = [getattr(Profile, name) for name in EXPORT_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*EXPORT_COLUMNS, "entered_at"])
    after = 0
    while True:
        with new_session() as session:
            rows = session.execute(
                select(*columns, SegmentMember.entered_at)
                .join(SegmentMember, SegmentMember.profile_id == Profile.id)
                .where(SegmentMember.segment_id == segment_id, Profile.id > after)
                .order_by(Profile.id).limit(EXPORT_CHUNK)).all()
        for row in rows:
            writer.writerow([neutralise(v.isoformat() if isinstance(v, dt.datetime) else v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < EXPORT_CHUNK:
            return
        after = rows[-1][0]
