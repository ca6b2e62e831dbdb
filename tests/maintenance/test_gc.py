"""Garbage collection: what it removes, what it keeps, and its race with uploads."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.cli import main
from blobstore.config import Settings
from blobstore.db.models import blobs
from blobstore.maintenance.gc import ORPHAN, TEMP, UNREFERENCED, GarbageCollector, GcResult
from blobstore.maintenance.runtime import Store
from blobstore.service import FileService, StoredFile
from blobstore.storage.local import blob_path
from tests.helpers import blob_files, sha256, temp_files
from tests.maintenance.conftest import ADMIN, BytesBody, age_blob, age_file, store_bytes

HOUR = timedelta(hours=1)


async def blob_rows(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(blobs.c.sha256))).scalars())


def orphan_file(base: Path, data: bytes, age: timedelta) -> Path:
    path = blob_path(base, sha256(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    age_file(path, age)
    return path


def temp_file(base: Path, name: str, size: int, age: timedelta) -> Path:
    path = base / "tmp" / name
    path.write_bytes(b"t" * size)
    age_file(path, age)
    return path


async def unreferenced_blob(service: FileService, engine: AsyncEngine, data: bytes) -> str:
    stored = await store_bytes(service, data)
    await service.delete(stored.record.key, ADMIN)
    await age_blob(engine, stored.record.sha256, 2 * HOUR)
    return stored.record.sha256


async def test_gc_removes_unreferenced_blob_older_than_grace(
    store: Store, service: FileService, engine: AsyncEngine, settings: Settings
) -> None:
    digest = await unreferenced_blob(service, engine, b"no longer needed")

    result = await GarbageCollector(store, grace=HOUR).collect()

    assert [(r.kind, r.size) for r in result.removals] == [(UNREFERENCED, 16)]
    assert result.bytes_freed == 16
    assert digest not in await blob_rows(engine)
    assert blob_files(settings.file_base_path) == []


async def test_gc_keeps_unreferenced_blob_within_grace(
    store: Store, service: FileService, engine: AsyncEngine, settings: Settings
) -> None:
    stored = await store_bytes(service, b"deleted a minute ago")
    await service.delete(stored.record.key, ADMIN)

    result = await GarbageCollector(store, grace=HOUR).collect()

    assert result.removals == []
    assert stored.record.sha256 in await blob_rows(engine)
    assert len(blob_files(settings.file_base_path)) == 1


async def test_gc_keeps_referenced_blob(
    store: Store, service: FileService, engine: AsyncEngine
) -> None:
    first = await store_bytes(service, b"still used")
    second = await store_bytes(service, b"still used")
    await service.delete(first.record.key, ADMIN)
    await age_blob(engine, second.record.sha256, 2 * HOUR)

    result = await GarbageCollector(store, grace=timedelta(0)).collect()
    reader = await service.open(await service.get(second.record.key))

    assert result.removals == []
    assert b"".join([chunk async for chunk in reader.chunks()]) == b"still used"


async def test_gc_orphan_files_respect_grace(
    store: Store, engine: AsyncEngine, settings: Settings
) -> None:
    old = orphan_file(settings.file_base_path, b"left by a crash", 2 * HOUR)
    young = orphan_file(settings.file_base_path, b"upload in flight", timedelta(minutes=5))

    result = await GarbageCollector(store, grace=HOUR).collect()

    assert [(r.kind, r.path, r.size) for r in result.removals] == [(ORPHAN, old, 15)]
    assert not old.exists()
    assert young.exists()
    assert await blob_rows(engine) == set()


async def test_gc_removes_only_stale_temp_files(store: Store, settings: Settings) -> None:
    stale = temp_file(settings.file_base_path, "stale.part", 10, 2 * HOUR)
    swap = temp_file(settings.file_base_path, "stale.swap", 3, 2 * HOUR)
    fresh = temp_file(settings.file_base_path, "fresh.part", 7, timedelta(seconds=1))

    result = await GarbageCollector(store, grace=HOUR).collect()

    assert sorted((r.kind, r.path.name, r.size) for r in result.removals) == [
        (TEMP, "stale.part", 10),
        (TEMP, "stale.swap", 3),
    ]
    assert temp_files(settings.file_base_path) == [fresh]
    assert not stale.exists()
    assert not swap.exists()


async def test_gc_dry_run_lists_everything_and_removes_nothing(
    store: Store, service: FileService, engine: AsyncEngine, settings: Settings
) -> None:
    digest = await unreferenced_blob(service, engine, b"unreferenced")
    orphan = orphan_file(settings.file_base_path, b"orphan", 2 * HOUR)
    temp = temp_file(settings.file_base_path, "old.part", 4, 2 * HOUR)

    result = await GarbageCollector(store, grace=HOUR, dry_run=True).collect()

    assert sorted(r.kind for r in result.removals) == sorted([UNREFERENCED, ORPHAN, TEMP])
    assert result.bytes_freed == len(b"unreferenced") + len(b"orphan") + 4
    assert digest in await blob_rows(engine)
    assert blob_path(settings.file_base_path, digest).exists()
    assert orphan.exists()
    assert temp.exists()
    assert "would free 22 B" in result.summary()


def test_gc_command_prints_removals_and_bytes_freed(
    store: Store,
    service: FileService,
    engine: AsyncEngine,
    settings: Settings,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    orphan = orphan_file(settings.file_base_path, b"x" * 2048, 2 * HOUR)
    temp = temp_file(settings.file_base_path, "old.part", 5, 2 * HOUR)

    status = main(["gc", "--grace", "30m"])
    output = capsys.readouterr().out

    assert status == 0
    assert f"removed orphan blob file {orphan} (2.0 KiB (2048 bytes))" in output
    assert f"removed stale temp file {temp} (5 B)" in output
    assert "orphan blob files: 1, stale temp files: 1; freed 2.0 KiB (2053 bytes)" in output
    assert not orphan.exists()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("grace", ["1x", "-1h", "h", "", "1.5h"])
def test_gc_command_rejects_bad_grace(
    cli_env: None, grace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["gc", f"--grace={grace}"])

    assert exit_info.value.code == 2
    assert "invalid duration" in capsys.readouterr().err


RACE_ROUNDS = 30
RACE_UPLOADS = 8


async def race_one_round(
    service: FileService, collector: GarbageCollector, data: bytes
) -> tuple[list[StoredFile], int]:
    """Upload `data` several times while GC runs over and over; return uploads and removals."""
    uploads_done = asyncio.Event()

    async def upload_after(delay: float) -> StoredFile:
        await asyncio.sleep(delay)
        return await service.upload(BytesBody(data), "alice", "/files/")

    async def upload_all() -> list[StoredFile]:
        # Spread over a few milliseconds, so that uploads start while GC is at
        # every stage of its pass, not all before its first query.
        delays = [random.uniform(0, 0.03) for _ in range(RACE_UPLOADS)]
        try:
            return await asyncio.gather(*(upload_after(delay) for delay in delays))
        finally:
            uploads_done.set()

    async def collect_until_uploads_done() -> int:
        result = GcResult(dry_run=False)
        while not uploads_done.is_set():
            await collector.collect_unreferenced_blobs(result)
            await collector.collect_orphan_files(result)
        return len(result.removals)

    stored, removed = await asyncio.gather(upload_all(), collect_until_uploads_done())
    return stored, removed


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])
async def test_gc_racing_uploads_loses_no_bytes(
    store: Store, service: FileService, settings: Settings
) -> None:
    data = os.urandom(64 * 1024)
    collector = GarbageCollector(store, grace=timedelta(0))
    removed = 0
    previous: list[uuid.UUID] = []

    for _ in range(RACE_ROUNDS):
        # Each round starts with the blob on disk and unreferenced, the state
        # in which GC may delete it while uploads deduplicate against it.
        for key in previous:
            await service.delete(key, ADMIN)

        stored, removed_now = await race_one_round(service, collector, data)
        removed += removed_now

        for upload in stored:
            reader = await service.open(await service.get(upload.record.key))
            assert b"".join([chunk async for chunk in reader.chunks()]) == data
        previous = [upload.record.key for upload in stored]

    assert blob_files(settings.file_base_path) == [blob_path(settings.file_base_path, sha256(data))]
    assert temp_files(settings.file_base_path) == []
    print(f"GC removed the raced blob {removed} times in {RACE_ROUNDS} rounds")
