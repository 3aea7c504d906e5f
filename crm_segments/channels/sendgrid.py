"""Email through SendGrid's v3 Mail Send, with the official library and a timeout.

The product's message id rides in ``custom_args`` so every delivery event (and the settling of an
ambiguous send) finds its row; bulk mail carries List-Unsubscribe and one-click unsubscribe headers.

The library's HTTP client (python_http_client) opens a new connection for every request (urllib). Here
it sends over a pool of kept-alive connections instead (urllib3, at most one per send thread): the
library's Client still builds every request (URL, headers, JSON body), answers with its Response and
raises its own HTTPError subclasses; the transport behind ``Client._make_request``, the seam the
library keeps for it, is replaced, and the urllib opener it built per request is no longer built.
A request on a kept-alive connection that fails after it may have left is ambiguous, like any other
(never resent); urllib3 retries nothing.
"""

from __future__ import annotations

import io
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from typing import Any, cast
from urllib.parse import urlsplit

import python_http_client
import urllib3
from python_http_client.client import Response
from python_http_client.exceptions import HTTPError, handle_error
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import From
from urllib3.exceptions import ConnectTimeoutError, SSLError

from . import provider_logs
from .base import Accepted, AmbiguousError, Outgoing, RetryableError, classify_status, parse_retry_after

MESSAGE_ID_ARG = "crm_message_id"
_library_log = logging.getLogger("python_http_client.client")


class SendGridChannel:
    provider = "sendgrid"
    idempotent = False

    def __init__(self, *, api_key: str, email_from: str, host: str = "https://api.sendgrid.com",
                 timeout: float = 10.0, connections: int = 8) -> None:
        """``connections``: kept-alive connections to SendGrid (the send threads that share this channel)."""
        provider_logs.register_secrets(api_key)
        library = SendGridAPIClient(api_key, host=host)
        # The library sets its Client up the same way (and replaces it when the region changes).
        self._client = PooledClient(pool=connection_pool(host, size=connections), host=library.client.host,
                                    request_headers=library.client.request_headers, version=3,
                                    timeout=timeout)
        self._mail_send = self._client.mail.send
        self.email_from = email_from
        self._from: dict[str, str] = From(email_from).get()  # parsed once, by the library
        self.timeout = timeout

    def build(self, message: Outgoing) -> dict[str, Any]:
        """The v3 Mail Send body, as the library's ``Mail`` helper makes it (the tests compare the two),
        written out directly: the helper's objects cost more CPU than the rest of a send."""
        body: dict[str, Any] = {"from": self._from}
        if message.subject is not None:
            body["subject"] = message.subject
        # On the personalization: the definition types a top-level custom_args as a string.
        body["personalizations"] = [{"to": [{"email": message.to}],
                                     "custom_args": {MESSAGE_ID_ARG: str(message.message_id)}}]
        content = [{"type": "text/plain", "value": message.text_body}]
        if message.html_body:
            content.append({"type": "text/html", "value": message.html_body})
        body["content"] = content
        if message.unsubscribe_url:
            body["headers"] = {"List-Unsubscribe": f"<{message.unsubscribe_url}>",
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        return body

    def send(self, message: Outgoing) -> Accepted:
        body = self.build(message)
        try:
            response = self._mail_send.post(request_body=body, timeout=self.timeout)
        except HTTPError as exc:
            raise _from_http_error(exc) from None
        except ConnectTimeoutError as exc:  # and NewConnectionError, NameResolutionError: nothing left
            raise RetryableError(f"SendGrid unreachable: {exc}", code="connect") from None
        except SSLError as exc:
            if _certificate_refused(exc):  # refused during the handshake, before the request
                raise RetryableError(f"SendGrid unreachable: {exc}", code="connect") from None
            raise AmbiguousError(f"no answer from SendGrid: {exc!r}", code="no_answer") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # The request may have left: read timeout, reset or closed connection. It may have been taken.
            raise AmbiguousError(f"no answer from SendGrid: {exc!r}", code="no_answer") from None
        return Accepted(response.headers.get("X-Message-Id"))


class PooledClient(python_http_client.Client):  # type: ignore[misc]
    """python_http_client's Client, sending each request it builds over ``pool``."""

    def __init__(self, *, pool: urllib3.PoolManager, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool = pool
        # Without a proxy, the host's own connection pool, looked up once: the manager's lookup and
        # URL parsing per request were a sixth of a send's CPU. Through a proxy, the manager's way.
        self._host_pool: urllib3.HTTPConnectionPool | None = (
            None if isinstance(pool, urllib3.ProxyManager) else pool.connection_from_url(self.host))

    def _build_client(self, name: str | None = None) -> PooledClient:
        # As the library's, but the client for a path segment (client.mail.send) is one of these too.
        return PooledClient(pool=self._pool, host=self.host, version=self._version,
                            request_headers=self.request_headers,
                            url_path=self._url_path + [name] if name else self._url_path,
                            append_slash=self.append_slash, timeout=self.timeout)

    def __getattr__(self, name: str) -> Any:
        if name not in self.methods:
            return super().__getattr__(name)  # a path segment, or version(): the library's own
        method = name.upper()

        def http_request(request_body: Any = None, query_params: dict[str, Any] | None = None,
                         request_headers: dict[str, str] | None = None, timeout: float | None = None,
                         **_: Any) -> Response:
            # The library's request for a verb (URL, headers, JSON body), less the urllib opener it
            # builds for every request (handlers and the proxy settings: a fifth of a send's CPU).
            if request_headers:
                self._update_headers(request_headers)
            data = None
            if request_body is not None:
                if self.request_headers.get("Content-Type", "application/json") != "application/json":
                    data = request_body.encode("utf-8")
                else:
                    self.request_headers.setdefault("Content-Type", "application/json")
                    data = json.dumps(request_body).encode("utf-8")
            request = urllib.request.Request(self._build_url(query_params), headers=self.request_headers,
                                             data=data, method=method)
            debug = _library_log.isEnabledFor(logging.DEBUG)
            if debug:  # what the library logs (provider_logs masks the key)
                _library_log.debug("%s Request: %s", method, request.get_full_url())
                _library_log.debug("PAYLOAD: %s", data)
                _library_log.debug("HEADERS: %s", request.headers)
            response = Response(self._make_request(None, request, timeout=timeout))
            if debug:
                _library_log.debug("%s Response: %s %s", method, response.status_code, response.body)
            return response

        return http_request

    def _make_request(self, opener: object, request: urllib.request.Request,
                      timeout: float | None = None) -> _Answer:
        url = request.get_full_url()
        options: dict[str, Any] = {"body": cast(bytes | None, request.data),
                                   "headers": dict(request.header_items()),
                                   "timeout": timeout or self.timeout, "retries": False, "redirect": False}
        if self._host_pool is None:
            answer = self._pool.urlopen(request.get_method(), url, **options)
        else:  # the path, as the manager hands it to the host's pool
            answer = self._host_pool.urlopen(request.get_method(), request.selector, assert_same_host=False,
                                             **options)
        if answer.status >= 400:
            # What urllib raises for an error status, turned into the library's exception as it does.
            raise handle_error(urllib.error.HTTPError(url, answer.status, answer.reason or "",
                                                      answer.headers, io.BytesIO(answer.data)))  # type: ignore[arg-type]
        return _Answer(answer)


class _Answer:
    """What python_http_client's Response reads from an answer (urllib's interface)."""

    def __init__(self, answer: urllib3.BaseHTTPResponse) -> None:
        self._answer = answer

    def getcode(self) -> int:
        return self._answer.status

    def read(self) -> bytes:
        return self._answer.data

    def info(self) -> urllib3.HTTPHeaderDict:
        return self._answer.headers


def connection_pool(url: str, *, size: int) -> urllib3.PoolManager:
    """Up to ``size`` kept-alive connections to ``url``'s host, through the proxy the environment names
    for it (HTTPS_PROXY, NO_PROXY...), as urllib would have used."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.netloc):
        return urllib3.ProxyManager(proxy, num_pools=2, maxsize=size)
    return urllib3.PoolManager(num_pools=2, maxsize=size)


def _certificate_refused(exc: SSLError) -> bool:
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, ssl.SSLCertVerificationError | ssl.CertificateError)


def _from_http_error(exc: HTTPError) -> Exception:
    headers = exc.headers or {}
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if retry_after is None and (reset := headers.get("X-RateLimit-Reset")) and str(reset).isdigit():
        retry_after = max(0.0, int(reset) - time.time())
    return classify_status(int(exc.status_code), f"SendGrid {exc.status_code}: {_errors(exc.body)}",
                           retry_after=retry_after)


def _errors(body: bytes | str | None) -> str:
    try:
        data = json.loads(body or b"")
        return "; ".join(
            f"{e.get('message')}" + (f" ({e['field']})" if e.get("field") else "") for e in data["errors"]
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        return text[:300]
