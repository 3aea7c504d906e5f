"""Profile taggings and tag history reference their profile through triggers, not foreign keys
(crm_segments.models.tags.PROFILE_REFERENCE_TRIGGERS): the same integrity, checked per statement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, NotSupportedError, OperationalError
from sqlalchemy.orm import Session

from crm_segments.db import make_engine, utcnow
from crm_segments.models import Profile, ProfileTag, Tag, TagEvent
from crm_segments.tagging import selection
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


# --- PostgreSQL: what replaces the foreign key's row locks ------------------------------------------

@pytest.fixture
def pg_engine(postgresql_url: str) -> Iterator[Engine]:
    engine = make_engine(postgresql_url)
    yield engine
    engine.dispose()


@pytest.fixture
def writer(pg_engine: Engine) -> Iterator[tuple[Connection, Session]]:
    """A transaction that has written a tagging (a new profile's), left open."""
    with pg_engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection) as session, bind_session(session):
            profile = ProfileFactory()
            add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="Open")
            yield connection, session
        transaction.rollback()


def _impatient(connection: Connection) -> None:
    connection.execute(text("SET LOCAL lock_timeout = '200ms'"))


@pytest.mark.postgres
def test_deleting_profiles_waits_for_transactions_writing_taggings(
        pg_engine: Engine, writer: tuple[Connection, Session]) -> None:
    with pg_engine.connect() as other, other.begin():
        _impatient(other)
        with pytest.raises(OperationalError, match="lock timeout"):
            other.execute(delete(Profile).where(Profile.id == -1))


@pytest.mark.postgres
def test_writing_taggings_waits_for_transactions_deleting_profiles(pg_engine: Engine) -> None:
    with pg_engine.connect() as deleting, deleting.begin():
        deleting.execute(delete(Profile).where(Profile.id == -1))
        with pg_engine.connect() as connection, connection.begin():
            with Session(bind=connection) as session, bind_session(session):
                profile = ProfileFactory()
                _impatient(connection)
                with pytest.raises(OperationalError, match="lock timeout"):
                    add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="Late")


@pytest.mark.postgres
def test_repeatable_read_writers_lock_the_rows_and_deleting_profiles_is_refused(pg_engine: Engine) -> None:
    with pg_engine.connect() as deleting, deleting.begin():
        deleting.execute(delete(Profile).where(Profile.id == -1))  # holds the exclusive lock
        with pg_engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            with connection.begin(), Session(bind=connection) as session, bind_session(session):
                _impatient(connection)
                profile = ProfileFactory()
                # No wait for the advisory lock: the profile row is locked FOR KEY SHARE instead.
                change = add_tag(session=session, entity_type="profile", entity_id=profile.id,
                                 tag_name="Serial")
                assert change.changed
                with pytest.raises(NotSupportedError), session.begin_nested():
                    session.execute(delete(Profile).where(Profile.id == profile.id))
