"""What one app's CRMSegments holds: its settings, database, task kinds and worker, kept in
``app.extensions["crm_segments"]``; views, commands and scheduled jobs read it through ``get_state``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings
from crm_segments.tasks.kinds import TaskKinds
from crm_segments.tasks.worker import TaskWorker

EXTENSION_KEY = "crm_segments"

# Creates what is missing of one domain's shipped defaults and leaves admins' edits alone.
Installer = Callable[[Session], None]


@dataclass
class State:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Any]
    task_worker: TaskWorker | None = None  # runs tasks queued by pages; None when turned off
    # Where the plugin's routes are reachable from outside (PUBLIC_URL + the prefix): links in messages.
    base_url: str = ""
    # What `init-db` creates after migrating, in this order (registered by init_app).
    installers: tuple[Installer, ...] = ()
    # The kinds of background task this app runs, by name (registered by init_app).
    task_kinds: TaskKinds = field(default_factory=dict)


def get_state(app: Flask) -> State:
    state: State = app.extensions[EXTENSION_KEY]
    return state
