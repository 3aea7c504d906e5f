"""Sections other features add to the profile page (tag editor, segment membership, tag history...).

A feature's page module registers a section when it is imported::

    add_profile_section(ProfileSection(
        key="tag_history", title="Tag history", template="crm_segments/tags/_profile_history.html",
        context=lambda session, profile: {"events": tag_history(session=session, profile_id=profile.id)},
    ))

The profile page includes each section's template, in ``order``, inside its ``profile_extras``
block, with ``profile`` and ``section`` (the section and its ``data``) in the template context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from flask_login import current_user
from sqlalchemy.orm import Session

from crm_segments.models import Profile

SectionContext = Callable[[Session, Profile], dict[str, Any]]


@dataclass(frozen=True)
class ProfileSection:
    key: str
    title: str
    template: str
    context: SectionContext | None = None
    column: Literal["main", "side"] = "main"
    order: int = 100
    roles: tuple[str, ...] = ("admin", "sales")


@dataclass(frozen=True)
class RenderedSection:
    key: str
    title: str
    template: str
    column: str
    data: dict[str, Any]


_SECTIONS: dict[str, ProfileSection] = {}


def add_profile_section(section: ProfileSection) -> None:
    """Register (or replace, by key) a section of the profile page."""
    _SECTIONS[section.key] = section


def sections_for(*, session: Session, profile: Profile) -> list[RenderedSection]:
    role = current_user.role if current_user.is_authenticated else None
    chosen = sorted((s for s in _SECTIONS.values() if role in s.roles), key=lambda s: (s.order, s.key))
    return [
        RenderedSection(s.key, s.title, s.template, s.column,
                        s.context(session, profile) if s.context else {})
        for s in chosen
    ]
