"""The incremental refresh of one dependency level's segments in a few statements (PostgreSQL).

Refreshed one by one, each segment staged its candidates, ran its rule over them and wrote its diff
in statements of its own, in a transaction of its own. Here every segment's candidates go into one
temporary table of (segment, profile) in one statement, and one statement evaluates every rule
over its own candidates, fully joins the matches with the stored memberships of those candidates,
and writes the members in and out and their events, each with its segment's next version. The
caller holds every segment's row lock and keeps each one's position, counts and size point.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from crm_segments.db import UTCDateTime

from .compiler import compile_members
from .incremental import ANYONE
from .membership import EVENTS, MEMBERS, Diff
from .rules import Rule

SCOPE = Table("crm_tmp_level_scope", MetaData(),
              Column("segment_id", Integer, primary_key=True, autoincrement=False),
              Column("profile_id", BigInteger, primary_key=True, autoincrement=False),
              prefixes=["TEMPORARY"])


def stage(session: Session, candidates: dict[int, Any]) -> dict[int, tuple[int, bool]]:
    """Stage each segment's candidate ids (a select of distinct ids) in one statement; by segment,
    (how many, whether "anyone may have changed" is among them)."""
    session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {SCOPE.name} (segment_id INTEGER, "
                         "profile_id BIGINT, PRIMARY KEY (segment_id, profile_id)) ON COMMIT DELETE ROWS"))
    session.execute(text(f"TRUNCATE {SCOPE.name}"))
    parts = []
    for segment_id, ids in candidates.items():
        found = ids.subquery()
        parts.append(select(literal(segment_id, Integer), found.c[0]))
    session.execute(insert(SCOPE).from_select(["segment_id", "profile_id"], union_all(*parts)))
    rows = session.execute(select(SCOPE.c.segment_id, func.count(),
                                  func.bool_or(SCOPE.c.profile_id == ANYONE))
                           .group_by(SCOPE.c.segment_id))
    staged = dict.fromkeys(candidates, (0, False))
    staged.update({int(segment_id): (int(count), bool(anyone)) for segment_id, count, anyone in rows})
    session.execute(text(f"ANALYZE {SCOPE.name}"))  # its size, for the rules' plans
    return staged


def scope_of(segment_id: int) -> Any:
    return select(SCOPE.c.profile_id).where(SCOPE.c.segment_id == segment_id)


def write_differences(session: Session, rules: dict[int, Rule], versions: dict[int, int], *,
                      now: dt.datetime, source: str) -> dict[int, Diff]:
    """Bring every segment's memberships of its staged candidates up to date in one statement: the
    rule's matches among them fully joined once with their stored memberships, the members inserted
    and deleted and the events written (``versions``: each segment's version after this refresh)."""
    should = union_all(*(
        select(literal(segment_id, Integer).label("segment_id"), matched.c[0].label("profile_id"))
        .where(matched.c[0].is_not(None), matched.c[0].in_(scope_of(segment_id)))
        for segment_id, rule in rules.items()
        for matched in [compile_members(rule, now=now, profile_ids=scope_of(segment_id)).subquery()]
    )).cte("should").prefix_with("MATERIALIZED")
    stored = (select(MEMBERS.c.segment_id, MEMBERS.c.profile_id)
              .join(SCOPE, (SCOPE.c.segment_id == MEMBERS.c.segment_id)
                    & (SCOPE.c.profile_id == MEMBERS.c.profile_id))
              .where(SCOPE.c.segment_id.in_(list(rules)))  # not the segments staged but not evaluated
              .cte("stored").prefix_with("MATERIALIZED"))
    on = (stored.c.segment_id == should.c.segment_id) & (stored.c.profile_id == should.c.profile_id)
    differ = (select(func.coalesce(should.c.segment_id, stored.c.segment_id).label("segment_id"),
                     func.coalesce(should.c.profile_id, stored.c.profile_id).label("profile_id"),
                     stored.c.profile_id.is_(None).label("entering"))
              .select_from(should.join(stored, on, full=True))
              .where(or_(should.c.profile_id.is_(None), stored.c.profile_id.is_(None)))
              .cte("differ").prefix_with("MATERIALIZED"))
    added = insert(MEMBERS).from_select(
        ["segment_id", "profile_id", "entered_at"],
        select(differ.c.segment_id, differ.c.profile_id, literal(now, UTCDateTime()))
        .where(differ.c.entering).order_by(differ.c.segment_id, differ.c.profile_id),
    ).returning(MEMBERS.c.segment_id, MEMBERS.c.profile_id).cte("added")
    removed = delete(MEMBERS).where(
        ~differ.c.entering, MEMBERS.c.segment_id == differ.c.segment_id,
        MEMBERS.c.profile_id == differ.c.profile_id,
    ).returning(MEMBERS.c.segment_id, MEMBERS.c.profile_id).cte("removed")
    moved = union_all(
        select(added.c.segment_id, added.c.profile_id, literal("entered", String).label("kind")),
        select(removed.c.segment_id, removed.c.profile_id, literal("exited", String)),
    ).cte("moved").prefix_with("MATERIALIZED")
    version = case(versions, value=moved.c.segment_id)
    events = insert(EVENTS).from_select(
        ["segment_id", "profile_id", "kind", "occurred_at", "segment_version", "source"],
        select(moved.c.segment_id, moved.c.profile_id, moved.c.kind, literal(now, UTCDateTime()),
               version, literal(source, String)),
    ).cte("events")
    tally = (select(moved.c.segment_id, func.count().filter(moved.c.kind == "entered"),
                    func.count().filter(moved.c.kind == "exited"))
             .group_by(moved.c.segment_id).add_cte(events))
    diffs = dict.fromkeys(rules, Diff())
    diffs.update({int(segment_id): Diff(int(entered), int(exited))
                  for segment_id, entered, exited in session.execute(tally)})
    return diffs
