"""One transaction per item for scheduled jobs and background tasks.

A job that works through many items (segments to refresh, auto-tag rules to run) commits each on
its own, so one failing item neither undoes nor blocks the others; why it failed is kept on the
item's row in a short transaction of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
MAX_ERROR = 2000

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class ItemOutcome(Generic[Item, Result]):
    item: Item
    result: Result | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def error_message(exc: BaseException) -> str:
    """The first line of a failure, the driver's own message where there is one."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip() or type(exc).__name__
    return text.splitlines()[0][:MAX_ERROR]


def each_in_own_transaction(
    session_factory: Callable[[], Session],
    items: Iterable[Item],
    work: Callable[[Session, Item], Result],
    *,
    record_error: Callable[[Session, Item, str], None],
    label: str,
) -> list[ItemOutcome[Item, Result]]:
    """Run ``work(session, item)`` for each item and commit it; on failure roll back and record."""
    outcomes: list[ItemOutcome[Item, Result]] = []
    for item in items:
        try:
            with session_factory() as session:
                result = work(session, item)
                session.commit()
        except Exception as exc:  # noqa: BLE001 - kept on the item's row; the other items still run
            message = error_message(exc)
            log.warning("%s %s failed: %s", label, item, message, exc_info=True)
            _record(session_factory, item, message, record_error, label)
            outcomes.append(ItemOutcome(item, error=message))
        else:
            outcomes.append(ItemOutcome(item, result=result))
    return outcomes


def _record(session_factory: Callable[[], Session], item: Item, message: str,
            record_error: Callable[[Session, Item, str], None], label: str) -> None:
    try:
        with session_factory() as session:
            record_error(session, item, message)
            session.commit()
    except Exception:  # noqa: BLE001 - the log above already holds the failure
        log.exception("could not record why %s %s failed", label, item)
