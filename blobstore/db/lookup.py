"""The queries that find files by owner, content, tag, type and time.

Listings are newest first and paged by keyset on (created_at, key): a page
starts strictly after the last row of the previous one, so rows inserted
while a client pages through never shift the rows it has yet to see.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.db.blobs import blob_record
from blobstore.db.models import blobs, file_tags, files
from blobstore.db.repository import BlobRecord, FileRecord, file_record

__all__ = [
    "FileFilter",
    "PagePosition",
    "find_referenced_blob",
    "find_referenced_blob_query",
    "list_files",
    "list_files_query",
]


@dataclass(frozen=True)
class FileFilter:
    """Conditions a listed file meets, all of them at once.

    `user_id` None means every owner. `tags` must all be on the file.
    `content_type` without parameters also matches stored values that carry
    parameters ("text/plain" matches "text/plain; charset=utf-8"). Both time
    bounds are exclusive.
    """

    user_id: str | None = None
    sha256: str | None = None
    tags: tuple[str, ...] = ()
    content_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class PagePosition:
    """The sort key of the last file on a page; the next page starts after it."""

    created_at: datetime
    key: uuid.UUID


def list_files_query(
    where: FileFilter, after: PagePosition | None, limit: int
) -> Select[tuple[object, ...]]:
    """Build the listing query; separate from `list_files` so tests can EXPLAIN it."""
    conditions = _conditions(where)
    if after is not None:
        # A row comparison, which PostgreSQL and SQLite both match against the
        # (user_id, created_at, key) index; an OR of two comparisons would not.
        conditions.append(tuple_(files.c.created_at, files.c.key) < (after.created_at, after.key))

    return (
        select(files, blobs.c.blake3)
        .join(blobs, blobs.c.sha256 == files.c.sha256)
        .where(*conditions)
        .order_by(files.c.created_at.desc(), files.c.key.desc())
        .limit(limit)
    )


async def list_files(
    conn: AsyncConnection, where: FileFilter, after: PagePosition | None, limit: int
) -> list[FileRecord]:
    """Return up to `limit` files that match, newest first, with their tags."""
    rows = (await conn.execute(list_files_query(where, after, limit))).all()
    if not rows:
        return []

    keys = [row._mapping["key"] for row in rows]
    tags_by_key: defaultdict[uuid.UUID, list[str]] = defaultdict(list)
    tag_rows = await conn.execute(
        select(file_tags.c.file_key, file_tags.c.tag)
        .where(file_tags.c.file_key.in_(keys))
        .order_by(file_tags.c.file_key, file_tags.c.tag)
    )
    for key, tag in tag_rows:
        tags_by_key[key].append(tag)

    return [file_record(row, tuple(tags_by_key[row._mapping["key"]])) for row in rows]


def find_referenced_blob_query(sha256: str, owner: str | None) -> Select[tuple[object, ...]]:
    referenced = exists().where(files.c.sha256 == sha256)
    if owner is not None:
        referenced = referenced.where(files.c.user_id == owner)
    return select(blobs).where(blobs.c.sha256 == sha256, referenced)


async def find_referenced_blob(
    conn: AsyncConnection, sha256: str, owner: str | None
) -> BlobRecord | None:
    """Return the blob with this sha256 if a file of `owner`, or of anyone for None, references it.

    A blob that no file references is waiting for garbage collection and counts as not stored.
    """
    row = (await conn.execute(find_referenced_blob_query(sha256, owner))).first()
    return None if row is None else blob_record(row)


def _conditions(where: FileFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.user_id is not None:
        conditions.append(files.c.user_id == where.user_id)
    if where.sha256 is not None:
        conditions.append(files.c.sha256 == where.sha256)
    for tag in where.tags:
        conditions.append(
            exists().where(file_tags.c.file_key == files.c.key, file_tags.c.tag == tag)
        )
    if where.content_type is not None:
        conditions.append(_content_type_matches(where.content_type))
    if where.created_after is not None:
        conditions.append(files.c.created_at > where.created_after)
    if where.created_before is not None:
        conditions.append(files.c.created_at < where.created_before)
    return conditions


def _content_type_matches(content_type: str) -> ColumnElement[bool]:
    if ";" in content_type:
        return files.c.content_type == content_type

    # '%' and '_' are legal in media type tokens, so they are escaped for LIKE.
    escaped = content_type.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        files.c.content_type == content_type,
        files.c.content_type.like(escaped + ";%", escape="\\"),
    )
