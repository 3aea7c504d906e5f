"""An import of N profiles leaves the same segment memberships, tags and workflow enrollments as N
single writes of the same profiles (one ``profiles_changed`` each), whichever path re-evaluates them
(by their ids, or once for the whole batch, restricted by its staged ids); a failing row anywhere
leaves none of them written."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.kernel import changes
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import (
    AutoTagRule,
    ConsentChange,
    Enrollment,
    Profile,
    ProfileChange,
    ProfileTag,
    Segment,
    SegmentMember,
    Tag,
)
from crm_segments.records import KINDS
from crm_segments.records.importer import import_csv
from tests.records import writes
from tests.workflows.helpers import active_workflow

ROWS = 45  # more than the per-profile re-evaluation's one-by-one limit (ONE_BY_ONE = 20)
COLUMNS = ("external_id", "first_name", "region", "company", "lifecycle_status", "email_consent")


def _profile(prefix: str, n: int) -> dict[str, str]:
    return {"external_id": f"{prefix}-{n:04d}", "first_name": f"Name{n}",
            "region": ("Norte", "Texas", "")[n % 3], "company": "Acme Ltd" if n % 4 == 0 else "",
            "lifecycle_status": ("lead", "prospect", "customer")[n % 3 - 1 if n % 5 else 0],
            "email_consent": "yes" if n % 2 else "no"}


def _csv(prefix: str, rows: int) -> io.BytesIO:
    lines = [",".join(COLUMNS)] + [",".join(_profile(prefix, n)[c] for c in COLUMNS) for n in range(rows)]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def _set_up(session: Session) -> None:
    """Two live segments (one a field, one a union of two fields), an auto-tag rule and two
    active workflows: on entering a segment and on the rule's tag."""
    north = Segment(name="North", kind="live", version=1,
                    rule={"field": "region", "op": "eq", "value": "Norte"})
    firms = Segment(name="Firms or leads", kind="live", version=1, rule={"any": [
        {"field": "company", "op": "is_set"}, {"field": "lifecycle_status", "op": "eq", "value": "lead"}]})
    tag = Tag(name="Lead", name_key="lead")
    session.add_all([north, firms, tag])
    session.flush()
    session.add(AutoTagRule(name="Leads", entity_type="profile", tag_id=tag.id, mode="live", enabled=True,
                            condition={"field": "lifecycle_status", "op": "eq", "value": "lead"}))
    at = utcnow() - dt.timedelta(minutes=1)
    steps = [{"key": "tag_one", "type": "add_tag", "tag": "welcomed"}]
    active_workflow(session, {"name": "Northern welcome", "steps": steps,
                              "trigger": {"type": "segment_entered", "segment": north.name}}, at=at)
    active_workflow(session, {"name": "Lead nurture", "steps": steps,
                              "trigger": {"type": "tag_added", "tag": tag.name}}, at=at)
    session.flush()


def _outcome(session: Session, prefix: str) -> dict[str, set[tuple[Any, str]]]:
    """What the writes of the profiles named ``prefix-NNNN`` left, keyed by their number."""
    session.flush()
    number = func.substr(Profile.external_id, len(prefix) + 2)
    mine = Profile.external_id.like(f"{prefix}-%")

    def rows(query: Any) -> set[tuple[Any, str]]:
        return {(key, n) for key, n in session.execute(query.where(mine))}

    return {
        "members": rows(select(SegmentMember.segment_id, number)
                        .join(Profile, Profile.id == SegmentMember.profile_id)),
        "tags": rows(select(ProfileTag.tag_id, number).join(Profile, Profile.id == ProfileTag.entity_id)),
        "enrollments": rows(select(Enrollment.workflow_id, number)
                            .join(Profile, Profile.id == Enrollment.profile_id)),
        "consent": rows(select(ConsentChange.channel, number)
                        .join(Profile, Profile.id == ConsentChange.profile_id)),
    }


@pytest.mark.parametrize("threshold", [20_000, 10], ids=["per-profile", "staged-batch"])
def test_an_import_leaves_what_single_writes_leave(session: Session, backend: str, threshold: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "STAGE_FROM", threshold)
    _set_up(session)
    for n in range(ROWS):
        # An empty cell of a CSV is a field not given (not an empty text): leave it out likewise.
        given = {field: value for field, value in _profile("ONE", n).items() if value}
        writes.create(KINDS["profiles"], session=session, data=given)
    report = import_csv(session=session, kind="profiles", stream=_csv("CSV", ROWS), chunk_rows=20)
    assert (report.created, report.profiles_changed) == (ROWS, ROWS)
    single, imported = _outcome(session, "ONE"), _outcome(session, "CSV")
    assert all(single.values())  # every kind of outcome happened, so the comparison says something
    assert imported == single


def test_a_failing_last_row_leaves_nothing_written(session: Session, backend: str) -> None:
    _set_up(session)
    counts = (Profile, SegmentMember, ProfileTag, Enrollment, ConsentChange, ProfileChange)

    def count_all() -> list[int]:
        session.flush()
        return [int(session.scalar(select(func.count()).select_from(model)) or 0) for model in counts]

    before = count_all()
    text = _csv("CSV", ROWS).getvalue().decode() + "CSV-9999,Bad,Norte,,zombie,yes\n"
    with pytest.raises(ValidationFailed) as failed:
        import_csv(session=session, kind="profiles", stream=io.BytesIO(text.encode()), chunk_rows=20)
    assert [(e.row, e.field) for e in failed.value.errors] == [(ROWS + 2, "lifecycle_status")]
    assert count_all() == before
