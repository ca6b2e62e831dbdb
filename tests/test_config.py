"""Settings.from_env: defaults, accepted forms, ENV_VARS and the messages for bad values."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from blobstore.config import ENV_VARS, ConfigError, Settings


def test_defaults_keep_everything_under_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    settings = Settings.from_env({})

    assert settings.file_base_path == tmp_path / "data" / "files"
    assert settings.database_url.database == str(tmp_path / "data" / "blobstore.db")
    assert settings.is_embedded
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.kafka_topic == "file_stored"
    assert settings.kafka_bootstrap is None


def test_plain_postgresql_url_gets_asyncpg_driver() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:secret@127.0.0.1:5432/db"})

    assert settings.database_url.drivername == "postgresql+asyncpg"
    assert "secret" not in settings.database_url_for_logs


def test_public_url_gets_trailing_slash() -> None:
    settings = Settings.from_env({"FILE_PUBLIC_URL": "https://files.example.test/files"})

    assert settings.file_public_url == "https://files.example.test/files/"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_UPLOAD_MB", "ten", "MAX_UPLOAD_MB='ten': must be a number"),
        ("MAX_UPLOAD_MB", "-1", "must be a positive finite number"),
        ("MAX_UPLOAD_MB", "inf", "must be a positive finite number"),
        ("DATABASE_URL", "mysql://u@h/db", "use postgresql+asyncpg://"),
        ("DATABASE_URL", "not a url", "not a database URL"),
        ("FILE_PUBLIC_URL", "files.example.test", "absolute http:// or https:// URL"),
        ("KAFKA_TOPIC", "bad topic", "a Kafka topic name uses only"),
        ("RELAY_ENABLED", "maybe", "must be true or false"),
    ],
)
def test_bad_value_names_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        Settings.from_env({variable: value})

    assert message in str(raised.value)


def test_database_password_is_not_echoed_in_errors() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"DATABASE_URL": "mysql://user:hunter2@127.0.0.1/db"})

    assert "hunter2" not in str(raised.value)


class RecordingEnv(Mapping[str, str]):
    """An empty environment that records which names were looked up."""

    def __init__(self) -> None:
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        raise KeyError(name)

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(name)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_env_vars_lists_exactly_the_names_read() -> None:
    env = RecordingEnv()

    Settings.from_env(env)

    assert env.read == ENV_VARS


def test_operations_settings_have_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.log_format == "text"
    assert settings.log_level == "INFO"
    assert settings.health_timeout_s == 2.0
    assert settings.health_require_kafka is False
    assert settings.shutdown_timeout_s == 30


def test_operations_settings_parse() -> None:
    settings = Settings.from_env(
        {
            "LOG_FORMAT": "JSON",
            "LOG_LEVEL": "debug",
            "HEALTH_TIMEOUT_S": "0.25",
            "HEALTH_REQUIRE_KAFKA": "true",
            "SHUTDOWN_TIMEOUT_S": "5",
        }
    )

    assert settings.log_format == "json"
    assert settings.log_level == "DEBUG"
    assert settings.health_timeout_s == 0.25
    assert settings.health_require_kafka is True
    assert settings.shutdown_timeout_s == 5


@pytest.mark.parametrize(
    ("name", "raw", "rule"),
    [
        ("LOG_FORMAT", "xml", "must be one of text, json"),
        ("LOG_LEVEL", "loud", "must be one of DEBUG, INFO, WARNING, ERROR"),
        ("HEALTH_TIMEOUT_S", "0", "must be a positive finite number"),
        ("HEALTH_REQUIRE_KAFKA", "maybe", "must be true or false"),
        ("SHUTDOWN_TIMEOUT_S", "2.5", "must be a whole number of seconds"),
        ("SHUTDOWN_TIMEOUT_S", "0", "must be at least 1"),
    ],
)
def test_invalid_operations_setting_names_variable(name: str, raw: str, rule: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: raw})

    assert str(caught.value) == f"invalid {name}={raw!r}: {rule}"


def test_secrets_hold_the_database_password() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://u:pa%40ss@db:5432/x"})

    assert settings.secrets == ("pa@ss", "pa%40ss")
    assert "pa@ss" not in settings.database_url_for_logs


def test_relay_defaults() -> None:
    settings = Settings.from_env({})

    assert settings.kafka_bootstrap is None
    assert settings.relay_enabled is False
    assert settings.relay_batch_size == 500
    assert settings.relay_poll_interval_s == 1.0
    assert settings.relay_retry_max_s == 30.0
    assert settings.kafka_transactional_id == "blobstore-relay"
    assert settings.kafka_transaction_timeout_ms == 60_000


def test_relay_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP": "127.0.0.1:9092",
            "RELAY_ENABLED": "true",
            "RELAY_BATCH_SIZE": "25",
            "RELAY_POLL_INTERVAL_S": "0.5",
            "RELAY_RETRY_MAX_S": "5",
            "KAFKA_TRANSACTIONAL_ID": "relay-a",
            "KAFKA_TRANSACTION_TIMEOUT_MS": "20000",
        }
    )

    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.relay_enabled is True
    assert settings.relay_batch_size == 25
    assert settings.relay_poll_interval_s == 0.5
    assert settings.relay_retry_max_s == 5.0
    assert settings.kafka_transactional_id == "relay-a"
    assert settings.kafka_transaction_timeout_ms == 20_000


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("RELAY_BATCH_SIZE", "0", "must be from 1 to 10000"),
        ("RELAY_BATCH_SIZE", "10001", "must be from 1 to 10000"),
        ("RELAY_BATCH_SIZE", "ten", "must be a whole number"),
        ("RELAY_POLL_INTERVAL_S", "0", "must be a positive finite number"),
        ("RELAY_RETRY_MAX_S", "-1", "must be a positive finite number"),
        ("KAFKA_TRANSACTION_TIMEOUT_MS", "999", "must be from 1000 to 900000"),
        ("KAFKA_TRANSACTION_TIMEOUT_MS", "900001", "must be from 1000 to 900000"),
        ("KAFKA_TRANSACTIONAL_ID", " relay", "without leading or trailing spaces"),
        ("KAFKA_TRANSACTIONAL_ID", "r" * 256, "at most 255 printable characters"),
    ],
)
def test_invalid_relay_value_is_rejected(variable: str, value: str, rule: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({variable: value})

    assert error.value.variable == variable
    assert rule in str(error.value)


def test_accel_redirect_prefix_is_unset_by_default() -> None:
    assert Settings.from_env({}).accel_redirect_prefix is None


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        ("/_blobstore_blobs/", "/_blobstore_blobs/"),
        ("/_blobstore_blobs", "/_blobstore_blobs/"),
        ("/internal/blobs.v2/", "/internal/blobs.v2/"),
    ],
)
def test_accel_redirect_prefix_gets_trailing_slash(raw: str, prefix: str) -> None:
    settings = Settings.from_env({"ACCEL_REDIRECT_PREFIX": raw})

    assert settings.accel_redirect_prefix == prefix


def test_blank_accel_redirect_prefix_means_unset() -> None:
    assert Settings.from_env({"ACCEL_REDIRECT_PREFIX": "  "}).accel_redirect_prefix is None


@pytest.mark.parametrize(
    "raw",
    [
        "_blobstore_blobs/",
        "/",
        "//blobs/",
        "/blobs/../files/",
        "/.hidden/",
        "/blobs with spaces/",
        "/bl%6Fbs/",
        "http://nginx/blobs/",
        "/blobs/?x=1",
    ],
    ids=[
        "relative",
        "root",
        "empty-segment",
        "dot-dot",
        "dot-segment",
        "space",
        "percent",
        "absolute-url",
        "query",
    ],
)
def test_invalid_accel_redirect_prefix_is_rejected(raw: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"ACCEL_REDIRECT_PREFIX": raw})

    assert error.value.variable == "ACCEL_REDIRECT_PREFIX"
    assert f"ACCEL_REDIRECT_PREFIX={raw!r}" in str(error.value)
    assert "must be a URL path such as /_blobstore_blobs/" in str(error.value)
