"""RecordCache: expiry, eviction order and forgetting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from blobstore.db.repository import FileRecord
from blobstore.service.cache import RecordCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record() -> FileRecord:
    return FileRecord(
        key=uuid.uuid4(),
        sha256="0" * 64,
        blake3="0" * 64,
        user_id="u",
        filename="f",
        content_type="text/plain",
        size=1,
        created_at=datetime.now(UTC),
        tags=(),
    )


def test_entry_expires_after_ttl() -> None:
    clock = Clock()
    cache = RecordCache(ttl_s=5, clock=clock)
    item = record()
    cache.put(item)

    clock.now = 4.9
    fresh = cache.get(item.key)
    clock.now = 5.0
    stale = cache.get(item.key)

    assert fresh == item
    assert stale is None


def test_least_recently_used_is_evicted() -> None:
    cache = RecordCache(ttl_s=60, max_entries=2)
    first, second, third = record(), record(), record()
    cache.put(first)
    cache.put(second)
    cache.get(first.key)

    cache.put(third)

    assert cache.get(first.key) == first
    assert cache.get(second.key) is None
    assert cache.get(third.key) == third


def test_forget_drops_entry() -> None:
    cache = RecordCache(ttl_s=60)
    item = record()
    cache.put(item)

    cache.forget(item.key)

    assert cache.get(item.key) is None


def test_zero_ttl_caches_nothing() -> None:
    cache = RecordCache(ttl_s=0)
    item = record()

    cache.put(item)

    assert cache.get(item.key) is None
