"""The shipped defaults `init-db` creates: each domain registers an installer here.

Installers are idempotent: they create what is missing and leave admins' edits alone.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

Installer = Callable[[Session], None]


def installers() -> list[Installer]:
    # Imported here so loading this module has no side effects and no import cycles.
    from crm_segments.automation.template_store import install_templates
    from crm_segments.automation.workflows.files import install_shipped as install_workflows
    from crm_segments.segments.prebuilt import install_segments
    from crm_segments.tagging.shipped import install_shipped_rules

    # Workflows last: they name the shipped segments and templates.
    return [install_segments, install_templates, install_shipped_rules, install_workflows]


def install_defaults(*, session: Session) -> None:
    for install in installers():
        install(session)
