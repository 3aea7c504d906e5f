"""How the domains are put together, in one place and in order: who hears that profiles changed,
which shipped defaults ``init-db`` creates and which background tasks pages may queue.
``CRMSegments.init_app`` (the composition root) registers them; nothing is wired by importing a module."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.kernel import changes
from crm_segments.kernel.changes import ProfileListeners
from crm_segments.records.import_task import import_task
from crm_segments.segments.prebuilt import install_segments
from crm_segments.segments.realtime import on_bulk_change as update_live_segments_of_batch
from crm_segments.segments.realtime import on_profiles_changed as update_live_segments
from crm_segments.segments.refresh_task import refresh_task
from crm_segments.state import Installer
from crm_segments.tagging.bulk_task import bulk_tag_task
from crm_segments.tagging.realtime import on_bulk_change as retag_batch
from crm_segments.tagging.realtime import on_profiles_changed as retag_changed_profiles
from crm_segments.tagging.rule_task import run_rule_task
from crm_segments.tagging.shipped import install_shipped_rules
from crm_segments.tasks.kinds import TaskKind
from crm_segments.templates.template_store import install_templates
from crm_segments.workflows.files import install_shipped as install_workflows
from crm_segments.workflows.realtime import on_bulk_change as enroll_batch
from crm_segments.workflows.realtime import on_profiles_changed as enroll_changed_profiles


def profile_listeners() -> ProfileListeners:
    # Auto-tags first: segment rules may test the tags they set. Workflows last: they enroll from
    # the segment entries and tags the others have just written.
    return ProfileListeners(
        each=(retag_changed_profiles, update_live_segments, enroll_changed_profiles),
        batch=(retag_batch, update_live_segments_of_batch, enroll_batch),
    )


def default_installers() -> tuple[Installer, ...]:
    # Workflows last: they name the shipped segments and templates.
    return (install_segments, install_templates, install_shipped_rules, install_workflows)


def task_kinds() -> dict[str, TaskKind]:
    """The background tasks pages queue, by the name stored on the task row."""
    return {
        "segment_refresh": TaskKind("Segment refresh", refresh_task, ("admin", "sales")),
        "bulk_tag": TaskKind("Bulk tagging", bulk_tag_task, ("admin", "sales")),
        "auto_tag_rule": TaskKind("Auto-tag rule run", run_rule_task, ("admin",)),
        "csv_import": TaskKind("CSV import", import_task, ("admin",)),
    }


def connect_domains() -> None:
    """Register the listeners of changed profiles (process-wide: every app registers the same)."""
    changes.register(profile_listeners())


def install_defaults(*, session: Session) -> None:
    for install in default_installers():
        install(session)
