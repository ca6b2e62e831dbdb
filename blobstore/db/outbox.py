"""The relay's queries on the outbox and on the offsets it records per topic partition.

Like the repository, every function runs inside the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, any_, bindparam, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.db.models import outbox, relay_offsets
from blobstore.db.repository import as_utc
from blobstore.events.outbox import OutboxMessage

__all__ = [
    "OutboxStatus",
    "PartitionOffset",
    "PendingEvent",
    "TopicPartition",
    "mark_published",
    "mark_reconciled",
    "outbox_status",
    "pending_events",
    "pending_topics",
    "record_offsets",
    "recorded_offsets",
]

TopicPartition = tuple[str, int]

# Rows per UPDATE when marking reconciled events, to keep each statement's parameter list short.
RECONCILE_CHUNK = 1000


@dataclass(frozen=True)
class PendingEvent:
    """An outbox row that no committed Kafka transaction is known to contain yet."""

    id: int
    message: OutboxMessage


@dataclass(frozen=True)
class PartitionOffset:
    topic: str
    partition: int
    next_offset: int
    updated_at: datetime


@dataclass(frozen=True)
class OutboxStatus:
    """The backlog and the relay's recorded progress, as `blobstore outbox` prints them."""

    pending: int
    oldest_pending_created_at: datetime | None
    offsets: list[PartitionOffset]


async def pending_events(conn: AsyncConnection, limit: int) -> list[PendingEvent]:
    """Return up to `limit` unpublished rows, lowest id first."""
    # Only the columns a message needs, unpacked by position, because this read
    # costs the relay far more CPU per row in Python than it costs PostgreSQL.
    statement = select(
        outbox.c.id,
        outbox.c.event_id,
        outbox.c.event_type,
        outbox.c.topic,
        outbox.c.message_key,
        outbox.c.payload,
        outbox.c.created_at,
        outbox.c.request_id,
    ).where(outbox.c.published_at.is_(None))
    result = await conn.execute(statement.order_by(outbox.c.id).limit(limit))

    return [
        PendingEvent(
            id=row_id,
            message=OutboxMessage(
                event_id=event_id,
                event_type=event_type,
                topic=topic,
                message_key=message_key,
                payload=payload,
                created_at=as_utc(created_at),
                request_id=request_id,
            ),
        )
        for (
            row_id,
            event_id,
            event_type,
            topic,
            message_key,
            payload,
            created_at,
            request_id,
        ) in result
    ]


async def pending_topics(conn: AsyncConnection) -> list[str]:
    """Return the topics of unpublished rows: the only places an unrecorded commit can be."""
    result = await conn.execute(
        select(outbox.c.topic).where(outbox.c.published_at.is_(None)).distinct()
    )
    return sorted(result.scalars())


async def recorded_offsets(
    conn: AsyncConnection, topics: Collection[str]
) -> dict[TopicPartition, int]:
    result = await conn.execute(
        select(relay_offsets.c.topic, relay_offsets.c.partition, relay_offsets.c.next_offset).where(
            relay_offsets.c.topic.in_(list(topics))
        )
    )
    return {(row.topic, row.partition): row.next_offset for row in result}


async def mark_published(conn: AsyncConnection, ids: Sequence[int], published_at: datetime) -> int:
    """Mark exactly the rows `ids` published; return how many were still pending.

    On PostgreSQL the ids go as one array parameter (`id = ANY($1)`): an IN
    list of a whole batch costs SQLAlchemy and asyncpg one bound parameter
    per row. A range from the lowest to the highest id would be wrong, since
    a row inside it can commit after the batch was read and still be unsent.
    """
    if conn.dialect.name == "postgresql":
        batch = bindparam("ids", list(ids), type_=postgresql.ARRAY(BigInteger))
        matches_id = outbox.c.id == any_(batch)
    else:
        matches_id = outbox.c.id.in_(list(ids))

    result = await conn.execute(
        update(outbox)
        .where(matches_id, outbox.c.published_at.is_(None))
        .values(published_at=published_at)
    )
    return result.rowcount


async def mark_reconciled(
    conn: AsyncConnection, events: Sequence[tuple[int, uuid.UUID]], published_at: datetime
) -> int:
    """Mark rows found in Kafka published, matching id and event id; return how many changed.

    Matching the event id as well keeps a message from another outbox that
    happens to carry the same header names from marking one of our rows.
    """
    marked = 0
    for start in range(0, len(events), RECONCILE_CHUNK):
        chunk = events[start : start + RECONCILE_CHUNK]
        result = await conn.execute(
            update(outbox)
            .where(
                tuple_(outbox.c.id, outbox.c.event_id).in_(chunk),
                outbox.c.published_at.is_(None),
            )
            .values(published_at=published_at)
        )
        marked += result.rowcount
    return marked


async def record_offsets(
    conn: AsyncConnection, offsets: Mapping[TopicPartition, int], updated_at: datetime
) -> None:
    """Store, per topic partition, the offset after the last message read or written."""
    if not offsets:
        return

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(relay_offsets)
    statement = statement.on_conflict_do_update(
        index_elements=["topic", "partition"],
        set_={
            "next_offset": statement.excluded.next_offset,
            "updated_at": statement.excluded.updated_at,
        },
    )
    # Sorted, so that two writers would take the row locks in the same order.
    await conn.execute(
        statement,
        [
            {
                "topic": topic,
                "partition": partition,
                "next_offset": offset,
                "updated_at": updated_at,
            }
            for (topic, partition), offset in sorted(offsets.items())
        ],
    )


async def outbox_status(conn: AsyncConnection) -> OutboxStatus:
    backlog = (
        await conn.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(
                outbox.c.published_at.is_(None)
            )
        )
    ).one()
    offsets = await conn.execute(
        select(relay_offsets).order_by(relay_offsets.c.topic, relay_offsets.c.partition)
    )

    oldest: datetime | None = backlog[1]
    return OutboxStatus(
        pending=backlog[0],
        oldest_pending_created_at=None if oldest is None else as_utc(oldest),
        offsets=[
            PartitionOffset(
                topic=row.topic,
                partition=row.partition,
                next_offset=row.next_offset,
                updated_at=as_utc(row.updated_at),
            )
            for row in offsets
        ],
    )
