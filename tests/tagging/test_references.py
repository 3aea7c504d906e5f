"""Profile taggings and tag history reference their profile through triggers, not foreign keys
(crm_segments.models.tags.PROFILE_REFERENCE_TRIGGERS): the same integrity, checked per statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, NotSupportedError, OperationalError
from sqlalchemy.orm import Session

from crm_segments.db import make_engine, utcnow
from crm_segments.models import Profile, ProfileTag, Tag, TagEvent
from crm_segments.selection import targets as selection
from crm_segments.tagging.bulk import bulk_tag
from crm_segments.tagging.manual import add_tag
from tests.factories import ProfileFactory, TagFactory, bind_session

from .helpers import event_count, tagged_ids


def _event(profile_id: int, tag: Tag) -> dict[str, object]:
    return {"entity_type": "profile", "entity_id": profile_id, "profile_id": profile_id, "tag_id": tag.id,
            "tag_name": tag.name, "action": "added", "source": "manual", "occurred_at": utcnow()}


def _missing_profile_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Profile.id))) or 0) + 1000


def test_a_tagging_of_a_profile_that_does_not_exist_is_refused(session: Session) -> None:
    tag = TagFactory()
    ProfileFactory()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert(ProfileTag).values(entity_id=_missing_profile_id(session), tag_id=tag.id,
                                                  source="manual", added_at=utcnow()))


def test_a_tag_event_of_a_profile_that_does_not_exist_is_refused(session: Session) -> None:
    tag = TagFactory()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert(TagEvent).values(**_event(_missing_profile_id(session), tag)))


def test_moving_a_tagging_to_a_profile_that_does_not_exist_is_refused(session: Session) -> None:
    profile = ProfileFactory()
    change = add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="Moved")
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(update(ProfileTag).where(ProfileTag.entity_id == profile.id)
                        .values(entity_id=_missing_profile_id(session)))
    assert tagged_ids(session, change.tag) == {profile.id}


def test_a_bulk_statement_with_one_missing_profile_changes_nothing(session: Session) -> None:
    profiles = ProfileFactory.create_batch(3)
    tag = TagFactory()
    rows = [{"entity_id": p.id, "tag_id": tag.id, "source": "bulk", "added_at": utcnow()} for p in profiles]
    rows.append({**rows[0], "entity_id": _missing_profile_id(session)})
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert(ProfileTag), rows)
    assert tagged_ids(session, tag) == set()


def test_deleting_profiles_deletes_their_taggings_and_tag_history(session: Session) -> None:
    gone, other, kept = ProfileFactory.create_batch(3)
    tag = TagFactory()
    result = bulk_tag(session=session, action="add", tags=[tag], selection=selection.by_ids(
        session=session, entity_type="profile", ids=[gone.id, other.id, kept.id]))
    assert result.changed == 3
    session.execute(delete(Profile).where(Profile.id.in_([gone.id, other.id])))
    assert tagged_ids(session, tag) == {kept.id}
    assert event_count(session, profile_id=gone.id) == event_count(session, profile_id=other.id) == 0
    assert event_count(session, profile_id=kept.id) == 1


def test_the_id_of_a_tagged_profile_cannot_change(session: Session) -> None:
    tagged, untagged = ProfileFactory.create_batch(2)
    add_tag(session=session, entity_type="profile", entity_id=tagged.id, tag_name="Fixed")
    new_id = _missing_profile_id(session)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(update(Profile).where(Profile.id == tagged.id).values(id=new_id))
    session.execute(update(Profile).where(Profile.id == untagged.id).values(id=new_id))  # no tags: fine
    assert session.get(Profile, new_id) is not None


def test_a_tagging_with_a_tag_that_does_not_exist_is_refused(session: Session) -> None:
    profile = ProfileFactory()
    missing_tag = int(session.scalar(select(func.max(Tag.id))) or 0) + 1000
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert(ProfileTag).values(entity_id=profile.id, tag_id=missing_tag, source="manual",
                                                  added_at=utcnow()))


def test_deleting_a_tag_deletes_its_profile_taggings_only(session: Session) -> None:
    profile = ProfileFactory()
    gone = add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="Gone").tag
    kept = add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="Kept").tag
    session.execute(delete(Tag).where(Tag.id == gone.id))
    assert set(session.scalars(select(ProfileTag.tag_id).where(ProfileTag.entity_id == profile.id))) == {
        kept.id}
    assert event_count(session, profile_id=profile.id) == 2  # history outlives the tag


def test_the_id_of_a_tag_in_use_cannot_change(session: Session) -> None:
    profile = ProfileFactory()
    tag = add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="Fixed id").tag
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(update(Tag).where(Tag.id == tag.id).values(id=tag.id + 1000))


# --- PostgreSQL: what replaces the foreign key's row locks ------------------------------------------

@pytest.fixture
def pg_engine(postgresql_url: str) -> Iterator[Engine]:
    engine = make_engine(postgresql_url)
    yield engine
    engine.dispose()


@contextmanager
def _uncommitted(engine: Engine, isolation_level: str = "READ COMMITTED") -> Iterator[Connection]:
    """A transaction of its own, always rolled back (other connections never see its rows)."""
    with engine.connect().execution_options(isolation_level=isolation_level) as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def _impatient(connection: Connection) -> None:
    connection.execute(text("SET LOCAL lock_timeout = '200ms'"))


def _tag_a_new_profile(connection: Connection, tag_name: str) -> bool:
    with Session(bind=connection) as session, bind_session(session):
        profile = ProfileFactory()
        change = add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name=tag_name)
        return change.changed


@pytest.mark.postgres
def test_deleting_profiles_waits_for_transactions_writing_taggings(pg_engine: Engine) -> None:
    with _uncommitted(pg_engine) as writer, _uncommitted(pg_engine) as deleting:
        assert _tag_a_new_profile(writer, "Open")
        _impatient(deleting)
        with pytest.raises(OperationalError, match="lock timeout"):
            deleting.execute(delete(Profile).where(Profile.id == -1))


@pytest.mark.postgres
def test_writing_taggings_waits_for_transactions_deleting_profiles(pg_engine: Engine) -> None:
    with _uncommitted(pg_engine) as deleting, _uncommitted(pg_engine) as writer:
        deleting.execute(delete(Profile).where(Profile.id == -1))
        _impatient(writer)
        with pytest.raises(OperationalError, match="lock timeout"):
            _tag_a_new_profile(writer, "Late")


@pytest.mark.postgres
def test_repeatable_read_writers_lock_the_rows_and_deleting_profiles_is_refused(pg_engine: Engine) -> None:
    with _uncommitted(pg_engine) as deleting, _uncommitted(pg_engine, "REPEATABLE READ") as writer:
        deleting.execute(delete(Profile).where(Profile.id == -1))  # holds the exclusive lock
        _impatient(writer)
        # No wait for the advisory lock: the profile row is locked FOR KEY SHARE instead.
        assert _tag_a_new_profile(writer, "Serial")
        with pytest.raises(NotSupportedError):
            writer.execute(delete(Profile).where(Profile.id == -2))
