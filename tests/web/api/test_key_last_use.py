"""An API key's last use is written at most once a minute, so a stream of reads does not write on
every request; a use after the minute moves it forward."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.models import ApiKey

from .conftest import Api


def last_use(session: Session, key: ApiKey) -> dt.datetime | None:
    session.refresh(key, ["last_used_at"])
    return key.last_used_at


def test_last_use_is_written_at_most_once_a_minute(api: Api, api_key: tuple[ApiKey, str],
                                                   session: Session) -> None:
    key, _ = api_key
    recent = utcnow() - dt.timedelta(seconds=30)
    key.last_used_at = recent
    session.flush()
    for _ in range(3):
        assert api.get("/profiles").status_code == 200
    assert last_use(session, key) == recent  # within the minute: not written again

    stale = utcnow() - dt.timedelta(minutes=2)
    key.last_used_at = stale
    session.flush()
    assert api.get("/profiles").status_code == 200
    written = last_use(session, key)
    assert written is not None and written > stale + dt.timedelta(minutes=1)
