"""The CRMSegments Flask extension: a host app mounts the UI and API and brings its own database."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request

from crm_segments.accounts.identity import IdentityAdapter, identity_adapter
from crm_segments.config import ACCOUNT_ENV, MESSAGING_ENV, TEMPLATE_ENV, settings_from_config
from crm_segments.db import make_engine, make_session_factory
from crm_segments.state import EXTENSION_KEY, State
from crm_segments.tasks.worker import TaskWorker
from crm_segments.wiring import connect_domains, default_installers, task_kinds

# Every app.config key the plugin reads, with the value init_app sets when the host has none; None
# means the default documented in README.md's settings tables (the environment variable of the same
# name without CRM_SEGMENTS_ for DATABASE_URL, PUBLIC_URL and OUTBOX_DIR).
CONFIG_DEFAULTS: dict[str, Any] = {
    "CRM_SEGMENTS_DATABASE_URL": None,
    "CRM_SEGMENTS_PUBLIC_URL": None,
    "CRM_SEGMENTS_OUTBOX_DIR": None,
    "CRM_SEGMENTS_INSTANCE_DIR": None,
    "CRM_SEGMENTS_PAGE_SIZE": 50,
    "CRM_SEGMENTS_BACKGROUND_WORKER": True,
    "CRM_SEGMENTS_SCHEDULER_SENDS": True,
    "CRM_SEGMENTS_RECORDS_READ_ONLY": False,
    "CRM_SEGMENTS_NIGHTLY_FULL_REFRESH": True,
    "CRM_SEGMENTS_MAX_UPLOAD_BYTES": None,
    "CRM_SEGMENTS_MAX_JSON_BYTES": None,
    "CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE": None,
    "CRM_SEGMENTS_TAGS_PER_REQUEST": None,
    "CRM_SEGMENTS_QUERY_SEGMENT_TIMEOUT": None,
    **{f"CRM_SEGMENTS_{name}": None for name in (*TEMPLATE_ENV, *ACCOUNT_ENV, *MESSAGING_ENV)},
    "CRM_SEGMENTS_IDENTITY": None,
}


class CRMSegments:
    """Usage: ``CRMSegments(app)`` or ``ext = CRMSegments(); ext.init_app(app)``.

    State lives in ``app.extensions["crm_segments"]`` so one extension object can serve several apps.
    ``init_app`` mounts the UI under ``url_prefix`` and the JSON API under ``api_prefix`` (default
    ``url_prefix + "/api/v1"``), and adds ``flask crm-segments ...`` (init-db, scheduler, worker,
    segments refresh, create-user, ...) to the app's CLI, working on this app and its config.

    Settings are these ``app.config`` keys; each is set to its default when missing (None: the
    default in README.md's settings tables):

    - Database and files: ``CRM_SEGMENTS_DATABASE_URL`` (default: SQLite in the instance folder),
      ``CRM_SEGMENTS_INSTANCE_DIR``, ``CRM_SEGMENTS_OUTBOX_DIR``, ``CRM_SEGMENTS_PUBLIC_URL``. Nothing
      is written to disk at set-up unless the default SQLite database is used; the local outbox's
      folder is made when a message is written there.
    - Identity: ``CRM_SEGMENTS_IDENTITY``, for a host with its own users and sign-in: a callable (or
      ``"module:function"``) given the host's signed-in user (Flask-Login's ``current_user``) that
      returns ``crm_segments.accounts.identity.Identity(email, role, name)`` (role ``admin`` or
      ``sales``) or None; the plugin's pages then sign that person in (kept as a plugin user by
      email) and send everyone else to the host's login view. Unset, the plugin's own accounts and
      sign-in page are used (a host LoginManager must then load them with ``web.auth.load_user``).
    - Web: ``CRM_SEGMENTS_PAGE_SIZE``, ``CRM_SEGMENTS_RECORDS_READ_ONLY`` (the host owns profiles
      and records: the plugin's record forms are off), ``CRM_SEGMENTS_MAX_UPLOAD_BYTES``,
      ``CRM_SEGMENTS_MAX_JSON_BYTES``, ``CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE``,
      ``CRM_SEGMENTS_TAGS_PER_REQUEST``, ``CRM_SEGMENTS_SIGNIN_LIMIT_PER_ACCOUNT``,
      ``CRM_SEGMENTS_SIGNIN_LIMIT_PER_ADDRESS``, ``CRM_SEGMENTS_RATE_LIMIT_STORAGE_URI``.
    - Background work: ``CRM_SEGMENTS_BACKGROUND_WORKER``, ``CRM_SEGMENTS_SCHEDULER_SENDS``,
      ``CRM_SEGMENTS_NIGHTLY_FULL_REFRESH``, ``CRM_SEGMENTS_QUERY_SEGMENT_TIMEOUT``.
    - Templates: ``CRM_SEGMENTS_TEMPLATE_TIME_LIMIT``, ``CRM_SEGMENTS_TEMPLATE_MAX_EMAIL_BYTES``,
      ``CRM_SEGMENTS_TEMPLATE_MAX_SMS_CHARS``, ``CRM_SEGMENTS_TEMPLATE_MEMORY_MB``,
      ``CRM_SEGMENTS_TEMPLATE_WORKERS``.
    - Messaging: ``CRM_SEGMENTS_EMAIL_PROVIDER``, ``CRM_SEGMENTS_SMS_PROVIDER``,
      ``CRM_SEGMENTS_EMAIL_FROM``, ``CRM_SEGMENTS_SENDGRID_API_KEY``,
      ``CRM_SEGMENTS_SENDGRID_WEBHOOK_PUBLIC_KEY``, ``CRM_SEGMENTS_SENDGRID_HOST``,
      ``CRM_SEGMENTS_TWILIO_ACCOUNT_SID``, ``CRM_SEGMENTS_TWILIO_AUTH_TOKEN``,
      ``CRM_SEGMENTS_TWILIO_FROM_NUMBER``, ``CRM_SEGMENTS_TWILIO_MESSAGING_SERVICE_SID``,
      ``CRM_SEGMENTS_TWILIO_API_URL``, ``CRM_SEGMENTS_PROVIDER_TIMEOUT``,
      ``CRM_SEGMENTS_PROVIDER_LOG_LEVEL``, ``CRM_SEGMENTS_SEND_THREADS``, ``CRM_SEGMENTS_CLAIM_LEASE``,
      ``CRM_SEGMENTS_UNCONFIRMED_AFTER``, ``CRM_SEGMENTS_DEFAULT_TIME_ZONE``,
      ``CRM_SEGMENTS_EMAIL_SEND_WINDOW``, ``CRM_SEGMENTS_SMS_SEND_WINDOW``,
      ``CRM_SEGMENTS_EMAIL_FREQUENCY_CAP``, ``CRM_SEGMENTS_SMS_FREQUENCY_CAP``,
      ``CRM_SEGMENTS_SMS_HELP_TEXT``.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        if app is not None:
            self.init_app(app, **options)

    def init_app(self, app: Flask, *, url_prefix: str = "", api_prefix: str | None = None) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("CRMSegments is already registered on this app")
        for key, default in CONFIG_DEFAULTS.items():
            app.config.setdefault(key, default)
        settings = settings_from_config(app.config)
        adapter = identity_adapter(app.config["CRM_SEGMENTS_IDENTITY"])
        from crm_segments.segments.query_segments import configure as configure_query_segments
        from crm_segments.templates.rendering import configure as configure_rendering

        configure_rendering(settings.templates)  # per process: the last app set up sets the limits
        configure_query_segments(settings.query_segment_timeout)  # likewise
        engine = make_engine(settings.database_url)
        connect_domains()
        state = State(settings, engine, make_session_factory(engine),
                      base_url=settings.public_url + url_prefix, installers=default_installers(),
                      task_kinds=task_kinds())
        if settings.background_worker:
            state.task_worker = TaskWorker(lambda: state.session_factory, state.task_kinds)
        app.extensions[EXTENSION_KEY] = state

        from crm_segments.web import register_web
        from crm_segments.web.limits import install_request_limits

        api_prefix = api_prefix or f"{url_prefix}/api/v1"
        install_request_limits(app, settings=settings, api_prefix=api_prefix)  # before any route
        register_web(app, url_prefix=url_prefix, api_prefix=api_prefix)
        if adapter is not None:
            app.before_request(_host_identity(adapter))

        from crm_segments.cli import host_command_group

        app.cli.add_command(host_command_group())


# The plugin's page blueprints: there the signed-in user is the plugin's user for the host's identity.
_PAGE_BLUEPRINTS = frozenset({"crm_ui", "crm_auth"})


def _host_identity(adapter: IdentityAdapter) -> Any:
    def sign_in_host_identity() -> None:
        if request.blueprint not in _PAGE_BLUEPRINTS:
            return
        from flask import current_app
        from flask_login import current_user

        from crm_segments.accounts.identity import user_for
        from crm_segments.web.db import db_session, writing_session

        identity = adapter(current_user._get_current_object())
        user = None
        if identity is not None:
            user = user_for(identity, reading=db_session(), writing=writing_session)
        # Flask-Login's current_user for the rest of this request (its request-context slot).
        manager: Any = current_app.login_manager  # type: ignore[attr-defined]
        g._login_user = user if user is not None else manager.anonymous_user()

    return sign_in_host_identity
