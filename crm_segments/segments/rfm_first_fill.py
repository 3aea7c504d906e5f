"""The first RFM computation on PostgreSQL: the scores inserted before the values' indexes exist.

Inserting 410,000 rows at a million profiles into the three value indexes (rfm_anchors.py), each
row at a random place in each, cost 5-7 s more than building them afterwards from the filled table
in one sorted pass (benchmarks/README.md). Dropping an index takes an ACCESS EXCLUSIVE lock on the
table until commit. That is only done when it cannot wait and cannot hide anything: the lock is
taken with NOWAIT (a reader or writer holding the table means the plain insert instead, so no queue
of readers forms behind a waiting lock and no lock upgrade can deadlock), and the table is checked
empty once locked (nobody else can then have rows in it, committed or not). Readers that come while
the scores are computed wait for them instead of reading an empty table. The indexes are dropped and
created in the computation's own transaction: a rollback restores them, a commit leaves them built.
"""

from __future__ import annotations

from sqlalchemy import Index, exists, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from crm_segments.models import RfmScore
from crm_segments.models.segments import RFM_VALUE_INDEXES

_LOCK_NOT_AVAILABLE = "55P03"


def insert_then_index(session: Session, fill: Executable) -> None:
    """Run ``fill`` (an insert into the empty crm_rfm_scores) with the values' indexes built after it
    when the table can be locked at once and is still empty; otherwise run it as it is."""
    savepoint = session.begin_nested()
    try:
        session.execute(text(f"LOCK TABLE {RfmScore.__tablename__} IN ACCESS EXCLUSIVE MODE NOWAIT"))
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        savepoint.rollback()
        session.execute(fill)
        return
    if session.scalar(select(exists().select_from(RfmScore))):
        savepoint.rollback()  # filled meanwhile: the caller's insert then fails on its keys, as before
        session.execute(fill)
        return
    indexes = _value_indexes()
    connection = session.connection()
    for index in indexes:
        index.drop(connection)
    session.execute(fill)
    for index in indexes:
        index.create(connection)
    savepoint.commit()


def _value_indexes() -> list[Index]:
    table = RfmScore.metadata.tables[RfmScore.__tablename__]
    return [index for index in table.indexes if index.name in RFM_VALUE_INDEXES.values()]
