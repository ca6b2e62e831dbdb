"""Finding files by owner, content, tag, type and time, and content by its hash.

A caller who is not an admin can list only its own files: a listing for another
user is rejected, and a hash lookup finds content only through the caller's
own files, so it cannot reveal what other users stored. An admin may list
any user's files and find content in any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.db import lookup
from blobstore.db.lookup import FileFilter, PagePosition
from blobstore.db.repository import BlobRecord, FileRecord
from blobstore.errors import BlobNotFound
from blobstore.service.access import Identity, visible_owner
from blobstore.storage import BlobReader, StorageBackend

__all__ = ["FileLookup", "FilePage"]


@dataclass(frozen=True)
class FilePage:
    """One page of a listing; `next_position` is None on the last page."""

    items: list[FileRecord]
    next_position: PagePosition | None


class FileLookup:
    """Lists the files a caller may see and finds stored content by its sha256."""

    def __init__(self, engine: AsyncEngine, storage: StorageBackend) -> None:
        self.engine = engine
        self.storage = storage

    async def list_files(
        self, caller: Identity, where: FileFilter, after: PagePosition | None, limit: int
    ) -> FilePage:
        """Return one page of the files that match `where` and `caller` may see, newest first.

        A `where.user_id` other than the caller raises Forbidden unless the
        caller is an admin.
        """
        where = replace(where, user_id=visible_owner(caller, where.user_id))

        # Fetching one row more than the page shows whether another page
        # follows, without a second query and without an empty last page.
        async with self.engine.connect() as conn:
            rows = await lookup.list_files(conn, where, after, limit + 1)

        items = rows[:limit]
        if len(rows) <= limit:
            return FilePage(items=items, next_position=None)
        last = items[-1]
        return FilePage(items=items, next_position=PagePosition(last.created_at, last.key))

    async def find_blob(self, caller: Identity, sha256: str) -> BlobRecord:
        """Return the blob with this sha256 if one of the caller's files contains it.

        For an admin, any file will do. Raises BlobNotFound otherwise, whether
        or not another user stored the content.
        """
        async with self.engine.connect() as conn:
            blob = await lookup.find_referenced_blob(conn, sha256, visible_owner(caller))
        if blob is None:
            raise BlobNotFound(
                "no file you may read has content with sha256 {sha256}", sha256=sha256
            )
        return blob

    async def open_blob(self, blob: BlobRecord) -> BlobReader:
        """Open the bytes of a blob found by `find_blob`."""
        return await self.storage.open(blob.sha256)
