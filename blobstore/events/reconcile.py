"""Read back what the relay committed to Kafka but may not have recorded in the database.

A relay that dies between its Kafka commit and its database update leaves rows
pending whose messages are already in Kafka. So before publishing again, a new
relay reads each partition of the pending rows' topics up to the end. It starts
at the offset it last recorded, or at the beginning when it recorded none. It
reads as a read_committed consumer, so aborted transactions stay invisible.
Every outbox id found there was published and must not go out again.

The consumer assigns partitions itself and commits no offsets: the recorded
offsets in the database are the only position that counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from blobstore.errors import KafkaFailure
from blobstore.events.faults import DURING_RECONCILE, FaultSwitch
from blobstore.events.messages import RelayedEvent, relayed_event
from blobstore.events.producer import CALL_TIMEOUT_S, client_logger, kafka_failure

__all__ = ["ReadBack", "read_back"]

logger = logging.getLogger(__name__)

PartitionKey = tuple[str, int]

# Errors that librdkafka reports on the consumer while it keeps retrying by itself.
_TRANSIENT = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}


@dataclass
class ReadBack:
    """The result of reconciliation: the relay's events, and the offset read up to per partition."""

    events: list[RelayedEvent] = field(default_factory=list)
    next_offsets: dict[PartitionKey, int] = field(default_factory=dict)
    foreign_messages: int = 0


def read_back(
    bootstrap: str,
    topics: Collection[str],
    recorded: Mapping[PartitionKey, int],
    *,
    group_id: str,
    faults: FaultSwitch,
) -> ReadBack:
    """Read the committed messages of `topics` after the recorded offsets, blocking the thread.

    Raises KafkaFailure when the broker cannot be reached, or when reading
    makes no progress for CALL_TIMEOUT_S.
    """
    consumer = _consumer(bootstrap, group_id)
    try:
        starts = _start_offsets(consumer, topics, recorded)
        result = ReadBack()
        if starts:
            _read_to_end(consumer, starts, result, faults)
        return result
    except KafkaException as exc:
        raise kafka_failure("reading back committed events", exc, stage="reconcile") from exc
    finally:
        consumer.close()


def _consumer(bootstrap: str, group_id: str) -> Consumer:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        # librdkafka requires a group id; nothing is ever committed under it.
        "group.id": group_id,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        # A recorded offset below the log start (retention removed the
        # messages) reads from the earliest message that is left.
        "auto.offset.reset": "earliest",
        # The broker waits up to this long for data before it answers a fetch, and
        # the default of 500 ms would delay each partition's end-of-partition event.
        "fetch.wait.max.ms": 50,
        "logger": client_logger,
    }
    try:
        return Consumer(config)
    except KafkaException as exc:
        raise kafka_failure("creating the reconcile consumer", exc, stage="reconcile") from exc


def _start_offsets(
    consumer: Consumer, topics: Collection[str], recorded: Mapping[PartitionKey, int]
) -> dict[PartitionKey, int]:
    """Return where to start reading each partition that has committed messages left to read."""
    starts: dict[PartitionKey, int] = {}
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=CALL_TIMEOUT_S).topics.get(topic)
        if metadata is None or metadata.error is not None:
            # A topic that does not exist contains nothing that the relay committed.
            continue

        for partition in metadata.partitions:
            # With isolation.level=read_committed the high watermark returned
            # here is the last stable offset, the end of what can be read.
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=CALL_TIMEOUT_S, cached=False
            )
            start = recorded.get((topic, partition))
            if start is None and high > low:
                starts[(topic, partition)] = OFFSET_BEGINNING
            elif start is not None and start < high:
                starts[(topic, partition)] = start
    return starts


def _read_to_end(
    consumer: Consumer, starts: dict[PartitionKey, int], result: ReadBack, faults: FaultSwitch
) -> None:
    consumer.assign(
        [TopicPartition(topic, partition, offset) for (topic, partition), offset in starts.items()]
    )
    unfinished = set(starts)
    deadline = time.monotonic() + CALL_TIMEOUT_S

    while unfinished:
        if time.monotonic() > deadline:
            raise KafkaFailure(
                f"reading back {len(unfinished)} partitions made no progress "
                f"for {CALL_TIMEOUT_S:g} s",
                stage="reconcile",
            )

        message = consumer.poll(1.0)
        if message is None:
            continue
        deadline = time.monotonic() + CALL_TIMEOUT_S
        partition_key = (message.topic() or "", message.partition() or 0)

        error = message.error()
        if error is not None and error.code() == KafkaError._PARTITION_EOF:
            result.next_offsets[partition_key] = message.offset() or 0
            unfinished.discard(partition_key)
            continue
        if error is not None:
            if error.code() in _TRANSIENT and not error.fatal():
                continue
            raise KafkaException(error)

        offset = message.offset() or 0
        result.next_offsets[partition_key] = max(
            result.next_offsets.get(partition_key, 0), offset + 1
        )
        headers = message.headers() or []
        event = relayed_event(headers.items() if isinstance(headers, dict) else headers)
        if event is None:
            result.foreign_messages += 1
            continue
        faults.reached(DURING_RECONCILE)
        result.events.append(event)
