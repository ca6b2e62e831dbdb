"""The transactional Kafka producer behind a small interface.

confluent-kafka's calls block, so each one that waits on the broker runs in a
worker thread. Every KafkaError and KafkaException is translated here, and
only here, into KafkaFailure.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from blobstore.config import Settings
from blobstore.errors import KafkaFailure
from blobstore.events.messages import EventMessage

__all__ = ["Delivery", "EventProducer", "KafkaProducer", "kafka_failure"]

logger = logging.getLogger(__name__)

# librdkafka's own log lines, routed into Python logging under this name.
client_logger = logging.getLogger("blobstore.events.librdkafka")

# How long a librdkafka log line stays muted after it was logged, in seconds.
REPEAT_WINDOW_S = 600.0

# How long one blocking call (init_transactions, flush, commit, abort) may
# wait for the broker before the relay gives up on the session and backs off.
CALL_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Delivery:
    """A delivery report: where a message landed, or why it did not."""

    outbox_id: int
    topic: str
    partition: int
    offset: int
    error: str | None


class EventProducer(Protocol):
    """A transactional producer: one transaction at a time, reports collected per transaction."""

    async def init_transactions(self) -> None:
        """Register the transactional.id: fence older producers, settle their transactions."""

    def begin_transaction(self) -> None: ...

    def produce(self, message: EventMessage) -> None:
        """Queue a message; its delivery report comes back from `flush`."""

    async def flush(self) -> list[Delivery]:
        """Wait for every queued message's report and return the reports of this transaction."""

    async def commit_transaction(self) -> None: ...

    async def abort_transaction(self) -> None: ...

    async def close(self) -> None: ...


def kafka_failure(operation: str, exc: KafkaException, *, stage: str) -> KafkaFailure:
    """Translate a confluent-kafka exception into the relay's error, keeping librdkafka's reason."""
    error = exc.args[0] if exc.args else None
    if not isinstance(error, KafkaError):
        return KafkaFailure(f"{operation} failed: {exc}", stage=stage)
    return KafkaFailure(
        f"{operation} failed: {error.name()}: {error.str()}", stage=stage, fatal=error.fatal()
    )


class RepeatFilter(logging.Filter):
    """Pass a log line once per REPEAT_WINDOW_S, counting lines that differ only in numbers as one.

    While the broker is down librdkafka logs every reconnect attempt, with
    changing counters and timings, and the relay already logs each distinct
    failure with the broker address.
    """

    MAX_LINES = 1000

    def __init__(self) -> None:
        super().__init__()
        self._last_logged: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        line = re.sub(r"\d+", "N", record.getMessage())
        now = time.monotonic()
        last = self._last_logged.get(line)
        if last is not None and now - last < REPEAT_WINDOW_S:
            return False

        if len(self._last_logged) >= self.MAX_LINES:
            self._last_logged.clear()
        self._last_logged[line] = now
        return True


client_logger.addFilter(RepeatFilter())


class KafkaProducer:
    """EventProducer over confluent_kafka.Producer with a fixed transactional.id."""

    def __init__(self, settings: Settings) -> None:
        if settings.kafka_bootstrap is None:
            raise ValueError("KafkaProducer needs settings.kafka_bootstrap")

        self._deliveries: list[Delivery] = []
        config: dict[str, Any] = {
            "bootstrap.servers": settings.kafka_bootstrap,
            "transactional.id": settings.kafka_transactional_id,
            "transaction.timeout.ms": settings.kafka_transaction_timeout_ms,
            # Implied by transactional.id; stated because exactly-once rests on it.
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "logger": client_logger,
        }
        try:
            self._producer: Producer | None = Producer(config)
        except KafkaException as exc:
            raise kafka_failure("creating the Kafka producer", exc, stage="connect") from exc

    async def init_transactions(self) -> None:
        await self._call("init_transactions", "connect", self._client().init_transactions)

    def begin_transaction(self) -> None:
        self._deliveries = []
        try:
            self._client().begin_transaction()
        except KafkaException as exc:
            raise kafka_failure("begin_transaction", exc, stage="publish") from exc

    def produce(self, message: EventMessage) -> None:
        def on_delivery(error: KafkaError | None, delivered: Message) -> None:
            self._deliveries.append(
                Delivery(
                    outbox_id=message.outbox_id,
                    topic=delivered.topic() or message.topic,
                    partition=delivered.partition() or 0,
                    offset=delivered.offset() or 0,
                    error=None if error is None else f"{error.name()}: {error.str()}",
                )
            )

        try:
            self._client().produce(
                message.topic,
                key=message.key,
                value=message.value,
                headers=message.headers,
                on_delivery=on_delivery,
            )
        except KafkaException as exc:
            raise kafka_failure("produce", exc, stage="publish") from exc
        except BufferError as exc:
            # librdkafka queues up to 100,000 messages by default
            # (queue.buffering.max.messages), far more than RELAY_BATCH_SIZE allows.
            raise KafkaFailure(f"produce failed: {exc}", stage="publish") from exc

    async def flush(self) -> list[Delivery]:
        remaining = await asyncio.to_thread(self._client().flush, CALL_TIMEOUT_S)
        if remaining:
            raise KafkaFailure(
                f"{remaining} messages got no delivery report within {CALL_TIMEOUT_S:g} s",
                stage="publish",
            )
        return list(self._deliveries)

    async def commit_transaction(self) -> None:
        await self._call("commit_transaction", "commit", self._client().commit_transaction)

    async def abort_transaction(self) -> None:
        await self._call("abort_transaction", "publish", self._client().abort_transaction)

    async def close(self) -> None:
        """Drop queued messages and release the client without waiting for the broker.

        Producer.close() would first try to abort the open transaction and
        flush, which waits on a broker that may be gone. The next producer's
        init_transactions aborts that transaction anyway.
        """
        producer, self._producer = self._producer, None
        if producer is None:
            return

        try:
            await asyncio.to_thread(producer.purge)
        except KafkaException as exc:
            logger.debug("purging the Kafka producer failed: %s", exc)
        # The last reference goes here, and librdkafka destroys the client.
        del producer

    def _client(self) -> Producer:
        if self._producer is None:
            raise KafkaFailure("the Kafka producer is closed", stage="publish")
        return self._producer

    async def _call(self, operation: str, stage: str, function: Any) -> None:
        try:
            await asyncio.to_thread(function, CALL_TIMEOUT_S)
        except KafkaException as exc:
            raise kafka_failure(operation, exc, stage=stage) from exc
