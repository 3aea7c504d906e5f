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
    Table,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from . import membership
from .compiler import compile_members
from .incremental import ANYONE
from .membership import MEMBERS, Diff
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
    """Bring every segment's memberships of its staged candidates up to date in one statement
    (``membership.write_differences``): each rule evaluated for its candidates only, fully joined
    with the stored memberships of those candidates (``versions``: each segment's version after this
    refresh)."""
    # compile_members restricts every read of the rule to the candidates already: a second test of
    # its answer against them joined each segment's candidates once more for nothing.
    matches = {segment_id: compile_members(rule, now=now, profile_ids=scope_of(segment_id))
               for segment_id, rule in rules.items()}
    stored = (select(MEMBERS.c.segment_id, MEMBERS.c.profile_id)
              .join(SCOPE, (SCOPE.c.segment_id == MEMBERS.c.segment_id)
                    & (SCOPE.c.profile_id == MEMBERS.c.profile_id))
              .where(SCOPE.c.segment_id.in_(list(rules))))  # not the segments staged but not evaluated
    written = membership.write_differences(session, matches, stored, versions, now=now, source=source,
                                           materialize_stored=True)
    return {segment_id: diff for segment_id, (diff, _) in written.items()}
