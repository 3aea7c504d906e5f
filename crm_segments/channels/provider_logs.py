"""The provider libraries' own loggers: quiet unless asked, and never showing a credential.

Twilio's library logs eleven INFO lines per message, the request URL (with the account SID) among
them; SendGrid's HTTP client logs the request headers (with the API key) at DEBUG. Their level is the
``CRM_SEGMENTS_PROVIDER_LOG_LEVEL`` setting (WARNING by default), and at every level a filter masks
the API keys, auth tokens and account SIDs the channels were made with. ``mask`` does the same for
the error texts the channels keep on message rows.
"""

from __future__ import annotations

import logging
import threading

# Set the level on these; the libraries log through their children.
LEVEL_LOGGERS = ("twilio", "sendgrid", "python_http_client")
# A logger's filter sees only what is logged on that very logger, so it goes on each one that logs.
EMITTING_LOGGERS = (*LEVEL_LOGGERS, "twilio.http_client", "python_http_client.client",
                    "urllib3.connectionpool")  # Twilio's requests: the URL, at DEBUG
MASK = "[redacted]"
MIN_SECRET = 8  # real keys, tokens and SIDs are 32+ characters; a shorter value would mask common words

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a secret that contains another is masked whole


def mask(text: str) -> str:
    """``text`` with every registered credential and account id replaced by ``[redacted]``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class _MaskSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = mask(text)
        if masked != text:
            record.msg, record.args = masked, None
        return True


_FILTER = _MaskSecrets()


def register_secrets(*secrets: str | None) -> None:
    """Mask these from now on (a channel's key, token and account SID); the filters go on at first use."""
    global _secrets
    with _lock:
        known = set(_secrets) | {secret for secret in secrets if secret and len(secret) >= MIN_SECRET}
        _secrets = tuple(sorted(known, key=len, reverse=True))
        for name in EMITTING_LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


def configure(level: str) -> None:
    """Set the provider libraries' loggers to ``level`` (a name such as ``WARNING``)."""
    for name in LEVEL_LOGGERS:
        logging.getLogger(name).setLevel(level)
