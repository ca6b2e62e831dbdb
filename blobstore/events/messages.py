"""The Kafka wire format of an outbox event: key, JSON value and headers.

Consumers rely on it (docs/events.md): the key is the file key, the value is
the payload as UTF-8 JSON, and the headers carry `event_id`, `event_type`,
`schema_version`, `outbox_id` and, when the row has one, `request_id`.
Reconciliation reads the same headers back to find which rows a committed
transaction contained.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from blobstore.db.outbox import PendingEvent
from blobstore.events.outbox import SCHEMA_VERSION

__all__ = [
    "HEADER_EVENT_ID",
    "HEADER_EVENT_TYPE",
    "HEADER_OUTBOX_ID",
    "HEADER_REQUEST_ID",
    "HEADER_SCHEMA_VERSION",
    "EventMessage",
    "RelayedEvent",
    "event_message",
    "relayed_event",
]

HEADER_EVENT_ID = "event_id"
HEADER_EVENT_TYPE = "event_type"
HEADER_SCHEMA_VERSION = "schema_version"
HEADER_OUTBOX_ID = "outbox_id"
HEADER_REQUEST_ID = "request_id"

Header = tuple[str, str | bytes | None]

# Sorted keys give the same bytes whichever database returned the payload:
# PostgreSQL's JSONB does not keep the order in which keys were written. One
# encoder for every message, because json.dumps with these options builds a
# new JSONEncoder per call.
_PAYLOAD_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class EventMessage:
    """One Kafka message, ready for the producer."""

    outbox_id: int
    topic: str
    key: bytes
    value: bytes
    headers: list[Header]


@dataclass(frozen=True)
class RelayedEvent:
    """The outbox row that a message read back from Kafka was published from."""

    outbox_id: int
    event_id: uuid.UUID


def event_message(event: PendingEvent) -> EventMessage:
    outbox_message = event.message
    value = _PAYLOAD_ENCODER.encode(outbox_message.payload)
    schema_version = outbox_message.payload.get("schema_version", SCHEMA_VERSION)

    headers: list[Header] = [
        (HEADER_EVENT_ID, str(outbox_message.event_id).encode()),
        (HEADER_EVENT_TYPE, outbox_message.event_type.encode()),
        (HEADER_SCHEMA_VERSION, str(schema_version).encode()),
        (HEADER_OUTBOX_ID, str(event.id).encode()),
    ]
    if outbox_message.request_id is not None:
        headers.append((HEADER_REQUEST_ID, outbox_message.request_id.encode()))

    return EventMessage(
        outbox_id=event.id,
        topic=outbox_message.topic,
        key=outbox_message.message_key.encode(),
        value=value.encode(),
        headers=headers,
    )


def relayed_event(headers: Iterable[Header]) -> RelayedEvent | None:
    """Return the row a message came from, or None for a message that lacks the relay's headers.

    Another producer may share the topic; its messages are skipped, not errors.
    """
    values: dict[str, bytes] = {}
    for name, value in headers:
        if value is not None:
            values.setdefault(name, value.encode() if isinstance(value, str) else value)

    raw_id = values.get(HEADER_OUTBOX_ID)
    raw_event_id = values.get(HEADER_EVENT_ID)
    if raw_id is None or raw_event_id is None:
        return None
    try:
        return RelayedEvent(
            outbox_id=int(raw_id.decode("ascii")), event_id=uuid.UUID(raw_event_id.decode("ascii"))
        )
    except (UnicodeDecodeError, ValueError):
        return None
