"""Settings from the environment, with safe defaults, validated at start-up."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
EMAIL_PROVIDERS = ("sendgrid", "local")
SMS_PROVIDERS = ("twilio", "local")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_JSON_BYTES = 1024 * 1024
DEFAULT_TAGS_PER_USER_PER_MINUTE = 30
# The answer to an SMS HELP / INFO: carriers expect one; set your brand and a contact in it.
DEFAULT_SMS_HELP_TEXT = ("Reply STOP to stop receiving our texts, START to receive them again. "
                         "Msg & data rates may apply.")
DEFAULT_QUERY_SEGMENT_TIMEOUT = 30.0  # seconds one run of a database-query segment may take
MAX_QUERY_SEGMENT_TIMEOUT = 3600.0
DEFAULT_TAGS_PER_REQUEST = 20
MAX_TAGS_PER_REQUEST = 100  # the highest CRM_SEGMENTS_TAGS_PER_REQUEST (and the API schema's bound)


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it."""


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``limit`` capped (non-transactional) messages per profile and channel per ``window``."""

    limit: int
    window: dt.timedelta


@dataclass(frozen=True)
class SendWindow:
    """Local hours (in the profile's time zone) when messages may go out; ``start > end`` spans midnight."""

    start: dt.time
    end: dt.time


@dataclass(frozen=True)
class MessagingSettings:
    """Providers and contact-pressure rules; with no provider keys everything goes to the local outbox."""

    signing_key: str = ""  # signs unsubscribe links (the app's SECRET_KEY)
    email_provider: str = "local"
    sms_provider: str = "local"
    email_from: str = "CRM <no-reply@localhost>"
    sendgrid_api_key: str | None = None
    sendgrid_host: str = "https://api.sendgrid.com"
    sendgrid_webhook_public_key: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    provider_timeout: float = 10.0
    # Provider calls at once per sending process (threads that wait on the network): a provider 50 ms
    # away takes about this many / 0.05 s messages a second at most.
    send_threads: int = 64
    # Seconds a dispatcher's claim on a message lasts unless renewed (it renews every third of it):
    # the messages of a sender that died are taken over after at most this long.
    claim_lease: float = 30.0
    # An ``unknown`` message with no delivery event for this long becomes ``unconfirmed``, for a person
    # to send again or close (SendGrid retries its event webhook for up to 24 hours).
    unconfirmed_after: dt.timedelta = dt.timedelta(hours=24)
    default_time_zone: str = "UTC"
    email_send_window: SendWindow | None = None
    sms_send_window: SendWindow | None = SendWindow(dt.time(8), dt.time(21))
    email_frequency_cap: FrequencyCap | None = FrequencyCap(1, dt.timedelta(days=1))
    sms_frequency_cap: FrequencyCap | None = FrequencyCap(1, dt.timedelta(days=1))
    webhook_max_age: dt.timedelta = dt.timedelta(minutes=10)  # older signed webhooks are refused
    sms_help_text: str | None = DEFAULT_SMS_HELP_TEXT  # None: HELP gets no answer from here
    # The provider libraries' own loggers: Twilio's logs every request at INFO.
    provider_log_level: str = "WARNING"


@dataclass(frozen=True)
class TemplateLimits:
    """What one render of a message template may use: preview, test send, the check at save time and
    the real send alike (see templates/template_sandbox.py)."""

    time_limit: float = 2.0            # seconds of wall time
    max_email_bytes: int = 1024 * 1024  # an email's subject, HTML and text together, UTF-8
    max_sms_chars: int = 1600          # one SMS body (Twilio's limit)
    memory_mb: int = 256               # memory a render may take beyond the renderer's own
    workers: int = 2                   # renderer processes per app process (renders at once)


@dataclass(frozen=True)
class AccountSettings:
    """Sign-in throttling (see web/signin_limits.py): Flask-Limiter limit strings, None for no limit.

    Only failed attempts count. Per account, whatever the address: slows guessing one person's
    password from many machines. Per address, whatever the account: slows trying many accounts.
    """

    signin_limit_per_account: str | None = "10 per 15 minutes"
    signin_limit_per_address: str | None = "30 per 15 minutes"
    # Where the counts live: memory:// is per process; several processes (or hosts) share redis://...
    rate_limit_storage_uri: str = "memory://"


@dataclass(frozen=True)
class Settings:
    database_url: str
    outbox_dir: Path
    public_url: str = "http://127.0.0.1:5000"
    messaging: MessagingSettings = field(default_factory=MessagingSettings)
    accounts: AccountSettings = field(default_factory=AccountSettings)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # a request body (CSV uploads, forms); more is 413
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES  # a JSON body (the API); more is 413
    # New tags one person may create per minute (UI and API); None: no limit.
    tags_per_user_per_minute: int | None = DEFAULT_TAGS_PER_USER_PER_MINUTE
    # Tag names one request may name (a bulk body, the bulk bar, a CSV tagging form).
    tags_per_request: int = DEFAULT_TAGS_PER_REQUEST
    templates: TemplateLimits = field(default_factory=TemplateLimits)
    # A thread of the web process runs the tasks pages queue; off, only the scheduler runs them.
    background_worker: bool = True
    # The scheduler's send job sends due messages; off, only `crm-segments worker` processes do.
    scheduler_sends: bool = True
    # Seconds a database-query segment's query may run (the statement timeout); previews stop sooner.
    query_segment_timeout: float = DEFAULT_QUERY_SEGMENT_TIMEOUT
    # A host CRM owns profiles and records: the pages that create and edit them are turned off.
    records_read_only: bool = False
    # The first scheduled refresh after 03:00 UTC each day recomputes every segment in full.
    nightly_full_refresh: bool = True


def instance_dir(configured: Any = None, *, create: bool = True) -> Path:
    """``configured`` (a host app's CRM_SEGMENTS_INSTANCE_DIR), else the environment's, else ./instance;
    made unless ``create`` is false (a host's app writes there only for the default database)."""
    path = Path(configured or os.environ.get("CRM_SEGMENTS_INSTANCE_DIR") or "instance").resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def default_database_url(instance: Path | None = None) -> str:
    return f"sqlite:///{(instance or instance_dir()) / 'crm_segments.db'}"


def validate_database_url(url: str, *, name: str = "DATABASE_URL") -> str:
    """Return the URL with the psycopg 3 driver made explicit; raise ConfigError naming ``name``."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"{name}: cannot parse {url!r} as a database URL ({exc})") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_DIALECTS:
        raise ConfigError(
            f"{name}: unsupported database {backend!r}; use one of {', '.join(SUPPORTED_DIALECTS)}"
        )
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def load_secret_key(env: Mapping[str, str]) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the instance folder."""
    if key := env.get("SECRET_KEY"):
        if len(key) < 16:
            raise ConfigError("SECRET_KEY: must be at least 16 characters")
        return key
    path = instance_dir(env.get("CRM_SEGMENTS_INSTANCE_DIR")) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def settings_from_config(config: Mapping[str, Any]) -> Settings:
    """Build Settings from a Flask config whose CRM_SEGMENTS_* keys have been filled."""
    configured_url = config.get("CRM_SEGMENTS_DATABASE_URL")
    # The folder is made only for the default SQLite file; the outbox's when a message is written there.
    instance = instance_dir(config.get("CRM_SEGMENTS_INSTANCE_DIR"), create=not configured_url)
    url = configured_url or default_database_url(instance)
    public_url = str(config.get("CRM_SEGMENTS_PUBLIC_URL") or "http://127.0.0.1:5000")
    if not public_url.startswith(("http://", "https://")):
        raise ConfigError(f"CRM_SEGMENTS_PUBLIC_URL: {public_url!r} must start with http:// or https://")
    outbox = config.get("CRM_SEGMENTS_OUTBOX_DIR") or instance / "outbox"
    return Settings(
        database_url=validate_database_url(url, name="CRM_SEGMENTS_DATABASE_URL"),
        outbox_dir=Path(outbox),
        public_url=public_url.rstrip("/"),
        messaging=messaging_settings_from_config(config),
        accounts=account_settings_from_config(config),
        max_upload_bytes=_whole("MAX_UPLOAD_BYTES", config.get("CRM_SEGMENTS_MAX_UPLOAD_BYTES"),
                                DEFAULT_MAX_UPLOAD_BYTES, low=1024, high=2**40),
        max_json_bytes=_whole("MAX_JSON_BYTES", config.get("CRM_SEGMENTS_MAX_JSON_BYTES"),
                              DEFAULT_MAX_JSON_BYTES, low=1024, high=2**40),
        tags_per_user_per_minute=_limit("TAGS_PER_USER_PER_MINUTE",
                                        config.get("CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE"),
                                        DEFAULT_TAGS_PER_USER_PER_MINUTE, high=100_000),
        tags_per_request=_whole("TAGS_PER_REQUEST", config.get("CRM_SEGMENTS_TAGS_PER_REQUEST"),
                                DEFAULT_TAGS_PER_REQUEST, low=1, high=MAX_TAGS_PER_REQUEST),
        templates=template_limits_from_config(config),
        background_worker=_flag("BACKGROUND_WORKER", config.get("CRM_SEGMENTS_BACKGROUND_WORKER"), True),
        scheduler_sends=_flag("SCHEDULER_SENDS", config.get("CRM_SEGMENTS_SCHEDULER_SENDS"), True),
        query_segment_timeout=_query_segment_timeout(config.get("CRM_SEGMENTS_QUERY_SEGMENT_TIMEOUT")),
        records_read_only=_flag("RECORDS_READ_ONLY", config.get("CRM_SEGMENTS_RECORDS_READ_ONLY"), False),
        nightly_full_refresh=_flag("NIGHTLY_FULL_REFRESH", config.get("CRM_SEGMENTS_NIGHTLY_FULL_REFRESH"),
                                   True),
    )


def _query_segment_timeout(value: Any) -> float:
    seconds = _positive("QUERY_SEGMENT_TIMEOUT", value, DEFAULT_QUERY_SEGMENT_TIMEOUT)
    if not 1 <= seconds <= MAX_QUERY_SEGMENT_TIMEOUT:
        raise ConfigError(f"CRM_SEGMENTS_QUERY_SEGMENT_TIMEOUT: {seconds:g} s must be from 1 to "
                          f"{MAX_QUERY_SEGMENT_TIMEOUT:g} s")
    return seconds


def template_limits_from_config(config: Mapping[str, Any]) -> TemplateLimits:
    defaults = TemplateLimits()
    time_limit = _positive("TEMPLATE_TIME_LIMIT", config.get("CRM_SEGMENTS_TEMPLATE_TIME_LIMIT"),
                           defaults.time_limit)
    if time_limit > 60:
        raise ConfigError(f"CRM_SEGMENTS_TEMPLATE_TIME_LIMIT: {time_limit:g} s is more than 60 s")

    def get(name: str, default: int, low: int, high: int) -> int:
        value = config.get(f"CRM_SEGMENTS_TEMPLATE_{name}")
        return _whole(f"TEMPLATE_{name}", value, default, low=low, high=high)
    return TemplateLimits(
        time_limit=time_limit,
        max_email_bytes=get("MAX_EMAIL_BYTES", defaults.max_email_bytes, 1024, 64 * 1024 * 1024),
        max_sms_chars=get("MAX_SMS_CHARS", defaults.max_sms_chars, 1, 1600),
        memory_mb=get("MEMORY_MB", defaults.memory_mb, 16, 16384),
        workers=get("WORKERS", defaults.workers, 1, 32),
    )


def account_settings_from_config(config: Mapping[str, Any]) -> AccountSettings:
    defaults = AccountSettings()
    return AccountSettings(
        signin_limit_per_account=_rate_limit("SIGNIN_LIMIT_PER_ACCOUNT",
                                             config.get("CRM_SEGMENTS_SIGNIN_LIMIT_PER_ACCOUNT"),
                                             defaults.signin_limit_per_account),
        signin_limit_per_address=_rate_limit("SIGNIN_LIMIT_PER_ADDRESS",
                                             config.get("CRM_SEGMENTS_SIGNIN_LIMIT_PER_ADDRESS"),
                                             defaults.signin_limit_per_address),
        rate_limit_storage_uri=_storage_uri("RATE_LIMIT_STORAGE_URI",
                                            config.get("CRM_SEGMENTS_RATE_LIMIT_STORAGE_URI"),
                                            defaults.rate_limit_storage_uri),
    )


def _rate_limit(name: str, value: Any, default: str | None) -> str | None:
    """A Flask-Limiter limit string ("10 per 15 minutes", "5/minute;20/hour"), or none."""
    from limits import parse_many

    if value is None or str(value).strip() == "":
        return default
    text = str(value).strip()
    if text.lower() in _OFF:
        return None
    try:
        parse_many(text)
    except ValueError:
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} is not a limit like '10 per 15 minutes' "
                          "(or none)") from None
    return text


def _storage_uri(name: str, value: Any, default: str) -> str:
    from limits import storage

    schemes = {scheme for kind in (storage.MemoryStorage, storage.RedisStorage, storage.RedisClusterStorage,
                                   storage.RedisSentinelStorage, storage.MemcachedStorage,
                                   storage.MongoDBStorage) for scheme in kind.STORAGE_SCHEME or ()}
    text = str(value).strip() if value is not None and str(value).strip() else default
    scheme = text.partition("://")[0]
    if "://" not in text or scheme not in schemes:
        known = ", ".join(sorted(schemes))
        # Only the scheme is echoed: the URI may carry a password.
        raise ConfigError(f"CRM_SEGMENTS_{name}: the scheme {scheme!r} is not one of {known}")
    return text


def messaging_settings_from_config(config: Mapping[str, Any]) -> MessagingSettings:
    def get(name: str) -> str | None:
        value = config.get(f"CRM_SEGMENTS_{name}")
        return str(value).strip() or None if value is not None else None

    sendgrid_key = get("SENDGRID_API_KEY")
    twilio_sid, twilio_token = get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN")
    # Without an explicit provider, keys select the real one and no keys the local outbox.
    email_provider = _one_of("EMAIL_PROVIDER", get("EMAIL_PROVIDER") or (
        "sendgrid" if sendgrid_key else "local"), EMAIL_PROVIDERS)
    sms_provider = _one_of("SMS_PROVIDER", get("SMS_PROVIDER") or (
        "twilio" if twilio_sid else "local"), SMS_PROVIDERS)
    if email_provider == "sendgrid":
        _require("SENDGRID_API_KEY", sendgrid_key, "EMAIL_PROVIDER is sendgrid")
        _require("EMAIL_FROM", get("EMAIL_FROM"), "EMAIL_PROVIDER is sendgrid (a verified sender)")
    if sms_provider == "twilio":
        _require("TWILIO_ACCOUNT_SID", twilio_sid, "SMS_PROVIDER is twilio")
        _require("TWILIO_AUTH_TOKEN", twilio_token, "SMS_PROVIDER is twilio")
        if not (get("TWILIO_FROM_NUMBER") or get("TWILIO_MESSAGING_SERVICE_SID")):
            raise ConfigError("CRM_SEGMENTS_TWILIO_FROM_NUMBER: required when CRM_SEGMENTS_SMS_PROVIDER is "
                              "twilio (or set CRM_SEGMENTS_TWILIO_MESSAGING_SERVICE_SID)")
    defaults = MessagingSettings()
    time_zone = get("DEFAULT_TIME_ZONE") or defaults.default_time_zone
    _check_time_zone("DEFAULT_TIME_ZONE", time_zone)
    return MessagingSettings(
        signing_key=str(config.get("SECRET_KEY") or ""),
        email_provider=email_provider,
        sms_provider=sms_provider,
        email_from=_sender(get("EMAIL_FROM")) if email_provider == "sendgrid" else (
            get("EMAIL_FROM") or defaults.email_from),
        sendgrid_api_key=sendgrid_key,
        sendgrid_host=_url("SENDGRID_HOST", get("SENDGRID_HOST") or defaults.sendgrid_host),
        sendgrid_webhook_public_key=get("SENDGRID_WEBHOOK_PUBLIC_KEY"),
        twilio_account_sid=twilio_sid,
        twilio_auth_token=twilio_token,
        twilio_from_number=get("TWILIO_FROM_NUMBER"),
        twilio_messaging_service_sid=get("TWILIO_MESSAGING_SERVICE_SID"),
        twilio_api_url=_url("TWILIO_API_URL", get("TWILIO_API_URL") or defaults.twilio_api_url),
        provider_timeout=_positive("PROVIDER_TIMEOUT", config.get("CRM_SEGMENTS_PROVIDER_TIMEOUT"),
                                   defaults.provider_timeout),
        send_threads=_whole("SEND_THREADS", config.get("CRM_SEGMENTS_SEND_THREADS"), defaults.send_threads,
                            low=1, high=64),
        claim_lease=_claim_lease(config.get("CRM_SEGMENTS_CLAIM_LEASE"), defaults.claim_lease),
        unconfirmed_after=_duration("UNCONFIRMED_AFTER", config.get("CRM_SEGMENTS_UNCONFIRMED_AFTER"),
                                    defaults.unconfirmed_after),
        default_time_zone=time_zone,
        email_send_window=_window("EMAIL_SEND_WINDOW", config.get("CRM_SEGMENTS_EMAIL_SEND_WINDOW"),
                                  defaults.email_send_window),
        sms_send_window=_window("SMS_SEND_WINDOW", config.get("CRM_SEGMENTS_SMS_SEND_WINDOW"),
                                defaults.sms_send_window),
        email_frequency_cap=_cap("EMAIL_FREQUENCY_CAP", config.get("CRM_SEGMENTS_EMAIL_FREQUENCY_CAP"),
                                 defaults.email_frequency_cap),
        sms_frequency_cap=_cap("SMS_FREQUENCY_CAP", config.get("CRM_SEGMENTS_SMS_FREQUENCY_CAP"),
                               defaults.sms_frequency_cap),
        sms_help_text=_help_text(config.get("CRM_SEGMENTS_SMS_HELP_TEXT"), defaults.sms_help_text),
        provider_log_level=_one_of("PROVIDER_LOG_LEVEL", (get("PROVIDER_LOG_LEVEL") or "WARNING").upper(),
                                   LOG_LEVELS),
    )


def _claim_lease(value: Any, default: float) -> float:
    seconds = _positive("CLAIM_LEASE", value, default)
    if not 2 <= seconds <= 3600:
        raise ConfigError(f"CRM_SEGMENTS_CLAIM_LEASE: {seconds:g} s must be from 2 to 3600 s")
    return seconds


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(name: str, value: Any, default: dt.timedelta) -> dt.timedelta:
    """``90s``, ``30m``, ``24h``, ``2d`` or a number of seconds."""
    if isinstance(value, dt.timedelta):
        return value
    if value is None or str(value).strip() == "":
        return default
    match = _DURATION.match(str(value).lower())
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} is not a duration like 90s, 30m, 24h or 2d")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def _sender(value: str | None) -> str:
    """The From of SendGrid mail: its address as the provider takes it (an IDN domain in IDNA form)."""
    from email.utils import parseaddr

    from crm_segments.email_addresses import AddressRefused, normalize

    address = parseaddr(value or "")[1]
    try:
        sendable = normalize(address)
    except AddressRefused as exc:
        raise ConfigError(f"CRM_SEGMENTS_EMAIL_FROM: {address!r} {exc}") from None
    return (value or "").replace(address, sendable)


def _help_text(value: Any, default: str | None) -> str | None:
    """The HELP answer; ``none`` for no answer (Twilio's own opt-out handling answers HELP)."""
    if value is None:
        return default
    text = " ".join(str(value).split())
    if text.lower() in _OFF:
        return None
    if len(text) > 320:  # two SMS segments at most: a HELP answer is read on a phone
        raise ConfigError(f"CRM_SEGMENTS_SMS_HELP_TEXT: {len(text)} characters; at most 320 (or none)")
    return text


def _flag(name: str, value: Any, default: bool) -> bool:
    """A boolean, from app.config as it is or from the environment as true/false, 1/0, yes/no, on/off."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} is not true or false")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _require(name: str, value: str | None, when: str) -> None:
    if not value:
        raise ConfigError(f"CRM_SEGMENTS_{name}: required when CRM_SEGMENTS_{when}")


def _url(name: str, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} must start with http:// or https://")
    return value.rstrip("/")


def _positive(name: str, value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0:
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} must be a positive number of seconds")
    return number


def _whole(name: str, value: Any, default: int, *, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    text = str(value).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} must be a whole number from {low} to {high}")
    return int(text)


def _limit(name: str, value: Any, default: int, *, high: int) -> int | None:
    """A whole number from 1 to ``high``, or ``none`` for no limit."""
    if isinstance(value, str) and value.strip().lower() in ("none", "off"):
        return None
    return _whole(name, value, default, low=1, high=high)


def _check_time_zone(name: str, value: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} is not an IANA time zone") from None


_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_CAP = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([hd])\s*$")
_OFF = ("", "none", "off")


def _window(name: str, value: Any, default: SendWindow | None) -> SendWindow | None:
    """``"08:00-21:00"``; ``"none"`` sends at any hour."""
    if isinstance(value, SendWindow) or value is None:
        return value or default
    if str(value).strip().lower() in _OFF:
        return None
    match = _WINDOW.match(str(value))
    try:
        if match is None:
            raise ValueError
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        window = SendWindow(dt.time(h1, m1), dt.time(h2, m2))
    except ValueError:
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} is not a window like 08:00-21:00 "
                          "(or none)") from None
    if window.start == window.end:
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} is an empty window")
    return window


def _cap(name: str, value: Any, default: FrequencyCap | None) -> FrequencyCap | None:
    """``"1/24h"`` or ``"3/7d"``; ``"none"`` turns the cap off."""
    if isinstance(value, FrequencyCap) or value is None:
        return value or default
    if str(value).strip().lower() in _OFF:
        return None
    match = _CAP.match(str(value))
    if match is None or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ConfigError(f"CRM_SEGMENTS_{name}: {value!r} is not a cap like 1/24h or 3/7d (or none)")
    unit = dt.timedelta(hours=1) if match.group(3) == "h" else dt.timedelta(days=1)
    return FrequencyCap(int(match.group(1)), unit * int(match.group(2)))


def config_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The standalone app's Flask config, read from the environment."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL") or default_database_url(instance_dir(env.get("CRM_SEGMENTS_INSTANCE_DIR")))
    config: dict[str, Any] = {
        "SECRET_KEY": load_secret_key(env),
        "CRM_SEGMENTS_DATABASE_URL": validate_database_url(url),
    }
    if worker := env.get("CRM_SEGMENTS_BACKGROUND_WORKER"):
        config["CRM_SEGMENTS_BACKGROUND_WORKER"] = worker
    if sends := env.get("CRM_SEGMENTS_SCHEDULER_SENDS"):
        config["CRM_SEGMENTS_SCHEDULER_SENDS"] = sends
    if read_only := env.get("CRM_SEGMENTS_RECORDS_READ_ONLY"):
        config["CRM_SEGMENTS_RECORDS_READ_ONLY"] = read_only
    if nightly := env.get("CRM_SEGMENTS_NIGHTLY_FULL_REFRESH"):
        config["CRM_SEGMENTS_NIGHTLY_FULL_REFRESH"] = nightly
    if instance := env.get("CRM_SEGMENTS_INSTANCE_DIR"):
        config["CRM_SEGMENTS_INSTANCE_DIR"] = instance
    if public := env.get("PUBLIC_URL"):
        config["CRM_SEGMENTS_PUBLIC_URL"] = public
    if outbox := env.get("OUTBOX_DIR"):
        config["CRM_SEGMENTS_OUTBOX_DIR"] = outbox
    for name in ("MAX_UPLOAD_BYTES", "MAX_JSON_BYTES", "TAGS_PER_USER_PER_MINUTE", "TAGS_PER_REQUEST",
                 "QUERY_SEGMENT_TIMEOUT", *TEMPLATE_ENV):
        if value := env.get(f"CRM_SEGMENTS_{name}"):
            config[f"CRM_SEGMENTS_{name}"] = value
    for name, conventional in MESSAGING_ENV.items():
        if value := env.get(f"CRM_SEGMENTS_{name}") or (conventional and env.get(conventional)):
            config[f"CRM_SEGMENTS_{name}"] = value
    for name in ACCOUNT_ENV:
        if value := env.get(f"CRM_SEGMENTS_{name}"):
            config[f"CRM_SEGMENTS_{name}"] = value
    return config


# Sign-in limits read from the environment as CRM_SEGMENTS_<NAME>.
ACCOUNT_ENV = ("SIGNIN_LIMIT_PER_ACCOUNT", "SIGNIN_LIMIT_PER_ADDRESS", "RATE_LIMIT_STORAGE_URI")


# Template limits read from the environment as CRM_SEGMENTS_<NAME>.
TEMPLATE_ENV = ("TEMPLATE_TIME_LIMIT", "TEMPLATE_MAX_EMAIL_BYTES", "TEMPLATE_MAX_SMS_CHARS",
                "TEMPLATE_MEMORY_MB", "TEMPLATE_WORKERS")

# Messaging settings read from the environment as CRM_SEGMENTS_<NAME>, or under the provider's
# conventional variable name where there is one.
MESSAGING_ENV: dict[str, str | None] = {
    "EMAIL_PROVIDER": None, "SMS_PROVIDER": None, "EMAIL_FROM": None,
    "SENDGRID_API_KEY": "SENDGRID_API_KEY", "SENDGRID_WEBHOOK_PUBLIC_KEY": "SENDGRID_WEBHOOK_PUBLIC_KEY",
    "TWILIO_ACCOUNT_SID": "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN": "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER": "TWILIO_FROM_NUMBER",
    "TWILIO_MESSAGING_SERVICE_SID": "TWILIO_MESSAGING_SERVICE_SID",
    "PROVIDER_TIMEOUT": None, "SEND_THREADS": None, "CLAIM_LEASE": None, "UNCONFIRMED_AFTER": None,
    "DEFAULT_TIME_ZONE": None,
    "EMAIL_SEND_WINDOW": None, "SMS_SEND_WINDOW": None,
    "EMAIL_FREQUENCY_CAP": None, "SMS_FREQUENCY_CAP": None, "SMS_HELP_TEXT": None,
    "SENDGRID_HOST": None, "TWILIO_API_URL": None, "PROVIDER_LOG_LEVEL": None,
}
