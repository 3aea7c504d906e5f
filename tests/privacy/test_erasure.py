"""Erasing a profile leaves nothing that names the person in any table or in the outbox, keeps
everyone else's data, and writes an audit row of ids and counts (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.db import Base
from crm_segments.kernel.errors import NotFound
from crm_segments.models import BackgroundTask, Erasure, Profile, ProfileChange, Segment
from crm_segments.privacy.erasure import erase_profile, erasure_preview
from crm_segments.privacy.plan import PLAN
from crm_segments.privacy.plan import Person as Identified
from tests.factories import UserFactory

from .people import Person, person, shared


def _counts(session: Session, profile_id: int) -> dict[str, int]:
    """The person's rows per table, as the plan selects them."""
    session.flush()
    profile = session.get(Profile, profile_id)
    assert profile is not None
    who = Identified.of(session, profile, uploads=True)
    return {name: int(session.scalar(select(func.count()).select_from(Base.metadata.tables[name])
                                     .where(rule.rows(who))) or 0)
            for name, rule in PLAN.items() if rule.rows is not None}


def _text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace").lower()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False).lower()
    return str(value).lower()


def _profile_columns(name: str) -> set[str]:
    table = Base.metadata.tables[name]
    by_key = {c.name for c in table.columns
              if any(fk.column.table.name == "crm_profiles" for fk in c.foreign_keys)}
    return by_key | set(PLAN[name].references)


def _keys(session: Session, profile_id: int) -> dict[str, set[tuple[Any, ...]]]:
    """Primary keys of the person's rows in every table the erasure deletes from (itself or by cascade)."""
    profile = session.get(Profile, profile_id)
    assert profile is not None
    who = Identified.of(session, profile, uploads=True)
    keys = {}
    for name, rule in PLAN.items():
        if rule.rows is not None and rule.erase in ("delete", "cascade"):
            table = Base.metadata.tables[name]
            keys[name] = {tuple(row) for row in session.execute(select(*table.primary_key.columns)
                                                                .where(rule.rows(who)))}
    return keys


def _still_there(session: Session, keys: dict[str, set[tuple[Any, ...]]]) -> list[str]:
    found = []
    for name, wanted in keys.items():
        table = Base.metadata.tables[name]
        present = {tuple(row) for row in session.execute(select(*table.primary_key.columns))}
        found += [f"{name} {key}" for key in sorted(wanted & present)]
    return found


def _what_remains(session: Session, gone: Person) -> list[str]:
    """Every row of every table that still refers to or names the erased person."""
    found = []
    needles = [n.lower() for n in gone.names]
    for name, table in Base.metadata.tables.items():
        references = _profile_columns(name)
        for row in session.execute(select(table)).mappings():
            for column, value in row.items():
                if value is None:
                    continue
                if column in references and value == gone.profile.id:
                    found.append(f"{name}.{column} = {value}")
                elif not isinstance(value, int | float) and any(n in _text(value) for n in needles):
                    found.append(f"{name}.{column}: {_text(value)[:80]}")
    return found


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


def test_erasure_leaves_nothing_that_names_the_person(session: Session, outbox: Path) -> None:
    common = shared(session)
    zoe, other = person(session, 1, common, outbox), person(session, 2, common, outbox)
    before = _counts(session, zoe.profile.id)
    # The test data reaches every table the plan says can hold the person's rows.
    assert [name for name, count in before.items() if count == 0] == []
    others_before = _counts(session, other.profile.id)
    keys = _keys(session, zoe.profile.id)
    admin = UserFactory(role="admin")
    common.segment.member_count = 2  # both are members (people.py)

    preview = erasure_preview(session=session, profile_id=zoe.profile.id, outbox_dir=outbox)
    assert preview.rows == before and sorted(preview.outbox_files) == sorted(zoe.files)
    zoe_id = zoe.profile.id
    audit = erase_profile(session=session, profile_id=zoe_id, outbox_dir=outbox, user_id=admin.id, via="ui")
    session.expire_all()

    assert _what_remains(session, zoe) == []
    assert _still_there(session, keys) == []  # rows that hold only ids (bulk undo items) included
    # The change log keeps nothing of the person, though deleting the profile wrote to it.
    assert session.scalar(select(func.count()).select_from(ProfileChange)
                          .where(ProfileChange.profile_id == zoe_id)) == 0
    # The segment the person was in counts one member fewer (its members went through the foreign key).
    assert session.get(Segment, common.segment.id).member_count == 1  # type: ignore[union-attr]
    assert not any(path.exists() for path in zoe.files)
    # Everyone else's data stays as it was, files included.
    assert _counts(session, other.profile.id) == others_before
    assert all(path.exists() for path in other.files)
    # The audit: ids and counts (the walk above found no name in it).
    stored = session.get(Erasure, audit.id)
    assert stored is not None and stored.profile_id == zoe_id and stored.erased_by_id == admin.id
    assert stored.rows == before and stored.outbox_files == 2 and stored.via == "ui"
    # The queued import that named the person does not run; the finished one keeps its outcome.
    statuses = {status: count for status, count in session.execute(
        select(BackgroundTask.status, func.count()).group_by(BackgroundTask.status))}
    assert statuses == {"failed": 1, "queued": 1, "done": 2}


def test_erasing_a_missing_profile_is_not_found(session: Session, outbox: Path) -> None:
    with pytest.raises(NotFound):
        erase_profile(session=session, profile_id=999_999, outbox_dir=outbox, user_id=None, via="api")
    assert session.scalar(select(func.count()).select_from(Erasure)) == 0
