"""What every channel takes and how it reports failure, sorted by what the dispatcher must do next.

- ``RetryableError``: the provider did not take the message (429, 5xx, no connection): try again later.
- ``PermanentError``: the provider refused it for good (bad address, unsubscribed number, bad key).
- ``AmbiguousError``: the request left but no answer came back (read timeout, dropped connection);
  the provider may have taken it, so it must not be sent again blindly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    message_id: int
    channel: str
    to: str
    text_body: str
    subject: str | None = None
    html_body: str | None = None
    unsubscribe_url: str | None = None       # email: List-Unsubscribe target
    status_callback_url: str | None = None   # SMS: where the provider reports delivery


@dataclass(frozen=True)
class Accepted:
    provider_message_id: str | None


class SendError(Exception):
    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RetryableError(SendError):
    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentError(SendError):
    def __init__(self, message: str, *, code: str | None = None, withdraw_consent: bool = False,
                 account_problem: bool = False) -> None:
        super().__init__(message, code=code)
        self.withdraw_consent = withdraw_consent  # the recipient opted out at the provider
        self.account_problem = account_problem    # bad credentials: every message would fail alike


class AmbiguousError(SendError):
    pass


class Channel(Protocol):
    provider: str
    # Sending again after a crash cannot make a duplicate (the local outbox overwrites its file).
    idempotent: bool

    def send(self, message: Outgoing) -> Accepted: ...


def classify_status(status: int, message: str, *, code: str | None = None,
                    retry_after: float | None = None) -> SendError:
    """The error for an HTTP error answer that carries no more specific provider code."""
    if status == 429 or status >= 500 or status == 408:
        return RetryableError(message, code=code or str(status), retry_after=retry_after)
    if status in (401, 403):
        return PermanentError(message, code=code or str(status), account_problem=True)
    return PermanentError(message, code=code or str(status))


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())
