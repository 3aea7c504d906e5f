"""The fake providers and the settings that point at them, as for the messaging tests, and a renderer
pool of a test's own."""

from collections.abc import Iterator

import pytest

from crm_segments.templates import render_pool
from tests.messages.conftest import fake_sendgrid, fake_twilio, sendgrid_signer, settings

__all__ = ["fake_sendgrid", "fake_twilio", "sendgrid_signer", "settings"]


@pytest.fixture
def own_pool() -> Iterator[render_pool.RenderPool]:
    """A pool of one renderer for this test alone."""
    pool = render_pool.RenderPool(1)
    saved, render_pool._pool = render_pool._pool, pool
    yield pool
    render_pool._pool = saved
    pool.close()
