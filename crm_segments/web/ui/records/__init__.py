"""Record pages: the lists of each record type, a record's page and edit forms, bulk owner changes."""

from __future__ import annotations

from flask import Blueprint

from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.records import edit, lists, owner_bulk


def register(bp: Blueprint, sections: ProfileSections) -> None:
    for pages in (lists, edit, owner_bulk):
        pages.register(bp, sections)
