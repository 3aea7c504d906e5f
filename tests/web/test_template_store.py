"""One source of truth for message templates: a shipped file is used until an admin's edit saved in
the database overrides it; an upgrade that changes a file reaches every template nobody edited."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import MessageTemplate
from crm_segments.templates.template_store import (
    get_template,
    install_templates,
    is_edited,
    list_templates,
    shipped_templates,
    template_state,
)
from crm_segments.workflows.template_saving import reset_template, save_template

pytestmark = pytest.mark.usefixtures("backend")
KEY = "evergreen/welcome"
EDITED = "Edited text. Unsubscribe: {{ unsubscribe_url }}"


def _row(session: Session, key: str = KEY) -> MessageTemplate:
    return session.scalars(select(MessageTemplate).where(MessageTemplate.key == key)).one()


def _as_if_installed_from_an_older_file(row: MessageTemplate) -> None:
    """The row and its shipped copy hold the text of an older release's file."""
    row.text_body = "Old welcome text"
    row.shipped = {**(row.shipped or {}), "text_body": "Old welcome text"}


def test_an_unedited_row_follows_its_file(session: Session) -> None:
    install_templates(session)
    row = _row(session)
    _as_if_installed_from_an_older_file(row)
    session.flush()
    assert not is_edited(row)
    # The current file is used, not the stale copy, even before init-db runs again ...
    assert get_template(session, KEY) == shipped_templates()[KEY]
    assert template_state(session, KEY).origin == "shipped"
    # ... and init-db brings the copy up to the file.
    install_templates(session)
    assert _row(session).text_body == shipped_templates()[KEY].text_body
    assert _row(session).shipped == {"subject": shipped_templates()[KEY].subject,
                                     "html_body": shipped_templates()[KEY].html_body,
                                     "text_body": shipped_templates()[KEY].text_body}


def test_an_edit_overrides_its_file_until_reset(session: Session) -> None:
    install_templates(session)
    _as_if_installed_from_an_older_file(_row(session))
    save_template(session, key=KEY, subject="Hello {{ profile.first_name }}", text_body=EDITED)
    install_templates(session)  # an upgrade leaves the edit alone
    assert get_template(session, KEY).text_body == EDITED  # type: ignore[union-attr]
    assert template_state(session, KEY).origin == "edited"
    assert next(t for t in list_templates(session) if t.key == KEY).text_body == EDITED

    reset_template(session, KEY)
    assert get_template(session, KEY) == shipped_templates()[KEY]
    assert not is_edited(_row(session))  # the file is the source again and follows later upgrades


def test_a_template_made_in_the_database_is_custom(session: Session) -> None:
    save_template(session, key="sales/spring_offer", channel="email", subject="Spring offer",
                  text_body="Hi {{ profile.first_name }}\nUnsubscribe: {{ unsubscribe_url }}")
    state = template_state(session, "sales/spring_offer")
    assert (state.origin, state.shipped, state.source.content_type) == ("custom", None, "sales")
    assert "sales/spring_offer" in {t.key for t in list_templates(session)}
