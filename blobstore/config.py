"""Settings read once from the environment at start-up.

Every variable is validated here, so a bad value stops the service before it
accepts a request, with a message that names the variable and the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import quote, urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "ENV_VARS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "AuthMode",
    "AuthSettings",
    "ConfigError",
    "ReadAccess",
    "Settings",
]

DEFAULT_BASE_PATH = "data/files"
DEFAULT_MAX_UPLOAD_MB = 10.0
DEFAULT_HEALTH_TIMEOUT_S = 2.0
DEFAULT_SHUTDOWN_TIMEOUT_S = 30
MEBIBYTE = 1024 * 1024

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Every environment variable that `Settings.from_env` reads. Deployment files
# are checked against this list, and a test checks the list against the reads.
ENV_VARS = frozenset(
    {
        "FILE_BASE_PATH",
        "DATABASE_URL",
        "FILE_PUBLIC_URL",
        "MAX_UPLOAD_MB",
        "KAFKA_BOOTSTRAP",
        "KAFKA_TOPIC",
        "KAFKA_DELETED_TOPIC",
        "KAFKA_TAGS_TOPIC",
        "RELAY_ENABLED",
        "LOG_FORMAT",
        "LOG_LEVEL",
        "HEALTH_TIMEOUT_S",
        "HEALTH_REQUIRE_KAFKA",
        "SHUTDOWN_TIMEOUT_S",
        "AUTH_MODE",
        "JWT_SECRET",
        "JWT_PUBLIC_KEY",
        "JWT_JWKS_FILE",
        "JWT_ALGORITHMS",
        "JWT_AUDIENCE",
        "JWT_ISSUER",
        "JWT_LEEWAY_S",
        "JWT_USER_CLAIM",
        "JWT_ADMIN_CLAIM",
        "JWT_ADMIN_VALUE",
        "FILE_READ_ACCESS",
        "INLINE_CONTENT_TYPES",
        "UPLOAD_IDLE_TIMEOUT_S",
        "RELAY_BATCH_SIZE",
        "RELAY_POLL_INTERVAL_S",
        "RELAY_RETRY_MAX_S",
        "KAFKA_TRANSACTIONAL_ID",
        "KAFKA_TRANSACTION_TIMEOUT_MS",
        "METADATA_CACHE_TTL_S",
        "ACCEL_REDIRECT_PREFIX",
    }
)
DEFAULT_UPLOAD_IDLE_TIMEOUT_S = 30.0
DEFAULT_METADATA_CACHE_TTL_S = 5.0
DEFAULT_JWT_LEEWAY_S = 30.0

AuthMode = Literal["gateway", "verify", "none"]
ReadAccess = Literal["public", "owner"]
AUTH_MODES = ("gateway", "verify", "none")
READ_ACCESS_MODES = ("public", "owner")
DEFAULT_RELAY_BATCH_SIZE = 500
MAX_RELAY_BATCH_SIZE = 10_000
DEFAULT_RELAY_POLL_INTERVAL_S = 1.0
DEFAULT_RELAY_RETRY_MAX_S = 30.0
DEFAULT_TRANSACTIONAL_ID = "blobstore-relay"
DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000
# The broker rejects a producer whose transaction timeout exceeds its
# transaction.max.timeout.ms, which defaults to 900000 (15 minutes) in Kafka 4.x.
MAX_TRANSACTION_TIMEOUT_MS = 900_000

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """Raised when an environment variable contains a value the service cannot use."""

    def __init__(self, variable: str, value: str, rule: str) -> None:
        super().__init__(f"invalid {variable}={value!r}: {rule}")
        self.variable = variable
        self.value = value


@dataclass(frozen=True)
class AuthSettings:
    """How callers are identified; the key material is loaded but not parsed here.

    `public_key` is PEM text and `jwks` the JSON text of a JWK set; the API
    layer turns them into key objects when the application is built.
    """

    mode: AuthMode = "gateway"
    secret: str | None = field(default=None, repr=False)
    public_key: str | None = None
    jwks: str | None = None
    algorithms: tuple[str, ...] = ()
    audience: str | None = None
    issuer: str | None = None
    leeway_s: float = DEFAULT_JWT_LEEWAY_S
    user_claim: str = "sub"
    admin_claim: str | None = None
    admin_value: str = "admin"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthSettings:
        """Read the AUTH_MODE and JWT_* variables, raising ConfigError on a bad value."""
        mode = cast(AuthMode, _parse_choice(env, "AUTH_MODE", AUTH_MODES, "gateway", str.lower))
        secret = env.get("JWT_SECRET") or None
        public_key = _read_pem_or_file(env, "JWT_PUBLIC_KEY")
        jwks = _read_file(env, "JWT_JWKS_FILE")

        keys = [
            name
            for name, value in (
                ("JWT_SECRET", secret),
                ("JWT_PUBLIC_KEY", public_key),
                ("JWT_JWKS_FILE", jwks),
            )
            if value is not None
        ]
        if mode == "verify" and len(keys) != 1:
            raise ConfigError(
                "AUTH_MODE",
                mode,
                "verify needs exactly one of JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_FILE "
                f"(got {', '.join(keys) or 'none'})",
            )

        algorithms = tuple(
            name.strip() for name in env.get("JWT_ALGORITHMS", "").split(",") if name.strip()
        )
        return cls(
            mode=mode,
            secret=secret,
            public_key=public_key,
            jwks=jwks,
            algorithms=algorithms,
            audience=env.get("JWT_AUDIENCE") or None,
            issuer=env.get("JWT_ISSUER") or None,
            leeway_s=_parse_non_negative_float(env, "JWT_LEEWAY_S", DEFAULT_JWT_LEEWAY_S),
            user_claim=env.get("JWT_USER_CLAIM") or "sub",
            admin_claim=env.get("JWT_ADMIN_CLAIM") or None,
            admin_value=env.get("JWT_ADMIN_VALUE") or "admin",
        )


@dataclass(frozen=True)
class Settings:
    """The service configuration, built once by `Settings.from_env`."""

    file_base_path: Path
    database_url: URL
    file_public_url: str | None = None
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * MEBIBYTE)
    kafka_bootstrap: str | None = None
    kafka_topic: str = "file_stored"
    kafka_deleted_topic: str = "file_deleted"
    kafka_tags_topic: str = "file_tags_changed"
    relay_enabled: bool = False
    log_format: str = "text"
    log_level: str = "INFO"
    health_timeout_s: float = DEFAULT_HEALTH_TIMEOUT_S
    health_require_kafka: bool = False
    shutdown_timeout_s: int = DEFAULT_SHUTDOWN_TIMEOUT_S
    auth: AuthSettings = AuthSettings()
    file_read_access: ReadAccess = "public"
    inline_content_types: tuple[str, ...] = ()
    upload_idle_timeout_s: float = DEFAULT_UPLOAD_IDLE_TIMEOUT_S
    metadata_cache_ttl_s: float = DEFAULT_METADATA_CACHE_TTL_S
    relay_batch_size: int = DEFAULT_RELAY_BATCH_SIZE
    relay_poll_interval_s: float = DEFAULT_RELAY_POLL_INTERVAL_S
    relay_retry_max_s: float = DEFAULT_RELAY_RETRY_MAX_S
    kafka_transactional_id: str = DEFAULT_TRANSACTIONAL_ID
    kafka_transaction_timeout_ms: int = DEFAULT_TRANSACTION_TIMEOUT_MS
    accel_redirect_prefix: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables, raising ConfigError on a bad value."""
        env = os.environ if environ is None else environ

        base_path = Path(env.get("FILE_BASE_PATH") or DEFAULT_BASE_PATH).absolute()
        max_upload_mb = _parse_positive_float(env, "MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)

        return cls(
            file_base_path=base_path,
            database_url=_parse_database_url(env, base_path),
            file_public_url=_parse_public_url(env),
            max_upload_bytes=int(max_upload_mb * MEBIBYTE),
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP") or None,
            kafka_topic=_parse_topic(env, "KAFKA_TOPIC", "file_stored"),
            kafka_deleted_topic=_parse_topic(env, "KAFKA_DELETED_TOPIC", "file_deleted"),
            kafka_tags_topic=_parse_topic(env, "KAFKA_TAGS_TOPIC", "file_tags_changed"),
            relay_enabled=_parse_bool(env, "RELAY_ENABLED", default=False),
            log_format=_parse_choice(env, "LOG_FORMAT", LOG_FORMATS, "text", str.lower),
            log_level=_parse_choice(env, "LOG_LEVEL", LOG_LEVELS, "INFO", str.upper),
            health_timeout_s=_parse_positive_float(
                env, "HEALTH_TIMEOUT_S", DEFAULT_HEALTH_TIMEOUT_S
            ),
            health_require_kafka=_parse_bool(env, "HEALTH_REQUIRE_KAFKA", default=False),
            shutdown_timeout_s=_parse_seconds(
                env, "SHUTDOWN_TIMEOUT_S", DEFAULT_SHUTDOWN_TIMEOUT_S
            ),
            auth=AuthSettings.from_env(env),
            file_read_access=cast(
                ReadAccess,
                _parse_choice(env, "FILE_READ_ACCESS", READ_ACCESS_MODES, "public", str.lower),
            ),
            inline_content_types=_parse_media_ranges(env, "INLINE_CONTENT_TYPES"),
            upload_idle_timeout_s=_parse_positive_float(
                env, "UPLOAD_IDLE_TIMEOUT_S", DEFAULT_UPLOAD_IDLE_TIMEOUT_S
            ),
            metadata_cache_ttl_s=_parse_non_negative_float(
                env, "METADATA_CACHE_TTL_S", DEFAULT_METADATA_CACHE_TTL_S
            ),
            relay_batch_size=_parse_int(
                env, "RELAY_BATCH_SIZE", DEFAULT_RELAY_BATCH_SIZE, 1, MAX_RELAY_BATCH_SIZE
            ),
            relay_poll_interval_s=_parse_positive_float(
                env, "RELAY_POLL_INTERVAL_S", DEFAULT_RELAY_POLL_INTERVAL_S
            ),
            relay_retry_max_s=_parse_positive_float(
                env, "RELAY_RETRY_MAX_S", DEFAULT_RELAY_RETRY_MAX_S
            ),
            kafka_transactional_id=_parse_transactional_id(env),
            kafka_transaction_timeout_ms=_parse_int(
                env,
                "KAFKA_TRANSACTION_TIMEOUT_MS",
                DEFAULT_TRANSACTION_TIMEOUT_MS,
                1000,
                MAX_TRANSACTION_TIMEOUT_MS,
            ),
            accel_redirect_prefix=_parse_accel_redirect_prefix(env),
        )

    @property
    def max_upload_mb(self) -> float:
        return self.max_upload_bytes / MEBIBYTE

    @property
    def is_embedded(self) -> bool:
        """Whether the metadata lives in the embedded SQLite file rather than a server."""
        return self.database_url.get_backend_name() == "sqlite"

    @property
    def database_url_for_logs(self) -> str:
        return self.database_url.render_as_string(hide_password=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Configured values that must never appear in logs or responses.

        The database password is listed as written in DATABASE_URL too, where
        special characters are percent-encoded.
        """
        password = self.database_url.password
        if not password:
            return ()
        return tuple(dict.fromkeys([str(password), quote(str(password), safe="")]))


def _parse_database_url(env: Mapping[str, str], base_path: Path) -> URL:
    raw = env.get("DATABASE_URL")
    if not raw:
        # The embedded default sits next to the blob directory, so one folder contains everything.
        return make_url(f"sqlite+aiosqlite:///{base_path.parent / 'blobstore.db'}")

    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ConfigError("DATABASE_URL", _redact(raw), "not a database URL") from exc

    # Accept the URLs that other tools print and pick the async driver ourselves.
    backend = url.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        return url.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    raise ConfigError(
        "DATABASE_URL",
        _redact(raw),
        "use postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB or sqlite+aiosqlite:///PATH",
    )


def _redact(raw: str) -> str:
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"


def _parse_public_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("FILE_PUBLIC_URL")
    if not raw:
        return None

    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError("FILE_PUBLIC_URL", raw, "must be an absolute http:// or https:// URL")
    return raw if raw.endswith("/") else raw + "/"


# The internal nginx location that ACCEL_REDIRECT_PREFIX names: path segments of
# characters that need no percent-encoding, so the X-Accel-Redirect value is
# the path nginx matches, byte for byte.
_URL_PATH_PREFIX = re.compile(r"/(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)+")


def _parse_accel_redirect_prefix(env: Mapping[str, str]) -> str | None:
    raw = _non_blank(env, "ACCEL_REDIRECT_PREFIX")
    if raw is None:
        return None

    prefix = raw if raw.endswith("/") else raw + "/"
    if not _URL_PATH_PREFIX.fullmatch(prefix):
        raise ConfigError(
            "ACCEL_REDIRECT_PREFIX",
            raw,
            "must be a URL path such as /_blobstore_blobs/ made of letters, digits and "
            "'.', '_', '-', '~', with no segment that starts with '.'",
        )
    return prefix


def _non_blank(env: Mapping[str, str], name: str) -> str | None:
    """Return the variable's value, or None when it is unset or blank."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return raw


def _parse_positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _non_blank(env, name)
    if raw is None:
        return default

    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, raw, "must be a number") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(name, raw, "must be a positive finite number")
    return value


def _parse_seconds(env: Mapping[str, str], name: str, default: int) -> int:
    return _parse_int(env, name, default, 1, None, unit="seconds")


def _parse_int(
    env: Mapping[str, str],
    name: str,
    default: int,
    minimum: int,
    maximum: int | None,
    *,
    unit: str = "",
) -> int:
    raw = _non_blank(env, name)
    if raw is None:
        return default

    try:
        value = int(raw)
    except ValueError:
        rule = f"must be a whole number of {unit}" if unit else "must be a whole number"
        raise ConfigError(name, raw, rule) from None
    if maximum is None and value < minimum:
        raise ConfigError(name, raw, f"must be at least {minimum}")
    if maximum is not None and not minimum <= value <= maximum:
        raise ConfigError(name, raw, f"must be from {minimum} to {maximum}")
    return value


def _parse_choice(
    env: Mapping[str, str],
    name: str,
    choices: tuple[str, ...],
    default: str,
    normalize: Callable[[str], str],
) -> str:
    raw = _non_blank(env, name)
    if raw is None:
        return default

    value = normalize(raw.strip())
    if value not in choices:
        raise ConfigError(name, raw, f"must be one of {', '.join(choices)}")
    return value


def _parse_transactional_id(env: Mapping[str, str]) -> str:
    raw = env.get("KAFKA_TRANSACTIONAL_ID")
    if raw is None or raw == "":
        return DEFAULT_TRANSACTIONAL_ID
    if len(raw) > 255 or not raw.isprintable() or raw != raw.strip():
        raise ConfigError(
            "KAFKA_TRANSACTIONAL_ID",
            raw,
            "must be at most 255 printable characters without leading or trailing spaces",
        )
    return raw


def _parse_topic(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    # Kafka's own rule for topic names: at most 249 of [a-zA-Z0-9._-].
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    if len(raw) > 249 or not set(raw) <= allowed or raw in {".", ".."}:
        raise ConfigError(name, raw, "a Kafka topic name uses only letters, digits, '.', '_', '-'")
    return raw


def _parse_bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigError(name, raw, "must be true or false")


def _parse_non_negative_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is not None and raw.strip() == "0":
        return 0.0
    return _parse_positive_float(env, name, default)


def _read_file(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return Path(raw).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, raw, f"cannot read the file: {exc}") from exc


def _read_pem_or_file(env: Mapping[str, str], name: str) -> str | None:
    """Return PEM text given inline, or read from the path the variable names."""
    raw = env.get(name)
    if raw is not None and raw.lstrip().startswith("-----BEGIN"):
        return raw
    return _read_file(env, name)


# A media range in INLINE_CONTENT_TYPES: type/subtype or type/*, lowercase.
_MEDIA_RANGE = re.compile(r"[a-z0-9!#$&^_.+-]+/(\*|[a-z0-9!#$&^_.+-]+)")


def _parse_media_ranges(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    ranges = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    for media_range in ranges:
        if not _MEDIA_RANGE.fullmatch(media_range):
            raise ConfigError(name, raw, f"{media_range!r} is not a type/subtype or type/*")
    return ranges
