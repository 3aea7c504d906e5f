"""The app's set-up wires the domains: init_app registers the listeners of changed profiles, the
installers of init-db and the kinds of background task, in their order; nothing else does it by being
imported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_segments import create_app
from crm_segments.kernel import changes
from crm_segments.records.import_task import import_task
from crm_segments.segments.prebuilt import install_segments
from crm_segments.segments.realtime import on_profiles_changed as update_live_segments
from crm_segments.segments.refresh_task import refresh_task
from crm_segments.state import get_state
from crm_segments.tagging.realtime import on_profiles_changed as retag_changed_profiles
from crm_segments.wiring import profile_listeners


@pytest.fixture
def unwired() -> Iterator[None]:
    before = changes.registered()
    changes.register(changes.ProfileListeners())
    yield
    changes.register(before)


def test_init_app_registers_the_profile_listeners_in_order(unwired: None) -> None:
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": "sqlite://", "SECRET_KEY": "x" * 32,
                      "CRM_SEGMENTS_BACKGROUND_WORKER": False})
    registered = changes.registered()
    assert registered == profile_listeners()
    # Auto-tags before live segments (rules may test tags), workflows last.
    assert registered.each[:2] == (retag_changed_profiles, update_live_segments)
    installers = get_state(app).installers
    assert installers[0] is install_segments
    assert [i.__name__ for i in installers][-1] == "install_shipped"  # workflows name segments



def test_init_app_puts_the_task_kinds_and_their_handlers_on_the_state() -> None:
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": "sqlite://", "SECRET_KEY": "x" * 32,
                      "CRM_SEGMENTS_BACKGROUND_WORKER": False})
    kinds = get_state(app).task_kinds
    assert list(kinds) == ["segment_refresh", "bulk_tag", "auto_tag_rule", "csv_import"]
    assert (kinds["segment_refresh"].handler, kinds["csv_import"].handler) == (refresh_task, import_task)
    assert kinds["csv_import"].roles == ("admin",)
