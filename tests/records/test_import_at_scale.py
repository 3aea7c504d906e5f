"""Large imports and unstorable bytes: statements stay within the backend's parameter limit, chunks
are all or nothing together, active workflows enroll each imported profile once, and NUL or
non-UTF-8 cells are refused by line and column on both stores."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.kernel import changes
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import AutoTagRule, Enrollment, Profile, Segment, SegmentMember, Tag
from crm_segments.records.importer import import_csv
from crm_segments.selection.targets import by_ids
from crm_segments.tagging.bulk import bulk_tag
from tests.workflows.helpers import active_workflow

REGION = "Norte"


def _profiles_csv(rows: int, *, region: str = REGION, start: int = 0) -> io.BytesIO:
    lines = ["external_id,first_name,region,lifecycle_status"]
    lines += [f"S-{n:06d},Name{n},{region},lead" for n in range(start, start + rows)]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def _entry_workflow(session: Session) -> Any:
    segment = Segment(name="From the north", kind="live", version=1,
                      rule={"field": "region", "op": "eq", "value": REGION})
    session.add(segment)
    session.flush()
    return active_workflow(session, {
        "name": "Northern welcome", "trigger": {"type": "segment_entered", "segment": segment.name},
        "steps": [{"key": "tag_one", "type": "add_tag", "tag": "welcomed"}],
    }, at=utcnow() - dt.timedelta(minutes=1))


def _enrolled(session: Session, workflow: Any) -> tuple[int, int]:
    row = session.execute(select(func.count(), func.count(func.distinct(Enrollment.profile_id)))
                          .where(Enrollment.workflow_id == workflow.id)).one()
    return int(row[0]), int(row[1])


def _count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


@contextmanager
def _sqlite_parameter_limit(session: Session, limit: int) -> Iterator[None]:
    """SQLite's limit on bound parameters per statement, lowered for this connection (builds
    differ: 999 before SQLite 3.32, 32,766 since, 250,000 in some distributions)."""
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    previous = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    try:
        yield
    finally:
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, previous)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_import_beyond_the_parameter_limit_enrolls_everyone_once(session: Session, backend: str) -> None:
    workflow = _entry_workflow(session)
    with _sqlite_parameter_limit(session, 2_000):
        report = import_csv(session=session, kind="profiles", stream=_profiles_csv(2_100), chunk_rows=250)
    assert (report.rows, report.created, report.profiles_changed) == (2_100, 2_100, 2_100)
    assert _enrolled(session, workflow) == (2_100, 2_100)


def test_import_in_chunks_enrolls_everyone_once_and_a_re_import_updates(session: Session,
                                                                         backend: str) -> None:
    workflow = _entry_workflow(session)
    report = import_csv(session=session, kind="profiles", stream=_profiles_csv(230), chunk_rows=50)
    assert (report.rows, report.created) == (230, 230)
    assert _enrolled(session, workflow) == (230, 230)
    again = import_csv(session=session, kind="profiles", stream=_profiles_csv(230), chunk_rows=50)
    assert (again.created, again.updated) == (0, 230)
    assert _enrolled(session, workflow) == (230, 230)  # still in the segment: no second entry


@pytest.mark.parametrize("threshold", [10_000, 100], ids=["per-profile", "staged-batch"])
def test_tag_and_segment_workflows_enroll_each_imported_profile_once(
        session: Session, backend: str, threshold: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the staging threshold the changed profiles are re-evaluated by their ids; above it once,
    restricted by their staged ids (the batch listeners): either way every workflow enrolls once."""
    monkeypatch.setattr(changes, "STAGE_FROM", threshold)
    segment_workflow = _entry_workflow(session)
    tag = Tag(name="Lead", name_key="lead")
    session.add(tag)
    session.flush()
    session.add(AutoTagRule(name="Leads", entity_type="profile", tag_id=tag.id, mode="live", enabled=True,
                            condition={"field": "lifecycle_status", "op": "eq", "value": "lead"}))
    tag_workflow = active_workflow(session, {
        "name": "Lead nurture", "trigger": {"type": "tag_added", "tag": tag.name},
        "steps": [{"key": "tag_one", "type": "add_tag", "tag": "nurtured"}],
    }, at=utcnow() - dt.timedelta(minutes=1))
    import_csv(session=session, kind="profiles", stream=_profiles_csv(230), chunk_rows=50)
    assert _enrolled(session, segment_workflow) == (230, 230)
    assert _enrolled(session, tag_workflow) == (230, 230)


@pytest.mark.parametrize("read_in_child", [False, True], ids=["thread", "child"])
def test_a_bad_row_in_a_later_chunk_undoes_the_chunks_written_before(session: Session, backend: str,
                                                                     read_in_child: bool) -> None:
    before = _count(session, Profile)
    text = _profiles_csv(120).getvalue().decode() + "S-000007,Again,North,lead\nS-999999,Bad,North,zombie\n"
    with pytest.raises(ValidationFailed) as failed:
        import_csv(session=session, kind="profiles", stream=io.BytesIO(text.encode()), chunk_rows=50,
                   read_in_child=read_in_child)
    errors = [(e.row, e.field) for e in failed.value.errors]
    assert errors == [(122, "external_id"), (123, "lifecycle_status")]
    assert "also line 9" in failed.value.errors[0].message
    assert _count(session, Profile) == before


def test_a_file_read_in_a_child_imports_as_read_on_a_thread(session: Session, backend: str) -> None:
    workflow = _entry_workflow(session)
    stream = _profiles_csv(230)
    report = import_csv(session=session, kind="profiles", stream=stream, chunk_rows=50, read_in_child=True)
    assert (report.created, report.updated) == (230, 0)
    assert _enrolled(session, workflow) == (230, 230)
    assert not stream.closed  # the caller's stream is the caller's to close
    again = import_csv(session=session, kind="profiles", stream=_profiles_csv(30, region="Sul", start=220),
                       chunk_rows=50, read_in_child=True)
    assert (again.created, again.updated) == (20, 10)
    moved = select(func.count()).select_from(Profile).where(Profile.region == "Sul")
    assert session.scalar(moved) == 30


@pytest.mark.parametrize(("cell", "message"), [
    (b"B\x00b", "NUL"),
    (b"B\xffb", "not UTF-8"),
])
def test_nul_bytes_and_invalid_utf8_are_named_and_nothing_is_written(
        session: Session, backend: str, cell: bytes, message: str) -> None:
    before = _count(session, Profile)
    content = b"external_id,first_name,city\nP-1,Ann,Oslo\nP-2," + cell + b",Bergen\n"
    with pytest.raises(ValidationFailed) as failed:
        import_csv(session=session, kind="profiles", stream=io.BytesIO(content))
    assert [(e.row, e.field) for e in failed.value.errors] == [(3, "first_name")]
    assert message in failed.value.errors[0].message
    assert _count(session, Profile) == before


def test_a_nul_escape_in_json_attributes_is_refused(session: Session, backend: str) -> None:
    content = b'external_id,custom_attributes\nP-1,"{""note"": ""a\\u0000b""}"\n'
    with pytest.raises(ValidationFailed) as failed:
        import_csv(session=session, kind="profiles", stream=io.BytesIO(content))
    assert [(e.row, e.field) for e in failed.value.errors] == [(2, "custom_attributes")]
    assert _count(session, Profile) == 0


def test_too_many_problems_stop_the_reading(session: Session, backend: str) -> None:
    text = "external_id,lifecycle_status\n" + "".join(f"B-{n},zombie\n" for n in range(1_500))
    with pytest.raises(ValidationFailed) as failed:
        import_csv(session=session, kind="profiles", stream=io.BytesIO(text.encode()), chunk_rows=100)
    errors = failed.value.errors
    assert len(errors) == 1_001 and errors[0].field == "file" and "line 1001" in errors[0].message


@pytest.mark.slow
def test_bulk_tag_of_more_than_70k_ids(session: Session, backend: str) -> None:
    now = utcnow()
    session.execute(insert(cast(Table, Profile.__table__)), [
        {"external_id": f"B-{n}", "created_at": now, "updated_at": now} for n in range(70_100)])
    ids = list(session.scalars(select(Profile.id).where(Profile.external_id.like("B-%"))))
    tag = Tag(name="Everyone", name_key="everyone")
    session.add(tag)
    session.flush()
    result = bulk_tag(session=session, action="add", selection=by_ids(session=session, entity_type="profile",
                                                                      ids=ids), tags=[tag])
    assert (result.selected, result.changed) == (70_100, 70_100)


@pytest.mark.slow
@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_import_of_70k_profiles_with_an_active_workflow(session: Session, backend: str) -> None:
    """More changed profiles than PostgreSQL's 65,535 bound parameters, at the real chunk size."""
    workflow = _entry_workflow(session)
    report = import_csv(session=session, kind="profiles", stream=_profiles_csv(70_000))
    assert report.created == 70_000
    assert _enrolled(session, workflow) == (70_000, 70_000)
    segment_id = session.scalar(select(Segment.id).where(Segment.name == "From the north"))
    members = session.scalar(select(func.count()).select_from(SegmentMember)
                             .where(SegmentMember.segment_id == segment_id))
    assert members == 70_000
