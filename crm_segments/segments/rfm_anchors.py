"""RFM cut-offs moved by the rows that crossed them, along each value's index (PostgreSQL).

Each score's four cut-offs are the values of the ``ceil(k * n / 5)``-th smallest of its ``n`` values
(rfm_cutoffs.py). In the order the score ranks its value, ties by profile id, every row has its own
position; crm_rfm_cutoffs keeps a copy of the row at each cut-off position (the anchor) and the ``n``
it was counted from. After some buyers' purchases changed, the anchor's position among the new values
is its old one less the logged buyers' old values before it plus their new values before it: counted
over the logged buyers alone. The new cut-off is then a walk along the value's index from the anchor
to the new position, as many rows as the position moved: O(changed), not O(buyers). Only rows whose
value lies between a cut-off's old and new value can change score; those are read by index range.

The anchors describe the scores as they were written: every computation stores them anew. A logged
profile that no longer exists (its score row went by cascade, with its old values) sends the caller
back to a full sort of the values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from crm_segments.models import RfmCutoff

from . import rfm_cutoffs

QUINTILES = rfm_cutoffs.QUINTILES


@dataclass(frozen=True)
class _Order:
    column: str  # the value in crm_rfm_scores (and in crm_rfm_cutoffs)
    logged: str  # the same value from the logged buyers' purchases now (rfm_cutoffs.PURCHASES p)
    nulls_first: bool  # as the full computation ranks it (rfm._ranked)

    def groups(self, *, up: bool) -> list[str]:
        """The rows with an unknown value and those with a known one, in the order walked. Each walk
        stays within one group at a time, where the index's own order (ties by profile) is the
        score's whatever the NULLs' place."""
        unknown, known = f"{self.column} IS NULL", f"{self.column} IS NOT NULL"
        ascending = [unknown, known] if self.nulls_first else [known, unknown]
        return ascending if up else ascending[::-1]

    def index_order(self, *, up: bool) -> str:
        return f"{self.column}, profile_id" if up else f"{self.column} DESC, profile_id DESC"


# Only last_purchase_at can be NULL; the totals are compared as numeric, exactly (two decimals).
_ORDERS = {"recency": _Order("last_purchase_at", "p.last_at", nulls_first=True),
           "frequency": _Order("purchase_count", "p.jobs", nulls_first=False),
           "monetary": _Order("total_spent", "p.cents::numeric / 100", nulls_first=False)}


class Anchor(NamedTuple):
    """A copy of the score row at a cut-off position."""

    profile_id: int
    last_purchase_at: dt.datetime | None
    purchase_count: int
    total_spent: Decimal


Anchors = dict[tuple[str, int], Anchor]  # by (score, quintile)


def position(quintile: int, buyers: int) -> int:
    """The 1-based position of the cut-off between scores ``quintile`` and ``quintile + 1``."""
    return (quintile * buyers + 4) // 5


def store_from_scores(session: Session, buyers: int) -> None:
    """Find and store the anchors of the scores as they are (``buyers`` rows), each by one index
    scan from the nearer end: after a full computation, or when the stored ones no longer apply."""
    anchors: Anchors = {}
    for name, order in _ORDERS.items():
        for quintile in QUINTILES if buyers else ():
            at = position(quintile, buyers)
            up = at <= buyers - at + 1
            found = _step(session, order, order.groups(up=up), at if up else buyers - at + 1, {}, up=up)
            if found is None:
                raise RuntimeError("the scores changed while their cut-offs were read")
            anchors[name, quintile] = found
    _store(session, buyers, anchors)


def rescore(session: Session, now: dt.datetime) -> int | None:
    """Write the scores after the logged buyers' purchases changed (``crm_tmp_rfm_logged``, their
    purchases in ``rfm_cutoffs.PURCHASES``), moving the stored anchors; how many buyers are scored
    now. None when the stored anchors do not describe the stored scores: the caller then reads the
    cut-offs from every value (the logged buyers' rows may be written already, as it would write them)."""
    stored = _load(session)
    if stored is None:
        return None
    buyers_then, old = stored
    if session.scalar(text("SELECT EXISTS (SELECT FROM crm_tmp_rfm_logged l "
                           "WHERE NOT EXISTS (SELECT FROM crm_profiles p WHERE p.id = l.profile_id))")):
        return None  # a profile deleted since took its score row (if any): its old values are unknown
    befores = {key: position(key[1], buyers_then) - 1 for key in old}
    gone, gone_before = _before_anchors(session, old, "crm_rfm_scores s JOIN crm_tmp_rfm_logged l "
                                        "ON l.profile_id = s.profile_id", lambda o: f"s.{o.column}", "s")
    came, came_before = _before_anchors(session, old, f"{rfm_cutoffs.PURCHASES} p", lambda o: o.logged, "p")
    buyers = buyers_then - gone + came
    # The logged buyers' new values go in first (scored by the old cut-offs): the walks count them.
    rfm_cutoffs.write_logged(session, cutoffs(old), now)
    if not buyers:
        session.execute(delete(RfmCutoff))
        return 0
    new: Anchors = {}
    for key, anchor in old.items():
        before = befores[key] - gone_before[key] + came_before[key]  # rows before the anchor now
        moved = _walk(session, _ORDERS[key[0]], anchor, position(key[1], buyers) - before)
        if moved is None:
            return None  # the rows were not as the anchors counted: the caller sorts every value
        new[key] = moved
    rows, bounds = _crossed(old, new)
    if rows:
        rfm_cutoffs.rescore_rows(session, cutoffs(new), now, " OR ".join(rows), bounds)
    _store(session, buyers, new)
    return buyers


def cutoffs(anchors: Anchors) -> dict[str, list[Any]]:
    """Each score's four cut-off values as rfm_cutoffs compares them (totals in whole cents)."""
    cuts: dict[str, list[Any]] = {}
    for name, order in _ORDERS.items():
        values = [getattr(anchors[name, quintile], order.column) for quintile in QUINTILES]
        cuts[name] = [int(v * 100) for v in values] if name == "monetary" else values
    return cuts


def _load(session: Session) -> tuple[int, Anchors] | None:
    rows = session.scalars(select(RfmCutoff)).all()
    buyers = {row.buyers for row in rows}
    if len(rows) != len(_ORDERS) * len(QUINTILES) or len(buyers) != 1:
        return None
    return buyers.pop(), {(row.score, row.quintile): Anchor(
        row.profile_id, row.last_purchase_at, row.purchase_count, row.total_spent) for row in rows}


def _store(session: Session, buyers: int, anchors: Anchors) -> None:
    session.execute(delete(RfmCutoff))
    if anchors:
        session.execute(insert(RfmCutoff), [
            {"score": name, "quintile": quintile, "buyers": buyers, **anchor._asdict()}
            for (name, quintile), anchor in anchors.items()])


def _before_anchors(session: Session, anchors: Anchors, rows: str, value: Any,
                    alias: str) -> tuple[int, dict[tuple[str, int], int]]:
    """How many of ``rows`` there are, and how many sort before each anchor (``value``: the
    order's value in those rows, ``alias``: theirs, with a profile_id)."""
    params: dict[str, Any] = {}
    counted = []
    for (name, quintile), anchor in anchors.items():
        order, bind = _ORDERS[name], f"{name}_{quintile}"
        before = _sides(value(order), f"{alias}.profile_id", order, anchor, bind, up=False)
        counted.append(f"count(*) FILTER (WHERE {' OR '.join(f'({side})' for side in before)})")
        params |= _binds(order, anchor, bind)
    row = session.execute(text(f"SELECT count(*), {', '.join(counted)} FROM {rows}"), params).one()
    return int(row[0]), {key: int(n) for key, n in zip(anchors, row[1:], strict=True)}


def _sides(value: str, profile: str, order: _Order, anchor: Anchor, bind: str, *, up: bool) -> list[str]:
    """The rows from the anchor on (``up``) or before it, as one index range each, nearest first:
    the anchor's own group (NULL values, or known ones) from the anchor, then the other group when
    it lies that way."""
    if getattr(anchor, order.column) is None:
        own = f"{value} IS NULL AND {profile} {'>=' if up else '<'} :{bind}_p"
        return [own, f"{value} IS NOT NULL"] if up == order.nulls_first else [own]
    own = f"({value}, {profile}) {'>=' if up else '<'} (:{bind}_v, :{bind}_p)"
    return [own, f"{value} IS NULL"] if up != order.nulls_first else [own]


def _binds(order: _Order, anchor: Anchor, bind: str) -> dict[str, Any]:
    return {f"{bind}_v": getattr(anchor, order.column), f"{bind}_p": anchor.profile_id}


def _walk(session: Session, order: _Order, anchor: Anchor, steps: int) -> Anchor | None:
    """The row ``steps`` rows on from the anchor along the order (1: the first at or after it; 0:
    the last before it, -1 the one before that...); None when there are not so many rows."""
    up = steps > 0
    sides = _sides(order.column, "profile_id", order, anchor, "a", up=up)
    return _step(session, order, sides, steps if up else 1 - steps, _binds(order, anchor, "a"), up=up)


def _step(session: Session, order: _Order, sides: list[str], steps: int, params: dict[str, Any], *,
          up: bool) -> Anchor | None:
    """The ``steps``-th row (1-based) along ``sides`` (conditions on crm_rfm_scores, one index range
    each, in the order walked); None when there are not so many."""
    for side in sides:
        found = _row_at(session, side, order.index_order(up=up), steps - 1, params)
        if found is not None:
            return found
        steps -= session.scalar(text(f"SELECT count(*) FROM (SELECT FROM crm_rfm_scores WHERE {side} "
                                     "LIMIT :n) r"), {**params, "n": steps}) or 0
    return None


def _row_at(session: Session, rows: str, order_by: str, skip: int, params: dict[str, Any]) -> Anchor | None:
    """The score row after ``skip`` of ``rows`` in ``order_by`` (an index's order): the rows skipped
    are read from the index alone, only the one found from the table."""
    row = session.execute(text(
        f"SELECT {', '.join(f's.{name}' for name in Anchor._fields)} FROM crm_rfm_scores s "
        f"WHERE s.profile_id = (SELECT profile_id FROM crm_rfm_scores WHERE {rows} "
        f"ORDER BY {order_by} OFFSET :skip LIMIT 1)"), {**params, "skip": skip}).one_or_none()
    return None if row is None else Anchor(*row)


def _crossed(old: Anchors, new: Anchors) -> tuple[list[str], dict[str, Any]]:
    """Where a cut-off's value moved, the rows between its old and new value (whose score may
    change), as index ranges over crm_rfm_scores ``s``: ``lower < value <= upper``; and their bounds."""
    rows: list[str] = []
    params: dict[str, Any] = {}
    for key in old:
        order = _ORDERS[key[0]]
        was, now = (getattr(anchor, order.column) for anchor in (old[key], new[key]))
        if was == now:
            continue
        lower, upper = sorted((was, now), key=lambda v: _rank(order, v))
        bind, column = "{}_{}".format(*key), f"s.{order.column}"
        if lower is None:  # NULLs first: every known value up to the upper one
            rows.append(f"{column} <= :{bind}_upper")
        elif upper is None:  # NULLs last: every value above the lower one, and NULL
            rows.append(f"({column} > :{bind}_lower OR {column} IS NULL)")
        else:
            rows.append(f"({column} > :{bind}_lower AND {column} <= :{bind}_upper)")
        params |= {f"{bind}_lower": lower, f"{bind}_upper": upper}
    return rows, params


def _rank(order: _Order, value: Any) -> tuple[int, Any]:
    return ((0 if order.nulls_first else 1), value) if value is None else (
        (1 if order.nulls_first else 0), value)
