"""What every page shares: the layout's navigation, tag colours and the error pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    section: str  # endpoints starting with this are highlighted as this item
    roles: tuple[str, ...] = ("admin", "sales")


# Items whose endpoint is not registered (a page not built or not enabled) are left out.
NAV_ITEMS = (
    NavItem("Home", "crm_ui.home", "crm_ui.home"),
    NavItem("Profiles", "crm_ui.profiles", "crm_ui.profile"),
    NavItem("Records", "crm_ui.records", "crm_ui.record"),  # quotes, jobs and opportunities
    NavItem("Segments", "crm_ui.segments", "crm_ui.segment"),
    NavItem("Tags", "crm_ui.tags", "crm_ui.tag"),
    NavItem("Workflows", "crm_ui.workflows", "crm_ui.workflow"),
    NavItem("Messages", "crm_ui.messages", "crm_ui.message"),
    NavItem("Templates", "crm_ui.templates", "crm_ui.template"),  # sales see them, admins change them
    NavItem("Import", "crm_ui.import_data", "crm_ui.import", roles=("admin",)),
    NavItem("Users", "crm_ui.users", "crm_ui.user", roles=("admin",)),
)

ERROR_PAGES = {
    403: ("Forbidden", "Your role does not give access to this page."),
    404: ("Not found", "There is nothing at this address, or it has been deleted."),
}


def nav_for(role: str | None, endpoint: str | None) -> list[dict[str, Any]]:
    views = current_app.view_functions
    return [
        {"label": item.label, "url": url_for(item.endpoint),
         "active": bool(endpoint and endpoint.startswith(item.section))}
        for item in NAV_ITEMS
        if item.endpoint in views and role in item.roles
    ]


@routes.app_context_processor
def layout_context() -> dict[str, Any]:
    # Registered app-wide so crm_auth pages share the layout; names are prefixed to avoid
    # clashing with a host app's template globals.
    role = current_user.role if current_user.is_authenticated else None
    return {
        "crm_nav": nav_for(role, request.endpoint) if role else [],
        "crm_home_url": url_for("crm_ui.home"),
    }


_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_TAG_COLOR = "#6b7280"
TAG_TEXT_DARK = "#111827"


@routes.app_template_global("crm_tag_data")
def tag_data(color: str | None) -> Markup:
    """A tag badge's colour (only a #rrggbb value) and readable text on it, as data attributes that
    crm.js applies: the Content-Security-Policy allows no inline style attribute."""
    color = color if color and _HEX_COLOR.fullmatch(color) else DEFAULT_TAG_COLOR
    return Markup(f'data-tag-color="{color}" data-tag-text="{tag_text_color(color)}"')


def _luminance(color: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    channels = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    red, green, blue = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def tag_text_color(color: str) -> str:
    """Dark or white text, whichever has the higher WCAG contrast on the tag's colour (tags.js agrees)."""
    background = _luminance(color)
    dark = (background + 0.05) / (_luminance(TAG_TEXT_DARK) + 0.05)
    white = 1.05 / (background + 0.05)
    return TAG_TEXT_DARK if dark >= white else "#ffffff"


def error_page(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    heading, message = ERROR_PAGES.get(code, (exc.name, exc.description or ""))
    return render_template("crm_segments/error.html", code=code, heading=heading, message=message), code


def register_app_error_pages(app: Flask) -> None:
    """The standalone app shows the plugin's error pages for every URL (e.g. an unknown address)."""
    for code in ERROR_PAGES:
        app.register_error_handler(code, error_page)


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    # Errors raised inside this plugin's views get its pages; a host app's own errors are left alone.
    for code in ERROR_PAGES:
        bp.register_error_handler(code, error_page)
