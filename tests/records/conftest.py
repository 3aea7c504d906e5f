"""Record the profiles each write signals as changed, through the real signal function."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from crm_segments.services import changes


@pytest.fixture
def changed(monkeypatch: pytest.MonkeyPatch) -> list[set[int]]:
    """Each call of ``profiles_changed`` appends the profile ids it was given (listeners still run)."""
    calls: list[set[int]] = []
    real = changes.listeners

    def recorder(_session: Session, ids: frozenset[int]) -> None:
        calls.append(set(ids))

    def listeners() -> list[Any]:
        return [*real(), recorder]

    monkeypatch.setattr(changes, "listeners", listeners)
    return calls
