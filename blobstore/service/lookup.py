"""Finding files by owner, content, tag, type and time, and content by its hash.

Until per-user permissions exist, a caller sees only its own files: a listing
for another user is rejected, and a hash lookup finds content only through
the caller's own files, so it cannot reveal what other users stored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.db import lookup
from blobstore.db.lookup import FileFilter, PagePosition
from blobstore.db.repository import BlobRecord, FileRecord
from blobstore.errors import BlobNotFound, Forbidden
from blobstore.storage import BlobReader, StorageBackend

__all__ = ["FileLookup", "FilePage"]


@dataclass(frozen=True)
class FilePage:
    """One page of a listing; `next_position` is None on the last page."""

    items: list[FileRecord]
    next_position: PagePosition | None


class FileLookup:
    """Lists a caller's files and finds stored content by its sha256."""

    def __init__(self, engine: AsyncEngine, storage: StorageBackend) -> None:
        self.engine = engine
        self.storage = storage

    async def list_files(
        self, caller: str, where: FileFilter, after: PagePosition | None, limit: int
    ) -> FilePage:
        """Return one page of the caller's files that match `where`, newest first.

        A `where.user_id` other than the caller raises Forbidden.
        """
        if where.user_id is not None and where.user_id != caller:
            raise Forbidden(f"cannot list the files of user {where.user_id!r}: only your own")
        where = replace(where, user_id=caller)

        # Fetching one row more than the page shows whether another page
        # follows, without a second query and without an empty last page.
        async with self.engine.connect() as conn:
            rows = await lookup.list_files(conn, where, after, limit + 1)

        items = rows[:limit]
        if len(rows) <= limit:
            return FilePage(items=items, next_position=None)
        last = items[-1]
        return FilePage(items=items, next_position=PagePosition(last.created_at, last.key))

    async def find_blob(self, caller: str, sha256: str) -> BlobRecord:
        """Return the blob with this sha256 if one of the caller's files contains it.

        Raises BlobNotFound otherwise, whether or not another user stored it.
        """
        async with self.engine.connect() as conn:
            blob = await lookup.find_owned_blob(conn, caller, sha256)
        if blob is None:
            raise BlobNotFound(f"none of your files has sha256 {sha256}")
        return blob

    async def open_blob(self, blob: BlobRecord) -> BlobReader:
        """Open the bytes of a blob found by `find_blob`."""
        return await self.storage.open(blob.sha256)
