"""Integrity check: prove that every blob on disk is the blob that was uploaded.

For every blob row the file must be present, of the recorded size and with
the recorded BLAKE3 digest. With `full`, the sha256 that names it is also
recomputed. Then the blob tree is walked for files that no row describes.

With `repair`, blobs whose bytes are wrong move to <base>/quarantine/. The
service then stops serving them, because reads fail with a storage error,
and a new upload of the same content puts the right bytes back.

Files without rows are only reported: `blobstore gc` removes them.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db import blobs as blob_rows
from blobstore.db.repository import BlobRecord
from blobstore.maintenance.progress import Progress
from blobstore.maintenance.runtime import Store, format_bytes, run_with_store
from blobstore.storage.inventory import (
    DiskFile,
    file_digests,
    quarantine_blob,
    scan_shard,
    shard_dirs,
    stat_file,
)
from blobstore.storage.local import blob_path

__all__ = ["Finding", "FsckResult", "IntegrityChecker", "command"]

PAGE_SIZE = 500

MISSING = "missing blob file"
WRONG_SIZE = "wrong size"
BLAKE3_MISMATCH = "blake3 mismatch"
SHA256_MISMATCH = "sha256 mismatch"
NO_ROW = "blob file without row"
STRAY = "stray file"
PROBLEMS = (MISSING, WRONG_SIZE, BLAKE3_MISMATCH, SHA256_MISMATCH, NO_ROW, STRAY)
CORRUPT = {WRONG_SIZE, BLAKE3_MISMATCH, SHA256_MISMATCH}


@dataclass(frozen=True)
class Finding:
    """One problem: what is wrong, where, and which file keys it breaks."""

    problem: str
    path: Path
    detail: str
    sha256: str | None = None
    file_keys: tuple[uuid.UUID, ...] = ()
    quarantined_to: Path | None = None

    def describe(self) -> str:
        line = f"{self.problem}: {self.path}: {self.detail}"
        if self.quarantined_to is not None:
            line += f"; moved to {self.quarantined_to}"
        if self.file_keys:
            line += f"; affects files {', '.join(str(key) for key in self.file_keys)}"
        return line


@dataclass
class FsckResult:
    blobs_checked: int = 0
    bytes_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def affected_keys(self) -> set[uuid.UUID]:
        return {key for finding in self.findings for key in finding.file_keys}

    def summary(self) -> str:
        checked = f"blobs checked: {self.blobs_checked} ({format_bytes(self.bytes_checked)})"
        if self.clean:
            return f"fsck: {checked}; clean"

        counts = Counter(finding.problem for finding in self.findings)
        problems = ", ".join(f"{name}: {counts[name]}" for name in PROBLEMS if counts[name])
        quarantined = sum(1 for finding in self.findings if finding.quarantined_to)
        return (
            f"fsck: {checked}; problems: {len(self.findings)} ({problems}); "
            f"file keys affected: {len(self.affected_keys)}; blobs quarantined: {quarantined}"
        )


class IntegrityChecker:
    """Checks every blob row against its file, then every blob file against the rows."""

    def __init__(
        self,
        store: Store,
        *,
        full: bool = False,
        repair: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.base = store.settings.file_base_path
        self.full = full
        self.repair = repair
        self.clock = clock

    async def check(self) -> FsckResult:
        result = FsckResult()
        await self.check_rows(result)
        await self.check_files(result)
        return result

    async def check_rows(self, result: FsckResult) -> None:
        async with self.store.engine.connect() as conn:
            total = await blob_rows.count_blobs(conn)

        with Progress("blobs", total) as progress:
            after = ""
            while True:
                async with self.store.engine.connect() as conn:
                    page = await blob_rows.blob_page(conn, after, PAGE_SIZE)
                if not page:
                    break
                for blob in page:
                    finding = await self._check_blob(blob, result)
                    if finding is not None:
                        result.findings.append(finding)
                        progress.echo(finding.describe())
                    progress.advance()
                after = page[-1].sha256

    async def check_files(self, result: FsckResult) -> None:
        shards = await asyncio.to_thread(shard_dirs, self.base)

        with Progress("blob files", len(shards)) as progress:
            for shard in shards:
                disk_blobs, strays = await asyncio.to_thread(scan_shard, shard)
                for stray in strays:
                    self._add(result, progress, Finding(STRAY, stray.path, "not a blob path"))

                digests = [blob.sha256 for blob in disk_blobs if blob.sha256 is not None]
                known: set[str] = set()
                for start in range(0, len(digests), PAGE_SIZE):
                    async with self.store.engine.connect() as conn:
                        batch = digests[start : start + PAGE_SIZE]
                        known |= await blob_rows.existing_blobs(conn, batch)
                for blob in disk_blobs:
                    if blob.sha256 not in known:
                        detail = f"{blob.size} bytes; 'blobstore gc' removes it"
                        self._add(result, progress, Finding(NO_ROW, blob.path, detail, blob.sha256))
                progress.advance()

    async def _check_blob(self, blob: BlobRecord, result: FsckResult) -> Finding | None:
        path = blob_path(self.base, blob.sha256)
        disk_file = await asyncio.to_thread(stat_file, path, blob.sha256)
        result.blobs_checked += 1

        if disk_file is None:
            return await self._missing(blob, path)

        problem, detail = await self._verify(blob, disk_file)
        result.bytes_checked += disk_file.size
        if problem is None:
            return None

        moved_to = await self._quarantine(blob, disk_file) if self.repair else None
        async with self.store.engine.connect() as conn:
            keys = await blob_rows.file_keys_of_blob(conn, blob.sha256)
        return Finding(problem, path, detail, blob.sha256, tuple(keys), moved_to)

    async def _missing(self, blob: BlobRecord, path: Path) -> Finding | None:
        async with self.store.engine.connect() as conn:
            # GC may have removed row and file since this page was read.
            if not await blob_rows.existing_blobs(conn, [blob.sha256]):
                return None
            keys = await blob_rows.file_keys_of_blob(conn, blob.sha256)
        return Finding(MISSING, path, "the row has no file", blob.sha256, tuple(keys))

    async def _verify(self, blob: BlobRecord, disk_file: DiskFile) -> tuple[str | None, str]:
        if disk_file.size != blob.size:
            return WRONG_SIZE, f"expected {blob.size} bytes, found {disk_file.size}"

        digests = await asyncio.to_thread(
            partial(file_digests, disk_file.path, sha256=self.full, blake3=True)
        )
        if digests["blake3"] != blob.blake3:
            return BLAKE3_MISMATCH, f"expected {blob.blake3}, computed {digests['blake3']}"
        if self.full and digests["sha256"] != blob.sha256:
            return SHA256_MISMATCH, f"expected {blob.sha256}, computed {digests['sha256']}"
        return None, ""

    async def _quarantine(self, blob: BlobRecord, checked: DiskFile) -> Path | None:
        async with self.store.engine.begin() as conn:
            # Under the row lock no upload can be putting fresh bytes in place.
            # A file that changed since it was hashed was replaced by an upload
            # (which rewrites a blob of the wrong size), so it is left alone.
            await blob_rows.lock_existing_blob(conn, blob.sha256)
            current = await asyncio.to_thread(stat_file, checked.path, blob.sha256)
            if current != checked:
                return None
            return await asyncio.to_thread(quarantine_blob, self.base, blob.sha256, self.clock())

    def _add(self, result: FsckResult, progress: Progress, finding: Finding) -> None:
        result.findings.append(finding)
        progress.echo(finding.describe())


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `blobstore fsck`: exit status 0 when clean, 1 when anything is wrong."""
    return run_with_store(settings, lambda store: _fsck(store, args))


async def _fsck(store: Store, args: argparse.Namespace) -> int:
    result = await IntegrityChecker(store, full=args.full, repair=args.repair).check()
    print(result.summary())
    return 0 if result.clean else 1
