"""Small things pages show: who ran a bulk operation, and the outbox's folder only to admins."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.state import get_state
from tests.factories import ProfileFactory, UserFactory
from tests.tasks import follow_task

from .conftest import csrf_token_from, login


def test_a_bulk_operation_by_a_user_without_a_name_names_them_by_email(client: FlaskClient,
                                                                        session: Session) -> None:
    nameless = UserFactory(email="no.name@example.com", name=None, role="sales")
    ProfileFactory.create_batch(2, region="North")
    assert login(client, nameless.email).status_code == 302
    token = csrf_token_from(client.get("/profiles"))
    done = follow_task(client, client.post("/tags/bulk", data={
        "csrf_token": token, "scope": "filter", "region": "North", "q": "", "lifecycle": "",
        "tags": "Northern", "action": "add", "next": "/profiles?region=North"}))
    assert 'data-task-status="done"' in done

    history = client.get("/tags/bulk-operations").get_data(as_text=True)
    assert "<td>no.name@example.com</td>" in history


def test_the_outbox_folder_is_shown_to_admins_only(admin_client: FlaskClient, session: Session) -> None:
    folder = str(get_state(admin_client.application).settings.outbox_dir)
    admin_page = admin_client.get("/outbox").get_data(as_text=True)
    assert f"<code>{folder}</code>" in admin_page
    token = csrf_token_from(admin_client.get("/outbox"))
    admin_client.post("/logout", data={"csrf_token": token})

    sales = UserFactory(email="outbox.sales@example.com", role="sales")
    assert login(admin_client, sales.email).status_code == 302
    sales_page = admin_client.get("/outbox")
    assert sales_page.status_code == 200
    text = sales_page.get_data(as_text=True)
    assert "Local outbox" in text and folder not in text and "written to" not in text
