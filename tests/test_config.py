"""The relay settings: defaults, accepted values and the messages for bad ones."""

from __future__ import annotations

import pytest

from blobstore.config import ConfigError, Settings


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
