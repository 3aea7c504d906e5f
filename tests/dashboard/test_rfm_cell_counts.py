"""The RFM grid's cells per owner (crm_rfm_cells, kept by triggers) agree with a GROUP BY over the
scores joined to their profiles after score computations, owner changes, an erasure and a plain
delete; the grid, everyone's and a sales person's, reads them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from crm_segments.dashboard.rfm_grid import rfm_grid
from crm_segments.models import Job, Profile, RfmCell, RfmScore
from crm_segments.privacy.erasure import erase_profile
from crm_segments.segments.rfm import refresh_rfm_scores
from tests.databases import rows_written
from tests.factories import JobFactory, ProfileFactory, UserFactory

NOW = dt.datetime(2030, 3, 1, 9, tzinfo=dt.UTC)
Cells = dict[tuple[int, int, int], tuple[int, int, Decimal]]


def recount(session: Session) -> Cells:
    owner = func.coalesce(Profile.owner_id, 0)
    rows = session.execute(
        select(owner, RfmScore.recency, RfmScore.frequency, func.count(), func.sum(RfmScore.monetary),
               func.sum(RfmScore.total_spent))
        .join(Profile, Profile.id == RfmScore.profile_id)
        .group_by(owner, RfmScore.recency, RfmScore.frequency))
    return {(o, r, f): (n, int(m), Decimal(s).quantize(Decimal("0.01"))) for o, r, f, n, m, s in rows}


def agree(session: Session) -> Cells:
    session.flush()
    session.expire_all()
    kept = {(c.owner_key, c.recency, c.frequency): (c.customers, c.monetary_sum,
                                                     Decimal(c.spent).quantize(Decimal("0.01")))
            for c in session.scalars(select(RfmCell)) if c.customers}
    counted = recount(session)
    assert kept == counted
    return counted


def test_cells_follow_scores_owners_and_deletions(session: Session, tmp_path: Path) -> None:
    ann, bob = UserFactory(), UserFactory()
    profiles = [ProfileFactory(owner_id=ann.id if i % 2 else None) for i in range(8)]
    for i, profile in enumerate(profiles):
        for n in range(1 + i % 3):
            JobFactory(profile=profile, amount=Decimal(f"{100 + 37 * i}.25"),
                       finished_at=NOW - dt.timedelta(days=10 * i + n))
    refresh_rfm_scores(session, now=NOW)  # the first computation: one insert
    counted = agree(session)
    assert sum(n for n, _, _ in counted.values()) == 8

    # New purchases rescore some customers (an upsert); owners change and a customer stops buying.
    JobFactory(profile=profiles[0], amount=Decimal("5000.00"), finished_at=NOW)
    session.execute(update(Profile).where(Profile.id.in_([profiles[1].id, profiles[2].id]))
                    .values(owner_id=bob.id))
    session.execute(delete(Job).where(Job.profile_id == profiles[3].id))
    refresh_rfm_scores(session, now=NOW + dt.timedelta(days=1))
    counted = agree(session)
    assert sum(n for n, _, _ in counted.values()) == 7
    assert sum(n for (owner, _, _), (n, _, _) in counted.items() if owner == bob.id) == 2

    with session.begin_nested() as savepoint:  # rolled back: the cells stay
        session.execute(update(Profile).values(owner_id=ann.id))
        savepoint.rollback()
    agree(session)

    erase_profile(session=session, profile_id=profiles[1].id, outbox_dir=tmp_path, user_id=None, via="cli")
    session.execute(delete(Profile).where(Profile.id == profiles[4].id))
    counted = agree(session)
    assert sum(n for n, _, _ in counted.values()) == 5

    grid, mine = rfm_grid(session), rfm_grid(session, owner_id=ann.id)
    assert grid.total == 5
    assert mine.total == sum(n for (owner, _, _), (n, _, _) in counted.items() if owner == ann.id)
    for (owner, r, f), (n, monetary, spent) in counted.items():
        if owner == ann.id:
            cell = mine.cell(r, f)
            assert (cell.count, cell.monetary, cell.spent) == (n, monetary / n, spent)
    assert grid.computed_at == session.scalar(select(func.max(RfmScore.computed_at)))


def scored_customers(session: Session, count: int) -> list[Profile]:
    """``count`` customers without an owner, each with one recent purchase, scored."""
    profiles = [ProfileFactory(owner_id=None) for _ in range(count)]
    for profile in profiles:
        JobFactory(profile=profile, amount=Decimal("100.00"), finished_at=NOW - dt.timedelta(days=3))
    refresh_rfm_scores(session, now=NOW)
    return profiles


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_bulk_owner_change_writes_each_cell_once(session: Session) -> None:
    """On PostgreSQL a statement's owner changes are counted once per statement, not once per profile."""
    owner = UserFactory()
    profiles = scored_customers(session, 40)
    cells = len(agree(session))
    before = rows_written(session, "crm_rfm_cells")
    session.execute(update(Profile).where(Profile.id.in_([p.id for p in profiles])).values(owner_id=owner.id))
    # each cell taken off one owner and added to the other
    assert rows_written(session, "crm_rfm_cells") - before == 2 * cells
    assert sum(n for (key, _, _), (n, _, _) in agree(session).items() if key == owner.id) == 40


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_bulk_delete_of_profiles_takes_each_cell_once(session: Session) -> None:
    """Deleted profiles' scores are noted row by row and taken off once per statement; a second delete
    in the same transaction takes off only its own."""
    profiles = scored_customers(session, 40)
    cells = len(agree(session))
    before = rows_written(session, "crm_rfm_cells")
    session.execute(delete(Profile).where(Profile.id.in_([p.id for p in profiles[:30]])))
    assert rows_written(session, "crm_rfm_cells") - before <= cells
    assert sum(n for n, _, _ in agree(session).values()) == 10
    session.execute(delete(Profile).where(Profile.id.in_([p.id for p in profiles[30:35]])))
    assert sum(n for n, _, _ in agree(session).values()) == 5
