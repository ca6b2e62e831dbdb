"""The Kafka wire format: what the relay sends and what reconciliation reads back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from blobstore.db.outbox import PendingEvent
from blobstore.events.messages import event_message, relayed_event
from blobstore.events.outbox import OutboxMessage

EVENT_ID = uuid.UUID("3f2504e0-4f89-41d3-9a0c-0305e82c3301")


def pending(request_id: str | None = None) -> PendingEvent:
    return PendingEvent(
        id=42,
        message=OutboxMessage(
            event_id=EVENT_ID,
            event_type="file_stored",
            topic="file_stored",
            message_key="8d5f2f0e-0000-4000-8000-000000000001",
            payload={"key": "8d5f2f0e-0000-4000-8000-000000000001", "schema_version": 1, "a": "é"},
            created_at=datetime(2026, 1, 2, tzinfo=UTC),
            request_id=request_id,
        ),
    )


def test_message_carries_key_json_value_and_headers() -> None:
    message = event_message(pending())

    assert message.topic == "file_stored"
    assert message.key == b"8d5f2f0e-0000-4000-8000-000000000001"
    assert json.loads(message.value) == pending().message.payload
    assert message.value.startswith(b'{"a":"\xc3\xa9","key"')
    assert message.headers == [
        ("event_id", str(EVENT_ID).encode()),
        ("event_type", b"file_stored"),
        ("schema_version", b"1"),
        ("outbox_id", b"42"),
    ]


def test_message_value_is_compact_json_with_sorted_keys() -> None:
    message = event_message(pending())

    assert message.value == (
        b'{"a":"\xc3\xa9","key":"8d5f2f0e-0000-4000-8000-000000000001","schema_version":1}'
    )


def test_request_id_header_is_added_when_present() -> None:
    message = event_message(pending(request_id="req-7"))

    assert message.headers[-1] == ("request_id", b"req-7")


def test_relayed_event_reads_back_the_relay_headers() -> None:
    event = relayed_event(event_message(pending()).headers)

    assert event is not None
    assert event.outbox_id == 42
    assert event.event_id == EVENT_ID


def test_message_without_relay_headers_is_foreign() -> None:
    assert relayed_event([]) is None
    assert relayed_event([("outbox_id", b"42")]) is None
    assert (
        relayed_event([("outbox_id", b"forty-two"), ("event_id", str(EVENT_ID).encode())]) is None
    )
    assert relayed_event([("outbox_id", b"42"), ("event_id", b"not-a-uuid")]) is None
    assert relayed_event([("outbox_id", None), ("event_id", str(EVENT_ID).encode())]) is None
