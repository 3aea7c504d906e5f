"""The cyclic garbage collector is paused while an import reads its rows and is back afterwards."""

from __future__ import annotations

import gc
import io
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Profile
from crm_segments.records.importer import import_csv


class WatchedFile(io.BytesIO):
    """A CSV file that notes whether the collector was on each time the importer read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.collector_on: list[bool] = []

    def read1(self, size: int = -1, /) -> bytes:
        self.collector_on.append(gc.isenabled())
        return super().read1(size)


@pytest.fixture
def collector_on() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if not was_enabled:
        gc.disable()


def _profiles(rows: list[str]) -> WatchedFile:
    return WatchedFile(("external_id,email\n" + "".join(f"{row}\n" for row in rows)).encode())


@pytest.mark.usefixtures("collector_on")
def test_the_collector_is_off_while_reading_and_on_after_an_import(session: Session, backend: str) -> None:
    file = _profiles([f"C-{n},c{n}@example.com" for n in range(120)])
    report = import_csv(session=session, kind="profiles", stream=file, chunk_rows=25)
    assert report.created == 120
    assert file.collector_on and not any(file.collector_on)
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_the_collector_is_back_on_after_a_refused_import(session: Session, backend: str) -> None:
    file = _profiles(["C-1,c1@example.com", "C-2,not an address"])
    with pytest.raises(ValidationFailed) as refused:
        import_csv(session=session, kind="profiles", stream=file)
    assert [(e.row, e.field) for e in refused.value.errors] == [(3, "email")]
    assert gc.isenabled()
    assert session.scalar(select(func.count()).select_from(Profile)) == 0


def test_an_import_leaves_a_paused_collector_paused(session: Session) -> None:
    gc.disable()
    try:
        import_csv(session=session, kind="profiles", stream=_profiles(["C-1,c1@example.com"]))
        assert not gc.isenabled()
    finally:
        gc.enable()
