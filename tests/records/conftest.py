"""Record the profiles each write signals as changed, through the real signal function."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from crm_segments.kernel import changes


@pytest.fixture
def changed() -> Iterator[list[set[int]]]:
    """Each call of ``profiles_changed`` appends the profile ids it was given (listeners still run)."""
    calls: list[set[int]] = []
    real = changes.registered()

    def recorder(_session: Session, ids: frozenset[int]) -> None:
        calls.append(set(ids))

    changes.register(changes.ProfileListeners(each=(*real.each, recorder), whole_base=real.whole_base))
    yield calls
    changes.register(real)
