"""Settings.from_env: defaults, accepted forms and the messages for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from blobstore.config import ConfigError, Settings


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
