"""Record the profiles each write signals as changed, through the real signal function."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from crm_segments import wiring
from crm_segments.kernel import changes


@pytest.fixture
def changed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[int]]]:
    """Each call of ``profiles_changed`` appends the profile ids it was given (listeners still run),
    also after an app is set up during the test (init_app registers the listeners again)."""
    calls: list[set[int]] = []
    real = wiring.profile_listeners

    def recorder(_session: Session, ids: frozenset[int]) -> None:
        calls.append(set(ids))

    def batch_recorder(_session: Session, changed: changes.ChangedProfiles) -> None:
        calls.append(set(changed.ids))

    def with_recorder() -> changes.ProfileListeners:
        listeners = real()
        return changes.ProfileListeners(each=(*listeners.each, recorder),
                                        batch=(*listeners.batch, batch_recorder))

    monkeypatch.setattr(wiring, "profile_listeners", with_recorder)
    wiring.connect_domains()
    yield calls
    changes.register(real())
