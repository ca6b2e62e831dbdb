"""The blob-row queries behind garbage collection and integrity checks.

Scans page through blobs by sha256, so a run over millions of rows keeps one
page in memory and no transaction stays open between pages.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.db.models import blobs, files
from blobstore.db.repository import BlobRecord, as_utc

__all__ = [
    "blob_page",
    "blob_record",
    "count_blobs",
    "count_unreferenced",
    "delete_blob",
    "existing_blobs",
    "file_keys_of_blob",
    "is_referenced",
    "lock_existing_blob",
    "unreferenced_page",
]


def _unreferenced(created_before: datetime) -> list[ColumnElement[bool]]:
    return [
        blobs.c.created_at < created_before,
        ~exists().where(files.c.sha256 == blobs.c.sha256),
    ]


async def count_unreferenced(conn: AsyncConnection, created_before: datetime) -> int:
    query = select(func.count()).select_from(blobs).where(*_unreferenced(created_before))
    return int((await conn.execute(query)).scalar_one())


async def unreferenced_page(
    conn: AsyncConnection, created_before: datetime, after: str, limit: int
) -> list[BlobRecord]:
    """Return blobs that no file references, created before the cutoff, in sha256 order."""
    query = (
        select(blobs)
        .where(blobs.c.sha256 > after, *_unreferenced(created_before))
        .order_by(blobs.c.sha256)
        .limit(limit)
    )
    return [blob_record(row) for row in await conn.execute(query)]


async def count_blobs(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(blobs))).scalar_one())


async def blob_page(conn: AsyncConnection, after: str, limit: int) -> list[BlobRecord]:
    """Return the blobs after `after` in sha256 order; "" starts at the first."""
    query = select(blobs).where(blobs.c.sha256 > after).order_by(blobs.c.sha256).limit(limit)
    return [blob_record(row) for row in await conn.execute(query)]


async def lock_existing_blob(conn: AsyncConnection, sha256: str) -> BlobRecord | None:
    """Return a blob row and hold its lock until the transaction ends, or None if gone.

    This is the lock that uploads take in `lock_blob`. On SQLite the write
    transaction (BEGIN IMMEDIATE) already excludes every other writer.
    """
    query = select(blobs).where(blobs.c.sha256 == sha256)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else blob_record(row)


async def is_referenced(conn: AsyncConnection, sha256: str) -> bool:
    query = select(exists().where(files.c.sha256 == sha256))
    return bool((await conn.execute(query)).scalar_one())


async def delete_blob(conn: AsyncConnection, sha256: str) -> None:
    await conn.execute(delete(blobs).where(blobs.c.sha256 == sha256))


async def existing_blobs(conn: AsyncConnection, digests: Collection[str]) -> set[str]:
    """Return which of the given digests have a blob row."""
    if not digests:
        return set()
    query = select(blobs.c.sha256).where(blobs.c.sha256.in_(list(digests)))
    return set((await conn.execute(query)).scalars())


async def file_keys_of_blob(conn: AsyncConnection, sha256: str) -> list[uuid.UUID]:
    query = select(files.c.key).where(files.c.sha256 == sha256).order_by(files.c.key)
    return list((await conn.execute(query)).scalars())


def blob_record(row: Row[tuple[object, ...]]) -> BlobRecord:
    mapping = row._mapping
    return BlobRecord(
        sha256=mapping["sha256"],
        blake3=mapping["blake3"],
        size=mapping["size"],
        created_at=as_utc(mapping["created_at"]),
    )
