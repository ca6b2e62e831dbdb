"""Check that the Kafka cluster at KAFKA_BOOTSTRAP responds, for the health report."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

__all__ = ["KafkaUnavailable", "count_brokers"]

logger = logging.getLogger(__name__)

# librdkafka's syslog levels: 2 keeps only critical messages. A failed probe
# is already reported by the caller, and librdkafka would add one line per
# connection attempt.
_LIBRDKAFKA_LOG_LEVEL = 2


class KafkaUnavailable(Exception):
    """Raised when the cluster returns no metadata within the timeout."""


def count_brokers(bootstrap: str, timeout_s: float) -> int:
    """Fetch the cluster metadata and return how many brokers it lists.

    Blocks for up to `timeout_s`; call it from a worker thread. A fresh client
    per call leaves no background connection retrying between checks.
    """
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "socket.connection.setup.timeout.ms": max(1000, int(timeout_s * 1000)),
        "log_level": _LIBRDKAFKA_LOG_LEVEL,
        "logger": logger,
    }
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailable(f"no metadata from {bootstrap}: {exc.args[0].str()}") from exc
    return len(metadata.brokers)
