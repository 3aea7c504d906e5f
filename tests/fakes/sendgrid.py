"""A fake SendGrid v3 Mail Send API: ``POST /v3/mail/send`` answers 202 with ``X-Message-Id``.

Talk to it with the official library: ``SendGridAPIClient(api_key, host=fake.url)``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from .server import FakeProvider, Received, Reply

MAIL_SEND_PATH = "/v3/mail/send"


class FakeSendGrid(FakeProvider):
    spec_file = "sendgrid-mail-v3.json"

    def __init__(self, *, api_key: str = "SG.test-key", validate: bool = True,
                 check_after: bool = False) -> None:
        super().__init__(validate=validate, check_after=check_after)
        self.api_key = api_key
        self.invalid_addresses: set[str] = set()  # answered 400 "Does not contain a valid address."
        # Temporary failures for one recipient, whatever order concurrent requests arrive in:
        # (status, Retry-After, seconds before the answer).
        self.address_faults: dict[str, list[tuple[int, int | None, float]]] = {}

    def reject_address(self, email: str) -> None:
        self.invalid_addresses.add(email.lower())

    def fail_address(self, email: str, status: int, *, retry_after: int | None = None,
                     times: int = 1, delay: float = 0.0) -> None:
        """Answer the next ``times`` messages to ``email`` with ``status`` (429, 500...), ``delay``
        seconds after they came (nothing is taken)."""
        self.address_faults.setdefault(email.lower(), []).extend([(status, retry_after, delay)] * times)

    def authenticate(self, request: Received) -> Reply | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return Reply(401, {"errors": [{"message": "The provided authorization grant is invalid, "
                                                      "expired, or revoked", "field": "authorization"}]})
        return None

    def reject(self, request: Received) -> Reply | None:
        if request.path != MAIL_SEND_PATH:
            return self.error_reply(404, "not found")
        payload = request.json()
        for p_index, personalization in enumerate(payload.get("personalizations", [])):
            for t_index, recipient in enumerate(personalization.get("to", [])):
                with self._lock:
                    faults = self.address_faults.get(recipient["email"].lower())
                    fault = faults.pop(0) if faults else None
                if fault is not None:
                    status, retry_after, delay = fault
                    time.sleep(delay)
                    reply = self.error_reply(status, f"error {status}")
                    if retry_after is not None:
                        reply.headers["Retry-After"] = str(retry_after)
                    return reply
                if recipient["email"].lower() in self.invalid_addresses:
                    return Reply(400, {"errors": [{
                        "message": "Does not contain a valid address.",
                        "field": f"personalizations.{p_index}.to.{t_index}.email",
                    }]})
        return None

    def accept(self, request: Received) -> tuple[dict[str, Any], Reply]:
        message_id = secrets.token_urlsafe(16)[:22]
        record = {"message_id": message_id, **request.json()}
        return record, Reply(202, None, {"X-Message-Id": message_id})

    def error_reply(self, status: int, message: str, *, code: int | None = None) -> Reply:
        return Reply(status, {"errors": [{"message": message, "field": None}]})

    # -- helpers for tests -----------------------------------------------------------------------

    def recipients(self) -> list[str]:
        return [to["email"] for m in self.messages for p in m["personalizations"] for to in p["to"]]

    def custom_args(self, message: dict[str, Any]) -> dict[str, str]:
        args: dict[str, str] = dict(message.get("custom_args") or {})
        for personalization in message["personalizations"]:
            args.update(personalization.get("custom_args") or {})
        return args
