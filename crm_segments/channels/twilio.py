"""SMS through Twilio's Messages API with the official library, a timeout and a status callback URL.

Twilio error codes decide what happens: 21610 (the recipient replied STOP) is permanent and
withdraws SMS consent; 21211 / 21614 (invalid or non-mobile number) are permanent; 20003 / 20005
(credentials refused, account not active) and HTTP 401/403 pause the SMS channel; 20429 and HTTP
429/5xx are retried. A read timeout or dropped connection after the request left is ambiguous.

The library's client keeps a ``requests`` session, but its pool holds at most ``min(32, CPUs + 4)``
connections (https only); here the session keeps one kept-alive connection per send thread, and
retries nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import NameResolutionError, NewConnectionError

from . import provider_logs
from .base import (
    Accepted,
    AmbiguousError,
    Outgoing,
    PermanentError,
    RetryableError,
    classify_status,
    parse_retry_after,
)

OPTED_OUT = 21610
PERMANENT_CODES = {21211: "invalid 'To' number", 21614: "'To' is not a mobile number",
                   21408: "region not enabled", 21612: "cannot route to this number"}
RETRY_CODES = {20429}
# The account, not the message: every message would be refused alike, so the SMS channel pauses.
ACCOUNT_CODES = {20003: "authentication failed", 20005: "account not active",
                 10001: "account not active", 21472: "account not active"}


class _HeaderKeepingClient(TwilioHttpClient):  # type: ignore[misc]
    """Keeps the last answer's headers (per thread): TwilioRestException does not carry Retry-After.
    Its session keeps up to ``connections`` connections alive."""

    def __init__(self, *, connections: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last = threading.local()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=connections, max_retries=0)
        for prefix in ("https://", "http://"):
            self.session.mount(prefix, adapter)

    @property
    def last_headers(self) -> Mapping[str, str]:
        return getattr(self._last, "headers", None) or {}

    def request(self, *args: Any, **kwargs: Any) -> Response:
        response: Response = super().request(*args, **kwargs)
        self._last.headers = response.headers
        return response


class TwilioChannel:
    provider = "twilio"
    idempotent = False

    def __init__(self, *, account_sid: str, auth_token: str, from_number: str | None = None,
                 messaging_service_sid: str | None = None, api_url: str = "https://api.twilio.com",
                 timeout: float = 10.0, connections: int = 8) -> None:
        """``connections``: kept-alive connections to Twilio (the send threads that share this channel)."""
        provider_logs.register_secrets(account_sid, auth_token)  # the SID is in every request's URL
        self._http = _HeaderKeepingClient(timeout=timeout, connections=connections)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        # The library builds every Messages URL from its API domain's base URL.
        self._client.api.base_url = api_url
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid

    def send(self, message: Outgoing) -> Accepted:
        sender = ({"messaging_service_sid": self.messaging_service_sid} if self.messaging_service_sid
                  else {"from_": self.from_number})
        try:
            created = self._client.messages.create(to=message.to, body=message.text_body,
                                                   status_callback=message.status_callback_url, **sender)
        except TwilioException as exc:  # TwilioRestException and the newer TwilioServiceException
            raise self._classify(exc) from None
        except requests.exceptions.ConnectTimeout as exc:
            raise RetryableError(f"Twilio unreachable: {_masked(exc)}", code="connect") from None
        except requests.exceptions.ConnectionError as exc:
            if _not_connected(exc):
                raise RetryableError(f"Twilio unreachable: {_masked(exc)}", code="connect") from None
            raise AmbiguousError(f"no answer from Twilio: {_masked(exc)}", code="no_answer") from None
        except requests.exceptions.RequestException as exc:  # read timeout and the like
            raise AmbiguousError(f"no answer from Twilio: {_masked(exc)}", code="no_answer") from None
        return Accepted(created.sid)

    def _classify(self, exc: TwilioException) -> Exception:
        status = int(getattr(exc, "status", 0) or 0)
        code = getattr(exc, "code", None)
        text = provider_logs.mask(getattr(exc, "msg", None) or getattr(exc, "detail", None) or str(exc))
        message = f"Twilio {status} error {code}: {text}"
        if code == OPTED_OUT:
            return PermanentError(message, code=str(code), withdraw_consent=True)
        if code in PERMANENT_CODES:
            return PermanentError(message, code=str(code))
        if code in ACCOUNT_CODES:
            return PermanentError(message, code=str(code), account_problem=True)
        retry_after = parse_retry_after(self._http.last_headers.get("Retry-After"))
        if code in RETRY_CODES:
            return RetryableError(message, code=str(code), retry_after=retry_after)
        return classify_status(status, message, code=str(code) if code else None, retry_after=retry_after)


def _masked(exc: Exception) -> str:
    """The error's text (requests names the URL, which holds the account SID) without credentials."""
    return provider_logs.mask(str(exc))


def _not_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when no connection was made, so the request never reached Twilio."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError)
