"""The relay's outbox queries on both backends."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.clock import utc_now
from blobstore.db import outbox as outbox_db
from blobstore.db.models import outbox


async def insert_rows(engine: AsyncEngine, count: int) -> list[int]:
    now = utc_now()
    rows = [
        {
            "event_id": uuid.uuid4(),
            "event_type": "file_stored",
            "topic": "files",
            "message_key": str(number),
            "payload": {"number": number},
            "created_at": now,
        }
        for number in range(count)
    ]
    async with engine.begin() as conn:
        result = await conn.execute(insert(outbox).returning(outbox.c.id), rows)
        return sorted(result.scalars())


async def published_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(outbox.c.id).where(outbox.c.published_at.is_not(None)).order_by(outbox.c.id)
        )
        return list(result.scalars())


async def test_mark_published_marks_only_given_ids(engine: AsyncEngine) -> None:
    ids = await insert_rows(engine, 10)
    # Gaps inside the batch's id range stand for rows that committed after it was read.
    batch = [ids[0], ids[2], ids[3], ids[7], ids[9]]

    async with engine.begin() as conn:
        marked = await outbox_db.mark_published(conn, batch, utc_now())

    assert marked == len(batch)
    assert await published_ids(engine) == batch


async def test_mark_published_skips_rows_already_published(engine: AsyncEngine) -> None:
    ids = await insert_rows(engine, 4)
    async with engine.begin() as conn:
        await outbox_db.mark_published(conn, ids[:2], utc_now())

    async with engine.begin() as conn:
        marked = await outbox_db.mark_published(conn, ids, utc_now())

    assert marked == 2
    assert await published_ids(engine) == ids
