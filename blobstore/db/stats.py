"""Index-wide numbers for metrics and health: stored blobs and the outbox backlog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.db.models import blobs, outbox
from blobstore.db.repository import as_utc

__all__ = ["IndexStats", "OutboxBacklog", "index_stats", "outbox_backlog"]


@dataclass(frozen=True)
class OutboxBacklog:
    """Outbox rows that the relay has not published yet."""

    pending: int
    oldest_created_at: datetime | None

    def oldest_age_seconds(self, now: datetime) -> float:
        if self.oldest_created_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_created_at).total_seconds())


@dataclass(frozen=True)
class IndexStats:
    blobs: int
    blob_bytes: int
    backlog: OutboxBacklog


async def outbox_backlog(conn: AsyncConnection) -> OutboxBacklog:
    # The partial index ix_outbox_pending covers exactly these rows.
    row = (
        await conn.execute(
            select(func.count(), func.min(outbox.c.created_at))
            .select_from(outbox)
            .where(outbox.c.published_at.is_(None))
        )
    ).one()
    pending, oldest = row
    return OutboxBacklog(
        pending=pending, oldest_created_at=None if oldest is None else as_utc(oldest)
    )


async def index_stats(conn: AsyncConnection) -> IndexStats:
    """Count the stored blobs and their bytes, and read the outbox backlog.

    NOTE: the blob count scans the whole table, so it slows down as the index
    grows. Callers run it with a timeout and cache the result.
    """
    count, total = (
        await conn.execute(
            select(func.count(), func.coalesce(func.sum(blobs.c.size), 0)).select_from(blobs)
        )
    ).one()
    return IndexStats(blobs=count, blob_bytes=int(total), backlog=await outbox_backlog(conn))
