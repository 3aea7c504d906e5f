"""crm-segments: tag customer profiles, group them into live segments and message them automatically."""

from __future__ import annotations

from typing import Any

from flask import Flask

from crm_segments.extension import CRMSegments

__all__ = ["CRMSegments", "create_app"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The standalone app: settings from the environment, overridden by ``config``."""
    from crm_segments.config import config_from_env
    from crm_segments.web.security_headers import cover_whole_app
    from crm_segments.web.ui.layout import register_app_error_pages

    app = Flask(__name__)
    app.config.update(config_from_env())
    if config:
        app.config.update(config)
    CRMSegments(app)
    register_app_error_pages(app)
    cover_whole_app(app)
    return app
