"""Uploads, reads and deletes: the steps and the order they happen in.

An upload streams into storage first, with no database connection held, and
only then opens one short transaction that records the blob, the file, its
tags and the outbox message together.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from blobstore.clock import utc_now
from blobstore.config import ReadAccess, Settings
from blobstore.db import repository
from blobstore.db.repository import BlobRecord, FileRecord
from blobstore.errors import ClientError, DigestMismatch, FileNotFound, UploadTooLarge
from blobstore.events.outbox import FILE_DELETED, FILE_STORED, file_event
from blobstore.metrics import DEDUPLICATED_BYTES, UPLOAD_BYTES, UPLOAD_SIZE, UPLOADS
from blobstore.service.access import Identity, require_owner, require_readable
from blobstore.service.cache import RecordCache
from blobstore.service.naming import clean_content_type, clean_filename
from blobstore.service.tags import normalize_tags
from blobstore.storage import BlobReader, StagedBlob, StorageBackend

__all__ = ["ExtraRecord", "FileService", "StoredFile", "UploadBody", "lock_file_for_change"]

logger = logging.getLogger(__name__)

# A step run inside an upload's transaction, after the file row is written.
ExtraRecord = Callable[[AsyncConnection, FileRecord], Awaitable[None]]


class UploadBody(Protocol):
    """An upload as the API hands it over.

    `filename`, `content_type`, `tags` and `expected_sha256` are complete only
    once `chunks()` is exhausted, because a multipart form may send its fields
    after the file. `expected_sha256` is the lowercase hex digest the client
    says the file has, or None when it sent none.
    """

    filename: str | None
    content_type: str | None
    tags: list[str]
    expected_sha256: str | None

    def chunks(self) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class StoredFile:
    """The outcome of an upload: the file's record and whether its bytes were already stored."""

    record: FileRecord
    url: str
    deduplicated: bool


class FileService:
    """Stores, finds and deletes files; the API layer's only way to storage and the index."""

    def __init__(
        self,
        settings: Settings,
        storage: StorageBackend,
        engine: AsyncEngine,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.engine = engine
        self.records = RecordCache(settings.metadata_cache_ttl_s)
        self.clock = clock

    def check_declared_size(self, size: int) -> None:
        """Reject an upload up front when its declared size is over the limit."""
        if size > self.settings.max_upload_bytes:
            raise UploadTooLarge(
                "upload exceeds MAX_UPLOAD_MB={limit_mb} (declared {size} bytes)",
                limit_mb=self._limit_mb(),
                size=size,
            )

    async def upload(
        self,
        body: UploadBody,
        owner: str,
        url_base: str,
        *,
        extra_record: ExtraRecord | None = None,
    ) -> StoredFile:
        """Stream an upload into storage, then record it in one transaction.

        The outcome is one of three: stored (new content), deduplicated (the
        content was already on disk, nothing new written) or rejected with a
        ClientError, in which case nothing is left behind. A client-supplied
        sha256 is checked after staging and before placing, so a mismatch never
        reaches the blob directory. `extra_record` writes more rows in the same
        transaction, so they commit with the file or not at all.
        """
        try:
            return await self._upload(body, owner, url_base, extra_record)
        except ClientError:
            UPLOADS.labels("rejected").inc()
            raise

    async def _upload(
        self, body: UploadBody, owner: str, url_base: str, extra_record: ExtraRecord | None
    ) -> StoredFile:
        staged = await self._stage(body.chunks())

        try:
            self._check_digest(body.expected_sha256, staged)
            tags = normalize_tags(body.tags)
            filename = clean_filename(body.filename)
            content_type = clean_content_type(body.content_type)

            deduplicated = await self.storage.place(staged)
            now = self.clock()
            record = FileRecord(
                key=uuid.uuid4(),
                sha256=staged.sha256,
                blake3=staged.blake3,
                user_id=owner,
                filename=filename,
                content_type=content_type,
                size=staged.size,
                created_at=now,
                tags=tuple(tags),
            )
            url = url_base + str(record.key)
            await self._record_upload(staged, record, url, extra_record)
        finally:
            await self.storage.discard(staged)

        UPLOADS.labels("deduplicated" if deduplicated else "stored").inc()
        UPLOAD_BYTES.inc(record.size)
        UPLOAD_SIZE.observe(record.size)
        if deduplicated:
            DEDUPLICATED_BYTES.inc(record.size)
        logger.info(
            "stored file %s sha256=%s size=%d deduplicated=%s",
            record.key,
            record.sha256,
            record.size,
            deduplicated,
        )
        return StoredFile(record=record, url=url, deduplicated=deduplicated)

    @staticmethod
    def _check_digest(expected: str | None, staged: StagedBlob) -> None:
        if expected is None:
            return
        # compare_digest takes the same time wherever the strings differ.
        if not hmac.compare_digest(expected.encode(), staged.sha256.encode()):
            raise DigestMismatch(
                "sha256 mismatch: expected {expected}, computed {computed}",
                expected=expected,
                computed=staged.sha256,
            )

    async def _stage(self, chunks: AsyncIterator[bytes]) -> StagedBlob:
        limit = self.settings.max_upload_bytes
        sink = self.storage.create_sink()
        received = 0
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > limit:
                    raise UploadTooLarge(
                        "upload exceeds MAX_UPLOAD_MB={limit_mb} "
                        "(received more than {limit} bytes)",
                        limit_mb=self._limit_mb(),
                        limit=limit,
                    )
                await sink.write(chunk)
            return await sink.finish()
        except BaseException:
            # Covers client disconnects and cancellation too: no temp file survives.
            await sink.abort()
            raise

    async def _record_upload(
        self,
        staged: StagedBlob,
        record: FileRecord,
        url: str,
        extra_record: ExtraRecord | None,
    ) -> None:
        blob = BlobRecord(
            sha256=staged.sha256,
            blake3=staged.blake3,
            size=staged.size,
            created_at=record.created_at,
        )
        message = file_event(
            FILE_STORED,
            topic=self.settings.kafka_topic,
            key=record.key,
            user_id=record.user_id,
            tags=list(record.tags),
            sha256=record.sha256,
            created_at=record.created_at,
            now=record.created_at,
            extra={
                "size": record.size,
                "content_type": record.content_type,
                "filename": record.filename,
                "url": url,
            },
        )

        async with self.engine.begin() as conn:
            await repository.lock_blob(conn, blob)
            # Garbage collection removes a blob file only while holding this row
            # lock, so a file that is there now stays until the commit. If it
            # went between our placement and the lock, put it back.
            if not await self.storage.exists(staged.sha256):
                logger.warning("blob %s vanished before commit; placing it again", staged.sha256)
                await self.storage.place(staged)
            await repository.insert_file(conn, record, message)
            if extra_record is not None:
                await extra_record(conn, record)

    async def get(self, key: uuid.UUID, caller: Identity | None = None) -> FileRecord:
        """Return a file's metadata, raising FileNotFound for an unknown key.

        Under FILE_READ_ACCESS=owner a file that `caller` may not read raises
        FileNotFound too; None stands for a caller that was not identified.
        Records are served from a short-lived cache (METADATA_CACHE_TTL_S).
        """
        record = self.records.get(key)
        if record is None:
            async with self.engine.connect() as conn:
                record = await repository.get_file(conn, key)
            if record is None:
                raise FileNotFound("no file with key {key}", key=str(key))
            self.records.put(record)
        require_readable(caller, record, self.settings.file_read_access)
        return record

    async def open(self, record: FileRecord) -> BlobReader:
        """Open the bytes of a file found by `get`."""
        return await self.storage.open(record.sha256)

    async def delete(self, key: uuid.UUID, caller: Identity) -> FileRecord:
        """Delete a file and announce it; its blob stays until garbage collection.

        Raises FileNotFound when `caller` may not read the file and Forbidden
        when it may read but neither owns the file nor is an admin.
        """
        async with self.engine.begin() as conn:
            record = await lock_file_for_change(conn, key, caller, self.settings.file_read_access)

            message = file_event(
                FILE_DELETED,
                topic=self.settings.kafka_deleted_topic,
                key=record.key,
                user_id=record.user_id,
                tags=list(record.tags),
                sha256=record.sha256,
                created_at=record.created_at,
                now=self.clock(),
            )
            await repository.delete_file(conn, key, message)
        self.records.forget(key)

        logger.info("deleted file %s", key)
        return record

    def _limit_mb(self) -> str:
        return f"{self.settings.max_upload_mb:g}"


async def lock_file_for_change(
    conn: AsyncConnection, key: uuid.UUID, caller: Identity, access: ReadAccess
) -> FileRecord:
    """Lock the row of file `key` for a change by `caller` and return the file.

    Raises FileNotFound for an unknown key and for a file that `caller` may
    not read under `access`, and Forbidden when `caller` may read the file but
    neither owns it nor is an admin.
    """
    record = await repository.get_file(conn, key, for_update=True)
    if record is None:
        raise FileNotFound("no file with key {key}", key=str(key))
    require_readable(caller, record, access)
    require_owner(caller, record)
    return record
