"""Settings read once from the environment at start-up.

Every variable is validated here, so a bad value stops the service before it
accepts a request, with a message that names the variable and the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["ConfigError", "Settings"]

DEFAULT_BASE_PATH = "data/files"
DEFAULT_MAX_UPLOAD_MB = 10.0
MEBIBYTE = 1024 * 1024

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """Raised when an environment variable holds a value the service cannot use."""

    def __init__(self, variable: str, value: str, rule: str) -> None:
        super().__init__(f"invalid {variable}={value!r}: {rule}")
        self.variable = variable
        self.value = value


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


def _parse_database_url(env: Mapping[str, str], base_path: Path) -> URL:
    raw = env.get("DATABASE_URL")
    if not raw:
        # The embedded default sits next to the blob directory, so one folder holds everything.
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


def _parse_positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default

    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, raw, "must be a number") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(name, raw, "must be a positive finite number")
    return value


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
