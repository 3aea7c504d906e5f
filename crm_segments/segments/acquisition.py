"""Where a segment's members come from: the share of each acquisition source among its members
against the share in the whole base ("where do our best customers come from"): the members' counts
kept per source, the base's counted from the source index."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import Profile, SegmentSource

SHOWN_SOURCES = 10  # the largest sources among the members; the rest are added up as "other"
OTHER = "Other sources"
UNKNOWN = "Not recorded"


@dataclass(frozen=True)
class SourceShare:
    source: str
    members: int
    base: int
    member_share: float  # 0 to 1
    base_share: float

    @property
    def lift(self) -> float | None:
        """How over- (above 1) or under-represented the source is among the members."""
        return self.member_share / self.base_share if self.base_share else None


@dataclass(frozen=True)
class SourceShares:
    members: int
    base: int
    rows: list[SourceShare]


def _base(session: Session) -> dict[str, int]:
    query = select(Profile.acquisition_source, func.count()).group_by(Profile.acquisition_source)
    return {source or UNKNOWN: n for source, n in session.execute(query)}


def _members(session: Session, segment_id: int) -> dict[str, int]:
    """Kept per segment and source by triggers (models/segment_sources.py), not a join of every member."""
    query = select(SegmentSource.source, SegmentSource.members).where(
        SegmentSource.segment_id == segment_id, SegmentSource.members > 0)
    return {source or UNKNOWN: n for source, n in session.execute(query)}


def source_shares(session: Session, segment_id: int) -> SourceShares:
    members, base = _members(session, segment_id), _base(session)
    member_total, base_total = sum(members.values()), sum(base.values())
    ranked = sorted(members, key=lambda s: (-members[s], s))
    shown, rest = ranked[:SHOWN_SOURCES], ranked[SHOWN_SOURCES:]

    def share(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    rows = [SourceShare(s, members[s], base.get(s, 0), share(members[s], member_total),
                        share(base.get(s, 0), base_total)) for s in shown]
    if rest:
        m, b = sum(members[s] for s in rest), sum(base.get(s, 0) for s in rest)
        rows.append(SourceShare(OTHER, m, b, share(m, member_total), share(b, base_total)))
    return SourceShares(member_total, base_total, rows)
