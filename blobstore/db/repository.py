"""The queries behind uploads, reads and deletes.

Every function takes an open connection and runs inside the caller's
transaction, so the service decides where a transaction starts and ends.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.db.models import blobs, file_tags, files, outbox
from blobstore.events.outbox import OUTBOX_CHANNEL, OutboxMessage

__all__ = [
    "BlobRecord",
    "FileRecord",
    "delete_file",
    "file_record",
    "get_file",
    "insert_file",
    "lock_blob",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlobRecord:
    sha256: str
    blake3: str
    size: int
    created_at: datetime


@dataclass(frozen=True)
class FileRecord:
    """A file as the index stores it: a key that names a blob, with its owner and labels."""

    key: uuid.UUID
    sha256: str
    blake3: str
    user_id: str
    filename: str
    content_type: str
    size: int
    created_at: datetime
    tags: tuple[str, ...]


def as_utc(moment: datetime) -> datetime:
    """Attach UTC to a naive time, as SQLite returns them; convert aware ones."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


async def lock_blob(conn: AsyncConnection, blob: BlobRecord) -> bool:
    """Insert the blob row if new, then hold its row lock until the transaction ends.

    Returns True when this call inserted the row. Garbage collection deletes a
    blob only under the same lock, so while it is held the blob cannot vanish.
    """
    values = {
        "sha256": blob.sha256,
        "blake3": blob.blake3,
        "size": blob.size,
        "created_at": blob.created_at,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert_new = (
        dialect.insert(blobs).values(values).on_conflict_do_nothing(index_elements=["sha256"])
    )
    lock_row = select(blobs.c.sha256).where(blobs.c.sha256 == blob.sha256).with_for_update()

    while True:
        result = await conn.execute(insert_new)
        inserted = result.rowcount == 1

        # SQLite has no row locks: BEGIN IMMEDIATE already holds the database's write lock.
        if conn.dialect.name != "postgresql":
            return inserted

        # DO NOTHING takes no lock on the row it conflicted with, so garbage
        # collection may delete that row before the lock below is granted.
        # The SELECT then finds nothing, and the insert has to be tried again.
        if (await conn.execute(lock_row)).first() is not None:
            return inserted
        logger.info("blob %s was collected while being locked; inserting it again", blob.sha256)


async def insert_file(conn: AsyncConnection, record: FileRecord, message: OutboxMessage) -> None:
    """Insert a file row, its tags and the outbox message that announces it."""
    await conn.execute(
        insert(files).values(
            key=record.key,
            sha256=record.sha256,
            user_id=record.user_id,
            filename=record.filename,
            content_type=record.content_type,
            size=record.size,
            created_at=record.created_at,
        )
    )
    if record.tags:
        await conn.execute(
            insert(file_tags), [{"file_key": record.key, "tag": tag} for tag in record.tags]
        )
    await insert_outbox(conn, message)


async def insert_outbox(conn: AsyncConnection, message: OutboxMessage) -> None:
    """Insert an outbox row and, on PostgreSQL, wake a listening relay when it commits."""
    await conn.execute(
        insert(outbox).values(
            event_id=message.event_id,
            event_type=message.event_type,
            topic=message.topic,
            message_key=message.message_key,
            payload=message.payload,
            created_at=message.created_at,
            request_id=message.request_id,
        )
    )

    # PostgreSQL delivers a notification only when the transaction commits, and
    # merges identical ones within a transaction, so the relay wakes once per
    # commit and always finds the row visible.
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_notify(OUTBOX_CHANNEL, "")))


async def get_file(
    conn: AsyncConnection, key: uuid.UUID, *, for_update: bool = False
) -> FileRecord | None:
    """Return a file with its tags, or None; `for_update` locks the row until commit."""
    query = (
        select(files, blobs.c.blake3)
        .join(blobs, blobs.c.sha256 == files.c.sha256)
        .where(files.c.key == key)
    )
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update(of=files)
    row = (await conn.execute(query)).first()
    if row is None:
        return None

    tag_rows = await conn.execute(
        select(file_tags.c.tag).where(file_tags.c.file_key == key).order_by(file_tags.c.tag)
    )
    return file_record(row, tuple(tag_rows.scalars()))


async def delete_file(conn: AsyncConnection, key: uuid.UUID, message: OutboxMessage) -> None:
    """Delete a file row and its tags, and write the message announcing the deletion."""
    await conn.execute(delete(file_tags).where(file_tags.c.file_key == key))
    await conn.execute(delete(files).where(files.c.key == key))
    await insert_outbox(conn, message)


def file_record(row: Row[tuple[object, ...]], tags: tuple[str, ...]) -> FileRecord:
    mapping = row._mapping
    return FileRecord(
        key=mapping["key"],
        sha256=mapping["sha256"],
        blake3=mapping["blake3"],
        user_id=mapping["user_id"],
        filename=mapping["filename"],
        content_type=mapping["content_type"],
        size=mapping["size"],
        created_at=as_utc(mapping["created_at"]),
        tags=tags,
    )
