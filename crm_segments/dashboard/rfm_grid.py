"""The RFM grid: customers counted by recency score (across) and frequency score (up), each cell
shaded by its customers' average monetary score, and the customers of one cell.

Scores come from crm_rfm_scores (segments/rfm.py); the counts from the cells triggers keep per owner
(models/rfm_cells.py), and a cell's customers are read through its (recency, frequency, profile_id)
index, a page at a time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.keyset import KeysetPage, keyset_page
from crm_segments.models import Profile, RfmCell, RfmScore

SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Cell:
    recency: int
    frequency: int
    count: int
    monetary: float  # the average monetary score, 1 to 5
    spent: Decimal

    def rounded(self) -> Cell:
        """Amounts to the cent, as a sum of stored amounts is."""
        return Cell(self.recency, self.frequency, self.count, self.monetary,
                    self.spent.quantize(Decimal("0.01")))

    @property
    def shade(self) -> int:
        """0 (empty) to 5: the average monetary score, rounded."""
        return int(self.monetary + 0.5) if self.count else 0


@dataclass(frozen=True)
class Grid:
    cells: dict[tuple[int, int], Cell]
    total: int
    computed_at: dt.datetime | None

    def cell(self, recency: int, frequency: int) -> Cell:
        return self.cells.get((recency, frequency)) or Cell(recency, frequency, 0, 0.0, Decimal(0))


def _owned(query: Select[Any], owner_id: int | None) -> Select[Any]:
    if owner_id is None:
        return query
    return query.join(Profile, Profile.id == RfmScore.profile_id).where(Profile.owner_id == owner_id)


def rfm_grid(session: Session, *, owner_id: int | None = None) -> Grid:
    """Every (recency, frequency) cell; with ``owner_id``, only that person's customers.

    Read from the cells kept per owner by triggers (models/rfm_cells.py), not from every score."""
    query = (select(RfmCell.recency, RfmCell.frequency, func.sum(RfmCell.customers),
                    func.sum(RfmCell.monetary_sum), func.sum(RfmCell.spent))
             .group_by(RfmCell.recency, RfmCell.frequency))
    if owner_id is not None:
        query = query.where(RfmCell.owner_key == owner_id)
    cells = {(r, f): Cell(r, f, int(n), int(m) / int(n), Decimal(spent or 0)).rounded()
             for r, f, n, m, spent in session.execute(query) if n}
    computed_at = session.scalar(select(func.max(RfmScore.computed_at)))  # from its index
    return Grid(cells, sum(c.count for c in cells.values()), computed_at)


def cell_profile_ids(recency: int, frequency: int, *, owner_id: int | None = None) -> Select[Any]:
    """The cell's profile ids as a select, for saving them as a static list in SQL."""
    return _owned(select(RfmScore.profile_id).where(RfmScore.recency == recency,
                                                    RfmScore.frequency == frequency), owner_id)


def cell_page(session: Session, recency: int, frequency: int, *, owner_id: int | None = None,
              after: int | None = None, before: int | None = None, limit: int = 50) -> KeysetPage:
    """One page of the cell's profiles in id order."""
    query = (select(Profile).join(RfmScore, RfmScore.profile_id == Profile.id)
             .where(RfmScore.recency == recency, RfmScore.frequency == frequency))
    if owner_id is not None:
        query = query.where(Profile.owner_id == owner_id)
    return keyset_page(session, query, Profile.id, after=after, before=before, limit=limit)


def scores_of(session: Session, profile_ids: list[int]) -> dict[int, RfmScore]:
    if not profile_ids:
        return {}
    found = session.scalars(select(RfmScore).where(RfmScore.profile_id.in_(profile_ids)))
    return {score.profile_id: score for score in found}
