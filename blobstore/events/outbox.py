"""The messages the service writes to the outbox, one per change.

The `file_stored` payload is a contract with consumers in other services:
`{key, meta: {user_id, tags, sha256, created_at}, timestamp}`. Fields may be
added; none is ever renamed or dropped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blobstore.clock import isoformat_utc
from blobstore.request_context import current_request_id

__all__ = [
    "FILE_DELETED",
    "FILE_STORED",
    "FILE_TAGS_CHANGED",
    "OUTBOX_CHANNEL",
    "SCHEMA_VERSION",
    "OutboxMessage",
    "file_event",
]

FILE_STORED = "file_stored"
FILE_DELETED = "file_deleted"
# Carries the full new tag set in meta.tags, plus `added` and `removed` lists.
FILE_TAGS_CHANGED = "file_tags_changed"
SCHEMA_VERSION = 1

# The PostgreSQL NOTIFY channel that a transaction writing outbox rows signals on commit.
OUTBOX_CHANNEL = "blobstore_outbox"


@dataclass(frozen=True)
class OutboxMessage:
    """One event, written in the same transaction as the change it announces.

    `request_id` names the HTTP request that caused the change, None outside one.
    """

    event_id: uuid.UUID
    event_type: str
    topic: str
    message_key: str
    payload: dict[str, Any]
    created_at: datetime
    # The HTTP request that caused the event, sent along as a Kafka header.
    request_id: str | None = None


def file_event(
    event_type: str,
    *,
    topic: str,
    key: uuid.UUID,
    user_id: str,
    tags: list[str],
    sha256: str,
    created_at: datetime,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> OutboxMessage:
    """Build a file event whose payload follows the consumer contract.

    `created_at` is when the file was stored; `now` is when this event happened
    and becomes `timestamp`. `extra` adds optional top-level fields. The
    request id comes from the request context, so every event built while a
    request is served carries it without each caller passing it on.
    """
    event_id = uuid.uuid4()
    payload: dict[str, Any] = {
        "key": str(key),
        "meta": {
            "user_id": user_id,
            "tags": tags,
            "sha256": sha256,
            "created_at": isoformat_utc(created_at),
        },
        "timestamp": isoformat_utc(now),
        "event_id": str(event_id),
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
    }
    payload.update(extra or {})

    return OutboxMessage(
        event_id=event_id,
        event_type=event_type,
        topic=topic,
        message_key=str(key),
        payload=payload,
        created_at=now,
        request_id=current_request_id(),
    )
