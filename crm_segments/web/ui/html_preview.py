"""An email's HTML shown inside a page (a message's content, the template editor's preview) with its
own inline styles allowed by their hashes, so the preview looks like the email that is sent.

The page's Content-Security-Policy (web/security_headers.py) applies inside the sandboxed ``srcdoc``
frame as well, and its ``style-src 'self'`` refuses every ``style`` attribute and ``<style>`` element,
which is how emails are styled. The page showing one gets the same policy with ``style-src`` also
admitting the SHA-256 of each style that email holds (``'unsafe-hashes'`` lets a hash admit a style
attribute): any other inline style, and every script, stays refused.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

from flask import Response, make_response

from crm_segments.web.security_headers import CONTENT_SECURITY_POLICY

MAX_STYLES = 300  # distinct styles admitted by hash; an email with more shows the rest unstyled


def with_preview_styles(body: str, status: int, html: str | None) -> Response:
    """The page ``body`` whose Content-Security-Policy admits the inline styles of ``html``."""
    response = make_response(body, status)
    if html:
        response.headers["Content-Security-Policy"] = policy_admitting_styles(html)
    return response


def policy_admitting_styles(html: str) -> str:
    styles = _Styles()
    styles.feed(html)
    styles.close()
    if not styles.found:
        return CONTENT_SECURITY_POLICY
    hashes = " ".join(f"'sha256-{_digest(text)}'" for text in sorted(styles.found)[:MAX_STYLES])
    return CONTENT_SECURITY_POLICY.replace("style-src 'self'",
                                           f"style-src 'self' 'unsafe-hashes' {hashes}", 1)


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


class _Styles(HTMLParser):
    """The text of every ``style`` attribute (entities decoded, as the browser hashes it) and of every
    ``<style>`` element (raw, as written)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: set[str] = set()
        self._element: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.update(value for name, value in attrs if name == "style" and value)
        if tag == "style":
            self._element = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._element is not None:
            self.found.add("".join(self._element))
            self._element = None

    def handle_data(self, data: str) -> None:
        if self._element is not None:
            self._element.append(data)
