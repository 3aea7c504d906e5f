"""The local outbox: with no provider keys, messages are written as files (and listed on a page).

Each message is one file named by its id, written atomically, so sending it again overwrites the
same file: the outbox cannot hold a duplicate, and a crash mid-send can safely be retried.
"""

from __future__ import annotations

import os
import tempfile
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from .base import Accepted, Outgoing


def outbox_path(outbox_dir: Path, message_id: int, channel: str) -> Path:
    """The one file of a message in the local outbox."""
    return Path(outbox_dir) / f"message-{message_id:08d}.{'eml' if channel == 'email' else 'txt'}"


class LocalOutboxChannel:
    provider = "local"
    idempotent = True

    def __init__(self, *, outbox_dir: Path, email_from: str) -> None:
        self.outbox_dir = Path(outbox_dir)
        self.email_from = email_from

    def path_for(self, message_id: int, channel: str) -> Path:
        return outbox_path(self.outbox_dir, message_id, channel)

    def send(self, message: Outgoing) -> Accepted:
        path = self.path_for(message.message_id, message.channel)
        content = _eml(message, self.email_from) if message.channel == "email" else _sms(message)
        _write_atomically(path, content)
        return Accepted(f"local-{message.message_id}")


def _eml(message: Outgoing, sender: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject or ""
    mail["Message-ID"] = make_msgid(idstring=f"crm-{message.message_id}", domain="crm-segments.local")
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.text_body)
    if message.html_body:
        mail.add_alternative(message.html_body, subtype="html")
    return bytes(mail)


def _sms(message: Outgoing) -> bytes:
    return f"To: {message.to}\n\n{message.text_body}\n".encode()


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sending-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
