"""A small in-process cache of file records, for the read path.

A key's content never changes, so a cached record is wrong only after the
file is deleted or its tags change. This process drops a key from its cache
as soon as it makes such a change itself. Other processes keep serving their
copy for at most the TTL, while the blob stays on disk until garbage collection.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from blobstore.db.repository import FileRecord

__all__ = ["RecordCache"]


class RecordCache:
    """A least-recently-used map from file key to record, each entry valid for `ttl_s`."""

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[uuid.UUID, tuple[float, FileRecord]] = OrderedDict()

    def get(self, key: uuid.UUID) -> FileRecord | None:
        entry = self._entries.get(key)
        if entry is None:
            return None

        expires, record = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return record

    def put(self, record: FileRecord) -> None:
        if self.ttl_s <= 0:
            return
        self._entries[record.key] = (self._clock() + self.ttl_s, record)
        self._entries.move_to_end(record.key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: uuid.UUID) -> None:
        self._entries.pop(key, None)
