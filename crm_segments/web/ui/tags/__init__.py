"""Tag pages: the tag list and editing, the tag editor on profile and record pages, bulk tags, tag rules."""

from __future__ import annotations

from flask import Blueprint

from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.tags import bulk, editor, rules, views


def register(bp: Blueprint, sections: ProfileSections) -> None:
    for pages in (views, editor, bulk, rules):
        pages.register(bp, sections)
