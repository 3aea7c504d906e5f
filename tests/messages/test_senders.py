"""Registered senders: a dead one (heartbeat silent, or on PostgreSQL its session gone) has its claims
taken over at the next look, a live one's are left alone, and one taken for dead registers again."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.db import Base, make_engine, make_session_factory, utcnow
from crm_segments.messages import claims
from crm_segments.messages.senders import LOCK_NAMESPACE, SILENT_FOR, SenderHeartbeat, take_over_dead
from crm_segments.models import Message, Profile, Sender
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def committed_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database where every commit is real: a heartbeat writes on connections of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('senders') / 'senders.db'}"
        _create(url)
        yield url
        return
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        _create(url)
        yield url


def _create(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture
def engine(committed_url: str) -> Iterator[Engine]:
    engine = make_engine(committed_url)
    yield engine
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def _sender(factory: sessionmaker[Session], *, silent_for: dt.timedelta) -> int:
    """A sender row, as a process registers it, whose last heartbeat was ``silent_for`` ago."""
    now = utcnow()
    with factory() as session, session.begin():
        return int(session.scalars(insert(Sender).returning(Sender.id), [
            {"host": "elsewhere", "pid": 1, "started_at": now - silent_for,
             "heartbeat_at": now - silent_for}]).one())


def _messages(factory: sessionmaker[Session], rows: list[tuple[str, str | None, str | None]]) -> list[int]:
    """One message per (status, provider, claim token), claimed for the next five minutes."""
    now = utcnow()
    with factory() as session, session.begin():
        profile = session.scalars(insert(Profile).returning(Profile.id), [
            {"external_id": f"S-{time.monotonic_ns()}", "email": "s@example.com",
             "email_consent": True}]).one()
        return list(session.scalars(insert(Message).returning(Message.id), [
            {"dedupe_key": f"senders:{n}:{time.monotonic_ns()}", "profile_id": profile, "channel": "email",
             "category": "marketing", "template_key": "evergreen/welcome", "context": {}, "status": status,
             "provider": provider, "claim_token": token, "claimed_until": now + dt.timedelta(minutes=5),
             "attempted_at": now if status == "sending" else None, "next_attempt_at": now}
            for n, (status, provider, token) in enumerate(rows)]))


def _rows(factory: sessionmaker[Session], ids: list[int]) -> list[tuple[str, str | None]]:
    with factory() as session:
        found = dict(session.execute(select(Message.id, Message).where(Message.id.in_(ids))).all())
        return [(found[i].status, found[i].claim_token) for i in ids]


def _senders(factory: sessionmaker[Session]) -> set[int]:
    with factory() as session:
        return set(session.scalars(select(Sender.id)))


def _wait(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def test_a_silent_sender_s_claims_are_taken_over_at_once_and_a_live_one_s_are_kept(
        engine: Engine, factory: sessionmaker[Session]) -> None:
    silent = _sender(factory, silent_for=SILENT_FOR + dt.timedelta(seconds=1))
    with SenderHeartbeat(engine, every=3600) as live:  # registered and, on PostgreSQL, its lock held
        assert live.id is not None and live.id != silent
        dead_token, live_token = claims.new_token(silent), claims.new_token(live.id)
        anonymous = claims.new_token()  # a dispatcher that is no registered sender: its lease decides
        ids = _messages(factory, [
            ("pending", None, dead_token), ("sending", "sendgrid", dead_token),
            ("sending", "local", dead_token), ("pending", None, live_token),
            ("sending", "sendgrid", live_token), ("pending", None, anonymous)])

        taken = take_over_dead(factory)

        assert (taken.senders, taken.freed, taken.unknown, taken.requeued) == ([silent], 1, 1, 1)
        assert _rows(factory, ids) == [
            ("pending", None),          # claimable again
            ("unknown", dead_token),    # the provider may have it: settled by events, a late answer counts
            ("pending", None),          # the local outbox cannot duplicate: written again
            ("pending", live_token), ("sending", live_token), ("pending", anonymous)]
        assert _senders(factory) == {live.id}
        assert take_over_dead(factory).senders == []  # taken over once
    assert _senders(factory) == set()  # a sender that stops unregisters


def test_a_sender_is_dead_once_its_heartbeat_is_silent_and_never_taken_over_by_itself(
        engine: Engine, factory: sessionmaker[Session]) -> None:
    with SenderHeartbeat(engine, every=3600) as quiet:  # alive (on PostgreSQL its lock is held)
        assert quiet.id is not None
        with factory() as session, session.begin():  # its last heartbeat came 8 s ago
            session.execute(update(Sender).where(Sender.id == quiet.id)
                            .values(heartbeat_at=utcnow() - SILENT_FOR + dt.timedelta(seconds=2)))
        ids = _messages(factory, [("pending", None, claims.new_token(quiet.id))])
        assert take_over_dead(factory).senders == []
        later = utcnow() + dt.timedelta(seconds=3)  # silent for longer than SILENT_FOR
        assert take_over_dead(factory, me=quiet.id, now=later).senders == []
        assert take_over_dead(factory, now=later).senders == [quiet.id]
        assert _rows(factory, ids) == [("pending", None)]


@pytest.fixture
def postgresql_engine() -> Iterator[Engine]:
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        _create(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.mark.postgres
def test_on_postgresql_a_sender_whose_session_ended_is_dead_at_once(postgresql_engine: Engine) -> None:
    engine, factory = postgresql_engine, make_session_factory(postgresql_engine)
    with SenderHeartbeat(engine, every=3600) as beat:
        assert beat.id is not None
        ids = _messages(factory, [("pending", None, claims.new_token(beat.id)),
                                  ("sending", "sendgrid", claims.new_token(beat.id))])
        assert take_over_dead(factory).senders == []  # heartbeat fresh, lock held
        # The process dies: the server ends its session (as when the connection closes).
        with engine.begin() as connection:
            ended = connection.scalar(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid = :namespace AND objid = :id AND granted"),
                {"namespace": LOCK_NAMESPACE, "id": beat.id})
        assert ended
        _wait(lambda: bool(take_over_dead(factory).senders), timeout=5,  # the server frees the lock
              what="the ended sender taken over")
        assert [status for status, _ in _rows(factory, ids)] == ["pending", "unknown"]


def test_a_sender_taken_for_dead_registers_again_under_a_new_id(
        engine: Engine, factory: sessionmaker[Session]) -> None:
    with SenderHeartbeat(engine, every=0.05) as beat:
        first = beat.id
        assert first is not None and _senders(factory) == {first}
        with factory() as session, session.begin():  # what another sender's take-over does
            session.execute(Sender.__table__.delete().where(Sender.id == first))
        _wait(lambda: beat.id != first and _senders(factory) == {beat.id}, timeout=10,
              what="registered again")
        assert take_over_dead(factory).senders == []  # alive under its new id
        assert beat.id > first  # an id is never given twice: a dead sender's token stays its own
    assert _senders(factory) == set()


def test_new_tokens_carry_the_sender_and_fit_the_column() -> None:
    token = claims.new_token(2_147_483_647)
    assert token.startswith("2147483647-") and len(token) == 32
    assert len(claims.new_token()) == 32 and "-" not in claims.new_token()

