"""The query that changes a file's tags, together with the event announcing it."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.db.models import file_tags
from blobstore.db.repository import insert_outbox
from blobstore.events.outbox import OutboxMessage

__all__ = ["change_file_tags"]


async def change_file_tags(
    conn: AsyncConnection,
    key: uuid.UUID,
    *,
    added: Collection[str],
    removed: Collection[str],
    message: OutboxMessage,
) -> None:
    """Remove and add tags of one file and write the message announcing the change."""
    if removed:
        await conn.execute(
            delete(file_tags).where(file_tags.c.file_key == key, file_tags.c.tag.in_(removed))
        )
    if added:
        await conn.execute(insert(file_tags), [{"file_key": key, "tag": tag} for tag in added])
    await insert_outbox(conn, message)
