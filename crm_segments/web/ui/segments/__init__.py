"""Segment pages: the list, the rule editor with its preview and parameters, a segment's size chart."""

from __future__ import annotations

from flask import Blueprint

from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.segments import views


def register(bp: Blueprint, sections: ProfileSections) -> None:
    for pages in (views,):
        pages.register(bp, sections)
