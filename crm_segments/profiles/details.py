"""Everything the profile page shows about one profile: its records and tags, a bounded query each."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from crm_segments.kernel.errors import NotFound
from crm_segments.models import (
    Job,
    Opportunity,
    Product,
    Profile,
    ProfileTag,
    Quote,
    QuoteLine,
    SupportTicket,
    Tag,
)

# A long-standing customer can have years of records; the page shows the latest of each kind.
RECORDS_PER_KIND = 100


@dataclass(frozen=True)
class QuoteLineView:
    line: QuoteLine
    product_name: str | None


@dataclass(frozen=True)
class ProfileOverview:
    profile: Profile
    tags: Sequence[ProfileTag]
    quotes: Sequence[Quote]
    quote_lines: dict[int, list[QuoteLineView]] = field(default_factory=dict)  # by quote id
    jobs: Sequence[Job] = ()
    opportunities: Sequence[Opportunity] = ()
    tickets: Sequence[SupportTicket] = ()


def profile_tags(*, session: Session, profile_id: int) -> list[ProfileTag]:
    query = (select(ProfileTag).join(ProfileTag.tag).options(contains_eager(ProfileTag.tag))
             .where(ProfileTag.entity_id == profile_id).order_by(Tag.name_key))
    return list(session.scalars(query))


def tags_by_profile(*, session: Session, profile_ids: Iterable[int]) -> dict[int, list[Tag]]:
    """The tags of a page of profiles in one query (for badges in lists)."""
    ids = list(profile_ids)
    result: dict[int, list[Tag]] = defaultdict(list)
    if not ids:
        return result
    query = (select(ProfileTag.entity_id, Tag).join(Tag, Tag.id == ProfileTag.tag_id)
             .where(ProfileTag.entity_id.in_(ids)).order_by(Tag.name_key))
    for profile_id, tag in session.execute(query):
        result[profile_id].append(tag)
    return result


def _quote_lines(session: Session, quote_ids: list[int]) -> dict[int, list[QuoteLineView]]:
    lines: dict[int, list[QuoteLineView]] = defaultdict(list)
    if not quote_ids:
        return lines
    query = (select(QuoteLine, Product.name).outerjoin(Product, Product.id == QuoteLine.product_id)
             .where(QuoteLine.quote_id.in_(quote_ids)).order_by(QuoteLine.quote_id, QuoteLine.id))
    for line, product_name in session.execute(query):
        lines[line.quote_id].append(QuoteLineView(line, product_name))
    return lines


def profile_overview(*, session: Session, profile_id: int) -> ProfileOverview:
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise NotFound(f"profile: no profile with id {profile_id}")
    quotes = list(session.scalars(
        select(Quote).where(Quote.profile_id == profile_id)
        .order_by(Quote.created_at.desc(), Quote.id.desc()).limit(RECORDS_PER_KIND)
    ))
    return ProfileOverview(
        profile=profile,
        tags=profile_tags(session=session, profile_id=profile_id),
        quotes=quotes,
        quote_lines=_quote_lines(session, [q.id for q in quotes]),
        jobs=list(session.scalars(
            select(Job).where(Job.profile_id == profile_id)
            .order_by(Job.created_at.desc(), Job.id.desc()).limit(RECORDS_PER_KIND)
        )),
        opportunities=list(session.scalars(
            select(Opportunity).where(Opportunity.profile_id == profile_id)
            .order_by(Opportunity.created_at.desc(), Opportunity.id.desc()).limit(RECORDS_PER_KIND)
        )),
        tickets=list(session.scalars(
            select(SupportTicket).where(SupportTicket.profile_id == profile_id)
            .order_by(SupportTicket.opened_at.desc(), SupportTicket.id.desc()).limit(RECORDS_PER_KIND)
        )),
    )
