"""Background tasks in tests: run what a request queued, as the worker thread would, and read the
task page the request led to."""

from __future__ import annotations

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crm_segments.state import get_state
from crm_segments.tasks.worker import run_pending_tasks


def follow_task(client: FlaskClient, response: TestResponse) -> str:
    """The page of the task ``response`` redirected to, after the queued tasks have run."""
    assert response.status_code == 302, response.status_code
    assert "/tasks/" in response.location, response.location
    state = get_state(client.application)
    run_pending_tasks(state.session_factory, state.task_kinds)
    page = client.get(response.location)
    assert page.status_code == 200
    return page.get_data(as_text=True)
