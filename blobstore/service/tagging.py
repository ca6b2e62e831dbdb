"""Changing the tags of a stored file: replace the set, or add and remove some.

Tags follow the same rules as at upload (see `normalize_tags`). A change that
leaves the set as it was writes nothing. A real change rewrites the tag rows
and writes a `file_tags_changed` outbox message in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db.repository import FileRecord
from blobstore.db.tags import change_file_tags
from blobstore.errors import InvalidRequest
from blobstore.events.outbox import FILE_TAGS_CHANGED, file_event
from blobstore.service.access import Identity
from blobstore.service.cache import RecordCache
from blobstore.service.files import lock_file_for_change
from blobstore.service.tags import MAX_TAGS_PER_FILE, normalize_tags

__all__ = ["TagEditor"]

logger = logging.getLogger(__name__)


class TagEditor:
    """Replaces or edits the tags of a file on behalf of its owner or an admin.

    A caller who may not read the file under FILE_READ_ACCESS gets
    FileNotFound, as for an unknown key. A caller who may read it but neither
    owns it nor is an admin gets Forbidden.
    """

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        records: RecordCache,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Edit through `engine` and drop each edited file from `records`, the read cache."""
        self.settings = settings
        self.engine = engine
        self.records = records
        self.clock = clock

    async def replace(
        self, key: uuid.UUID, caller: Identity, raw_tags: Sequence[str]
    ) -> FileRecord:
        """Make `raw_tags` the file's whole tag set and return the updated file."""
        tags = normalize_tags(raw_tags)
        return await self._change(key, caller, lambda _current: tags)

    async def edit(
        self, key: uuid.UUID, caller: Identity, *, add: Sequence[str], remove: Sequence[str]
    ) -> FileRecord:
        """Add and remove tags and return the updated file.

        Removing a tag the file does not carry is not an error. A tag in both
        lists is, because the request could mean either.
        """
        to_add = normalize_tags(add)
        to_remove = normalize_tags(remove)
        both = sorted(set(to_add) & set(to_remove))
        if both:
            raise InvalidRequest(
                "tags {tags} are both added and removed; send each in one list",
                tags=", ".join(both),
            )

        def edited(current: tuple[str, ...]) -> list[str]:
            kept = [tag for tag in current if tag not in to_remove]
            return kept + [tag for tag in to_add if tag not in kept]

        return await self._change(key, caller, edited)

    async def _change(
        self,
        key: uuid.UUID,
        caller: Identity,
        new_tags: Callable[[tuple[str, ...]], list[str]],
    ) -> FileRecord:
        async with self.engine.begin() as conn:
            # The row lock orders concurrent edits of one file, so each one
            # starts from the set the previous one committed.
            record = await lock_file_for_change(conn, key, caller, self.settings.file_read_access)

            tags = new_tags(record.tags)
            if len(tags) > MAX_TAGS_PER_FILE:
                raise InvalidRequest(
                    "too many tags: file {key} would carry {count}, at most {max_count} per file",
                    key=str(key),
                    count=len(tags),
                    max_count=MAX_TAGS_PER_FILE,
                )
            added = sorted(set(tags) - set(record.tags))
            removed = sorted(set(record.tags) - set(tags))
            if not added and not removed:
                return record

            updated = replace(record, tags=tuple(sorted(tags)))
            message = file_event(
                FILE_TAGS_CHANGED,
                topic=self.settings.kafka_tags_topic,
                key=key,
                user_id=record.user_id,
                tags=list(updated.tags),
                sha256=record.sha256,
                created_at=record.created_at,
                now=self.clock(),
                extra={"added": added, "removed": removed},
            )
            await change_file_tags(conn, key, added=added, removed=removed, message=message)
        self.records.forget(key)

        logger.info("changed tags of file %s: added %s, removed %s", key, added, removed)
        return updated
