"""Back-off for retryable provider errors: exponential, capped, never sooner than Retry-After."""

from __future__ import annotations

import datetime as dt

MAX_ATTEMPTS = 8
BASE_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=1)
MAX_RETRY_AFTER = dt.timedelta(hours=6)  # a provider asking for longer is treated as an outage


def retry_delay(attempts: int, retry_after: float | None = None) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    backoff: dt.timedelta = min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)
    if retry_after is not None:
        return max(backoff, min(dt.timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return backoff
