"""Test helpers on the real broker: topics, a read_committed reader, and the delivery check.

The reader is written apart from blobstore.events.reconcile on purpose, so that
a mistake there cannot hide itself in the check.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from jsonschema import Draft202012Validator

PARTITIONS = 3
READ_TIMEOUT_S = 60.0
DOCS = Path(__file__).resolve().parents[2] / "docs"


def create_topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in set(names)],
        operation_timeout=30,
    )
    for future in futures.values():
        future.result(timeout=60)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class ReadMessage:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str]


def read_committed(bootstrap: str, topics: list[str]) -> list[ReadMessage]:
    """Read every committed message of `topics` from the beginning, in partition order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique_name("test-reader"),
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = [
            TopicPartition(topic, partition, OFFSET_BEGINNING)
            for topic in topics
            for partition in consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ]
        consumer.assign(partitions)
        unfinished = {(tp.topic, tp.partition) for tp in partitions}
        messages: list[ReadMessage] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        while unfinished:
            assert time.monotonic() < deadline, f"no end of partitions {unfinished} reached"
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                unfinished.discard((message.topic(), message.partition()))
                continue
            key = message.key()
            messages.append(
                ReadMessage(
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                    key=None if key is None else key.decode(),
                    value=message.value(),
                    headers={
                        name: value.decode() for name, value in message.headers() or [] if value
                    },
                )
            )
        return messages
    finally:
        consumer.close()


def documented_schemas(doc: Path = DOCS / "events.md") -> dict[str, dict[str, Any]]:
    """Return the JSON Schemas in a document, by the event name at the end of their $id."""
    blocks = re.findall(r"```json\n(.*?)```", doc.read_text(), flags=re.DOTALL)
    schemas = {}
    for block in blocks:
        schema = json.loads(block)
        if str(schema.get("$id", "")).startswith("urn:blobstore:event:"):
            schemas[schema["$id"].split(":")[3]] = schema
    return schemas


@dataclass
class DeliveryCheck:
    """How the committed messages compare with the outbox rows they came from."""

    expected: int = 0
    delivered: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    contract_errors: list[str] = field(default_factory=list)
    order_errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "expected_events": self.expected,
            "delivered_messages": self.delivered,
            "lost": len(self.lost),
            "duplicated": sum(count - 1 for count in self.duplicated.values()),
            "unexpected": len(self.unexpected),
            "contract_errors": len(self.contract_errors),
            "order_errors": len(self.order_errors),
        }


def check_delivery(rows: list[dict[str, Any]], messages: list[ReadMessage]) -> DeliveryCheck:
    """Compare outbox rows with the messages read back, event by event.

    Checks that each row's event is in its topic exactly once, that key,
    value and headers follow the documented contract, and that for each key
    the outbox ids arrive in increasing order.
    """
    check = DeliveryCheck(expected=len(rows), delivered=len(messages))
    schemas = documented_schemas()
    validators = {name: Draft202012Validator(schema) for name, schema in schemas.items()}
    by_event_id = {str(row["event_id"]): row for row in rows}

    counts = Counter(message.headers.get("event_id", "") for message in messages)
    check.lost = sorted(set(by_event_id) - set(counts))
    check.duplicated = {event_id: n for event_id, n in counts.items() if n > 1}
    check.unexpected = sorted(set(counts) - set(by_event_id))

    last_outbox_id: dict[tuple[str, str | None], int] = defaultdict(int)
    for message in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        row = by_event_id.get(message.headers.get("event_id", ""))
        if row is None:
            continue
        check.contract_errors.extend(_contract_errors(message, row, validators))

        outbox_id = int(message.headers["outbox_id"])
        order_key = (message.topic, message.key)
        if outbox_id <= last_outbox_id[order_key]:
            check.order_errors.append(
                f"key {message.key}: outbox id {outbox_id} after {last_outbox_id[order_key]}"
            )
        last_outbox_id[order_key] = outbox_id
    return check


def _contract_errors(
    message: ReadMessage, row: dict[str, Any], validators: dict[str, Draft202012Validator]
) -> list[str]:
    errors = []
    where = f"outbox id {row['id']}"
    payload = json.loads(message.value)
    if payload != row["payload"]:
        errors.append(f"{where}: value {payload} differs from the row's payload")
    if message.topic != row["topic"]:
        errors.append(f"{where}: on topic {message.topic}, expected {row['topic']}")
    if message.key != row["message_key"]:
        errors.append(f"{where}: key {message.key}, expected {row['message_key']}")

    expected_headers = {
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "schema_version": "1",
        "outbox_id": str(row["id"]),
    }
    if row.get("request_id") is not None:
        expected_headers["request_id"] = row["request_id"]
    if message.headers != expected_headers:
        errors.append(f"{where}: headers {message.headers}, expected {expected_headers}")

    for schema_name, document in ((row["event_type"], payload), ("headers", message.headers)):
        for error in validators[schema_name].iter_errors(document):
            errors.append(f"{where}: {schema_name} schema: {error.message}")
    return errors
