"""Sections other features add to the profile page (tag editor, segment membership, tag history...).

A feature's page module adds its sections in its ``register`` function::

    sections.add(ProfileSection(
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

from flask import Blueprint, Flask
from flask.blueprints import BlueprintSetupState
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


_EXTENSION_KEY = "crm_segments.profile_sections"


class ProfileSections:
    """The sections of one app's profile page, added by the page modules when the UI is built."""

    def __init__(self) -> None:
        self._by_key: dict[str, ProfileSection] = {}

    def add(self, section: ProfileSection) -> None:
        """Add (or replace, by key) a section of the profile page."""
        self._by_key[section.key] = section

    def keys(self) -> list[str]:
        """The sections' keys in the order they were added."""
        return list(self._by_key)

    def for_profile(self, *, session: Session, profile: Profile) -> list[RenderedSection]:
        """The sections the signed-in user's role sees, in ``order``, with their data."""
        role = current_user.role if current_user.is_authenticated else None
        chosen = sorted((s for s in self._by_key.values() if role in s.roles), key=lambda s: (s.order, s.key))
        return [
            RenderedSection(s.key, s.title, s.template, s.column,
                            s.context(session, profile) if s.context else {})
            for s in chosen
        ]

    def keep_on(self, bp: Blueprint) -> None:
        """The app the blueprint is registered on holds these sections (see ``profile_sections``)."""
        def remember(state: BlueprintSetupState) -> None:
            state.app.extensions[_EXTENSION_KEY] = self
        bp.record_once(remember)


def profile_sections(app: Flask) -> ProfileSections:
    """The profile-page sections of ``app``'s UI."""
    sections: ProfileSections = app.extensions[_EXTENSION_KEY]
    return sections
