"""Email through SendGrid's v3 Mail Send, with the official library and a timeout.

The product's message id rides in ``custom_args`` so every delivery event (and the settling of an
ambiguous send) finds its row; bulk mail carries List-Unsubscribe and one-click unsubscribe headers.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, From, Header, Mail

from . import provider_logs
from .base import Accepted, AmbiguousError, Outgoing, RetryableError, classify_status, parse_retry_after

MESSAGE_ID_ARG = "crm_message_id"


class SendGridChannel:
    provider = "sendgrid"
    idempotent = False

    def __init__(self, *, api_key: str, email_from: str, host: str = "https://api.sendgrid.com",
                 timeout: float = 10.0) -> None:
        provider_logs.register_secrets(api_key)
        self._client = SendGridAPIClient(api_key, host=host)
        self.email_from = email_from
        self._from = From(email_from)  # parsed once; Mail only reads it (threads share it)
        self.timeout = timeout

    def build(self, message: Outgoing) -> dict[str, Any]:
        mail = Mail(from_email=self._from, to_emails=message.to, subject=message.subject,
                    plain_text_content=message.text_body, html_content=message.html_body or None)
        # On the personalization: the definition types a top-level custom_args as a string.
        mail.custom_arg = CustomArg(MESSAGE_ID_ARG, str(message.message_id), p=0)
        if message.unsubscribe_url:
            mail.header = Header("List-Unsubscribe", f"<{message.unsubscribe_url}>")
            mail.header = Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        body: dict[str, Any] = mail.get()
        return body

    def send(self, message: Outgoing) -> Accepted:
        body = self.build(message)
        try:
            response = self._client.client.mail.send.post(request_body=body, timeout=self.timeout)
        except HTTPError as exc:
            raise _from_http_error(exc) from None
        except urllib.error.URLError as exc:
            # urllib wraps failures *before* the request was sent (refused, DNS, connect timeout).
            raise RetryableError(f"SendGrid unreachable: {exc.reason}", code="connect") from None
        except (OSError, http.client.HTTPException) as exc:
            # After the request left: read timeout, reset or closed connection. It may have been taken.
            raise AmbiguousError(f"no answer from SendGrid: {exc!r}", code="no_answer") from None
        return Accepted(response.headers.get("X-Message-Id"))


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
