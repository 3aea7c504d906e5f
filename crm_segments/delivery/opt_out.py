"""Marketing templates must tell the recipient how to stop them, checked when a template is saved.

A template's content type says what it is: "transactional" templates (a quote sent, an alert to the
owner) are transactional; every other content type (evergreen, seasonal, sales, marketing,
congratulatory, trendy) is marketing. A marketing email must show the unsubscribe link
(``{{ unsubscribe_url }}``) in its text part and in its HTML part, if it has one; a marketing SMS must
name an opt-out keyword in capitals ("Reply STOP to opt out"). Checked on the parts as rendered
against the sample context, so a link or keyword that only a branch not taken would show is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from crm_segments.kernel.errors import FieldError

from .sms_keywords import STOP_WORDS

TRANSACTIONAL = "transactional"
_KEYWORD = re.compile(r"\b(?:" + "|".join(STOP_WORDS) + r")\b")


def is_marketing(content_type: str) -> bool:
    return content_type != TRANSACTIONAL


def opt_out_errors(channel: str, content_type: str, texts: Mapping[str, str],
                   unsubscribe_url: str) -> list[FieldError]:
    """What a marketing template lacks, by field; ``texts`` are its parts rendered with the sample
    context, whose unsubscribe link is ``unsubscribe_url`` (a part that did not render is skipped)."""
    if not is_marketing(content_type):
        return []
    if channel == "sms":
        sms = texts.get("sms")
        if sms is not None and not _KEYWORD.search(sms):
            return [FieldError("text_body", "a marketing SMS must say how to opt out, e.g. “Reply STOP to "
                                            f"opt out” (one of {', '.join(STOP_WORDS[:6])}, in capitals)")]
        return []
    errors = []
    if (text := texts.get("text")) is not None and unsubscribe_url not in text:
        errors.append(FieldError("text_body", "a marketing email must show the unsubscribe link: add "
                                              "{{ unsubscribe_url }}"))
    if (html := texts.get("html")) is not None and unsubscribe_url not in html:
        errors.append(FieldError("html_body", "a marketing email must link to unsubscribing: add "
                                              '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'))
    return errors
