"""The ledger of files that `blobstore import` ingested, so a re-run skips them."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.db.models import imported_files
from blobstore.db.repository import FileRecord

__all__ = ["record_import", "was_imported"]


async def was_imported(conn: AsyncConnection, user_id: str, source_path: str, sha256: str) -> bool:
    query = select(imported_files.c.file_key).where(
        imported_files.c.user_id == user_id,
        imported_files.c.source_path == source_path,
        imported_files.c.sha256 == sha256,
    )
    return (await conn.execute(query)).first() is not None


async def record_import(
    conn: AsyncConnection, user_id: str, source_path: str, record: FileRecord
) -> None:
    """Record that `source_path` became `record`, in the upload's transaction."""
    await conn.execute(
        insert(imported_files).values(
            user_id=user_id,
            source_path=source_path,
            sha256=record.sha256,
            file_key=record.key,
            imported_at=record.created_at,
        )
    )
