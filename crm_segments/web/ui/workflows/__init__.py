"""Workflow pages: the list, the editor and its form, enrollments on the profile page."""

from __future__ import annotations

from flask import Blueprint

from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.workflows import views


def register(bp: Blueprint, sections: ProfileSections) -> None:
    for pages in (views,):
        pages.register(bp, sections)
