"""Garbage collection: remove stored bytes that no file needs any more.

Three kinds of garbage, each removed only when older than the grace period:

- unreferenced blobs: a blob row and its file that no file row references,
  left behind by deletes (age: the row's created_at);
- orphan blob files: a file at a blob path with no blob row, left by a crash
  between placing the file and committing the upload (age: the file's mtime);
- stale temp files in <base>/tmp, left by a crash during an upload (mtime).

A blob is removed only inside a transaction that holds its row lock, the lock
that every upload takes in `lock_blob` before it checks that the blob file is
on disk. So either the upload commits first, and GC then finds its file row
and keeps the blob, or GC commits first, and the upload puts the file back
from its temp copy. An orphan file has no row to lock, so GC inserts a placeholder
row and locks that: an upload of the same content waits for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db import blobs as blob_rows
from blobstore.db.repository import BlobRecord, lock_blob
from blobstore.maintenance.progress import Progress
from blobstore.maintenance.runtime import Store, format_bytes, run_with_store
from blobstore.storage.inventory import scan_shard, shard_dirs, stat_file, temp_files
from blobstore.storage.local import blob_path

__all__ = ["GarbageCollector", "GcResult", "Removal", "command"]

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
UNREFERENCED = "unreferenced blob"
ORPHAN = "orphan blob file"
TEMP = "stale temp file"


@dataclass(frozen=True)
class Removal:
    """One thing that GC removed, or would remove in a dry run."""

    kind: str
    path: Path
    size: int


@dataclass
class GcResult:
    dry_run: bool
    removals: list[Removal] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(removal.size for removal in self.removals)

    def count(self, kind: str) -> int:
        return sum(1 for removal in self.removals if removal.kind == kind)

    def summary(self) -> str:
        counts = Counter(removal.kind for removal in self.removals)
        parts = ", ".join(f"{kind}s: {counts[kind]}" for kind in (UNREFERENCED, ORPHAN, TEMP))
        freed = format_bytes(self.bytes_freed)
        if self.dry_run:
            return f"gc (dry run): would remove {parts}; would free {freed}"
        return f"gc: removed {parts}; freed {freed}"


class GarbageCollector:
    """Finds and removes garbage older than `grace`; with `dry_run`, only lists it."""

    def __init__(
        self,
        store: Store,
        *,
        grace: timedelta,
        dry_run: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.base = store.settings.file_base_path
        self.grace = grace
        self.dry_run = dry_run
        self.clock = clock

    async def collect(self) -> GcResult:
        """Remove all three kinds of garbage and return what went."""
        result = GcResult(self.dry_run)
        await self.collect_unreferenced_blobs(result)
        await self.collect_orphan_files(result)
        await self.collect_temp_files(result)
        return result

    async def collect_unreferenced_blobs(self, result: GcResult) -> None:
        cutoff = self.clock() - self.grace
        async with self.store.engine.connect() as conn:
            total = await blob_rows.count_unreferenced(conn, cutoff)

        with Progress("unreferenced blobs", total) as progress:
            after = ""
            while True:
                async with self.store.engine.connect() as conn:
                    page = await blob_rows.unreferenced_page(conn, cutoff, after, PAGE_SIZE)
                if not page:
                    break
                for blob in page:
                    removal = await self._remove_unreferenced(blob, cutoff)
                    self._record(result, removal, progress)
                    progress.advance()
                after = page[-1].sha256

    async def collect_orphan_files(self, result: GcResult) -> None:
        cutoff = self.clock() - self.grace
        shards = await asyncio.to_thread(shard_dirs, self.base)

        with Progress("blob files", len(shards)) as progress:
            for shard in shards:
                disk_blobs, _ = await asyncio.to_thread(scan_shard, shard)
                old = {blob.sha256: blob.path for blob in disk_blobs if blob.modified_at < cutoff}
                digests = sorted(digest for digest in old if digest is not None)
                for start in range(0, len(digests), PAGE_SIZE):
                    batch = digests[start : start + PAGE_SIZE]
                    async with self.store.engine.connect() as conn:
                        known = await blob_rows.existing_blobs(conn, batch)
                    for digest in batch:
                        if digest not in known:
                            removal = await self._remove_orphan(digest, old[digest], cutoff)
                            self._record(result, removal, progress)
                progress.advance()

    async def collect_temp_files(self, result: GcResult) -> None:
        """Remove temp files not written to within the grace period.

        NOTE: an upload whose client pauses for longer than the grace period
        loses its temp file and fails, so keep the grace well above the
        slowest expected upload.
        """
        cutoff = self.clock() - self.grace
        found = await asyncio.to_thread(temp_files, self.base)

        with Progress("temp files", len(found)) as progress:
            for temp in found:
                if temp.modified_at < cutoff:
                    if not self.dry_run:
                        await asyncio.to_thread(temp.path.unlink, missing_ok=True)
                    self._record(result, Removal(TEMP, temp.path, temp.size), progress)
                progress.advance()

    async def _remove_unreferenced(self, blob: BlobRecord, cutoff: datetime) -> Removal | None:
        path = blob_path(self.base, blob.sha256)
        if self.dry_run:
            return Removal(UNREFERENCED, path, _size_on_disk(path))

        async with self.store.engine.begin() as conn:
            # Rechecked under the lock: an upload may have referenced the blob,
            # or replaced a collected row with a new one, since the page was read.
            locked = await blob_rows.lock_existing_blob(conn, blob.sha256)
            if locked is None or locked.created_at >= cutoff:
                return None
            if await blob_rows.is_referenced(conn, blob.sha256):
                return None

            size = _size_on_disk(path)
            await self.store.storage.delete(blob.sha256)
            await blob_rows.delete_blob(conn, blob.sha256)
        return Removal(UNREFERENCED, path, size)

    async def _remove_orphan(self, sha256: str, path: Path, cutoff: datetime) -> Removal | None:
        if self.dry_run:
            return Removal(ORPHAN, path, _size_on_disk(path))

        removal = None
        placeholder = BlobRecord(sha256, blake3="", size=0, created_at=self.clock())
        async with self.store.engine.begin() as conn:
            # lock_blob inserts the row only if none exists, and either way
            # holds its lock. A row that exists belongs to an upload, which
            # has committed by the time the lock is ours, so the file stays.
            if not await lock_blob(conn, placeholder):
                return None

            current = await asyncio.to_thread(stat_file, path)
            if current is not None and current.modified_at < cutoff:
                await self.store.storage.delete(sha256)
                removal = Removal(ORPHAN, path, current.size)
            # The placeholder goes too; no other transaction ever saw it.
            await blob_rows.delete_blob(conn, sha256)
        return removal

    def _record(self, result: GcResult, removal: Removal | None, progress: Progress) -> None:
        if removal is None:
            return
        result.removals.append(removal)
        verb = "would remove" if self.dry_run else "removed"
        progress.echo(f"{verb} {removal.kind} {removal.path} ({format_bytes(removal.size)})")


def _size_on_disk(path: Path) -> int:
    disk_file = stat_file(path)
    return 0 if disk_file is None else disk_file.size


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `blobstore gc` with the parsed arguments."""
    return run_with_store(settings, lambda store: _gc(store, args))


async def _gc(store: Store, args: argparse.Namespace) -> int:
    collector = GarbageCollector(store, grace=args.grace, dry_run=args.dry_run)
    result = await collector.collect()
    print(result.summary())
    logger.info("%s", result.summary())
    return 0
