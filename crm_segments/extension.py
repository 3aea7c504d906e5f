"""The CRMSegments Flask extension: a host app mounts the UI and API and brings its own database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from crm_segments.config import Settings, settings_from_config
from crm_segments.db import make_engine, make_session_factory
from crm_segments.tasks.worker import TaskWorker

EXTENSION_KEY = "crm_segments"


@dataclass
class State:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Any]
    task_worker: TaskWorker | None = None  # runs tasks queued by pages; None when turned off


class CRMSegments:
    """Usage: ``CRMSegments(app)`` or ``ext = CRMSegments(); ext.init_app(app)``.

    Settings are ``CRM_SEGMENTS_*`` keys of ``app.config``; state lives in
    ``app.extensions["crm_segments"]`` so one extension object can serve several apps.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        if app is not None:
            self.init_app(app, **options)

    def init_app(self, app: Flask, *, url_prefix: str = "", api_prefix: str | None = None) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("CRMSegments is already registered on this app")
        app.config.setdefault("CRM_SEGMENTS_DATABASE_URL", None)
        app.config.setdefault("CRM_SEGMENTS_PUBLIC_URL", None)
        app.config.setdefault("CRM_SEGMENTS_OUTBOX_DIR", None)
        app.config.setdefault("CRM_SEGMENTS_PAGE_SIZE", 50)
        app.config.setdefault("CRM_SEGMENTS_BACKGROUND_WORKER", True)
        settings = settings_from_config(app.config)
        from crm_segments.automation.rendering import configure as configure_rendering
        from crm_segments.segments.query_segments import configure as configure_query_segments

        configure_rendering(settings.templates)  # per process: the last app set up sets the limits
        configure_query_segments(settings.query_segment_timeout)  # likewise
        engine = make_engine(settings.database_url)
        state = State(settings, engine, make_session_factory(engine))
        if settings.background_worker:
            state.task_worker = TaskWorker(lambda: state.session_factory)
        app.extensions[EXTENSION_KEY] = state

        from crm_segments.web import register_web
        from crm_segments.web.limits import install_request_limits

        api_prefix = api_prefix or f"{url_prefix}/api/v1"
        install_request_limits(app, settings=settings, api_prefix=api_prefix)  # before any route
        register_web(app, url_prefix=url_prefix, api_prefix=api_prefix)


def get_state(app: Flask) -> State:
    state: State = app.extensions[EXTENSION_KEY]
    return state
