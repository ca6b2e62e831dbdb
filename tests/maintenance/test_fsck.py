"""fsck on corrupted, truncated and missing blob files, with and without repair."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from blake3 import blake3
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.cli import main
from blobstore.clock import utc_now
from blobstore.config import Settings
from blobstore.db.models import blobs
from blobstore.maintenance.fsck import (
    BLAKE3_MISMATCH,
    MISSING,
    NO_ROW,
    SHA256_MISMATCH,
    STRAY,
    WRONG_SIZE,
    IntegrityChecker,
)
from blobstore.maintenance.runtime import Store
from blobstore.service import FileService, StoredFile
from blobstore.storage.local import blob_path
from tests.helpers import sha256
from tests.maintenance.conftest import store_bytes


def path_of(settings: Settings, stored: StoredFile) -> Path:
    return blob_path(settings.file_base_path, stored.record.sha256)


def flip_first_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


async def test_fsck_on_healthy_store_is_clean(store: Store, service: FileService) -> None:
    for data in (b"one", b"two", b"two", b""):
        await store_bytes(service, data)

    result = await IntegrityChecker(store, full=True).check()

    assert result.clean
    assert result.blobs_checked == 3
    assert result.bytes_checked == 6
    assert result.summary() == "fsck: blobs checked: 3 (6 B); clean"


async def test_fsck_finds_corrupted_truncated_and_missing_blobs(
    store: Store, service: FileService, settings: Settings
) -> None:
    corrupted = await store_bytes(service, b"corrupted bytes")
    truncated = await store_bytes(service, b"truncated bytes")
    missing = await store_bytes(service, b"missing bytes")
    healthy = await store_bytes(service, b"healthy bytes")
    flip_first_byte(path_of(settings, corrupted))
    path_of(settings, truncated).write_bytes(b"trunc")
    path_of(settings, missing).unlink()

    result = await IntegrityChecker(store).check()

    found = {finding.sha256: finding for finding in result.findings}
    assert set(found) == {
        corrupted.record.sha256,
        truncated.record.sha256,
        missing.record.sha256,
    }
    assert found[corrupted.record.sha256].problem == BLAKE3_MISMATCH
    assert found[truncated.record.sha256].problem == WRONG_SIZE
    assert found[truncated.record.sha256].detail == "expected 15 bytes, found 5"
    assert found[missing.record.sha256].problem == MISSING
    assert found[missing.record.sha256].file_keys == (missing.record.key,)
    assert healthy.record.sha256 not in found
    assert result.affected_keys == {
        corrupted.record.key,
        truncated.record.key,
        missing.record.key,
    }
    assert path_of(settings, corrupted).exists()


async def test_fsck_finds_files_without_rows_and_stray_files(
    store: Store, settings: Settings
) -> None:
    orphan = blob_path(settings.file_base_path, sha256(b"orphan"))
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"orphan")
    stray = orphan.parent / "notes.txt"
    stray.write_text("not a blob")
    misfiled = orphan.parent / sha256(b"elsewhere")
    misfiled.write_bytes(b"elsewhere")

    result = await IntegrityChecker(store).check()

    assert sorted((f.problem, f.path) for f in result.findings) == sorted(
        [(NO_ROW, orphan), (STRAY, stray), (STRAY, misfiled)]
    )
    assert orphan.exists()


async def test_fsck_full_also_checks_sha256(
    store: Store, engine: AsyncEngine, settings: Settings
) -> None:
    # Bytes filed under another digest, with a row whose blake3 matches them:
    # only recomputing the sha256 shows that the name is wrong.
    named = sha256(b"the name")
    path = blob_path(settings.file_base_path, named)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"other bytes")
    async with engine.begin() as conn:
        await conn.execute(
            insert(blobs).values(
                sha256=named,
                blake3=blake3(b"other bytes").hexdigest(),
                size=len(b"other bytes"),
                created_at=utc_now(),
            )
        )

    quick = await IntegrityChecker(store).check()
    full = await IntegrityChecker(store, full=True).check()

    assert quick.clean
    assert [finding.problem for finding in full.findings] == [SHA256_MISMATCH]
    assert full.findings[0].detail == f"expected {named}, computed {sha256(b'other bytes')}"


async def test_fsck_repair_quarantines_corrupt_blobs_and_lists_keys(
    store: Store, service: FileService, settings: Settings
) -> None:
    first = await store_bytes(service, b"shared and corrupted")
    second = await store_bytes(service, b"shared and corrupted", owner="bob")
    truncated = await store_bytes(service, b"cut short")
    missing = await store_bytes(service, b"gone")
    flip_first_byte(path_of(settings, first))
    damaged = path_of(settings, first).read_bytes()
    path_of(settings, truncated).write_bytes(b"cut")
    path_of(settings, missing).unlink()

    result = await IntegrityChecker(store, repair=True).check()

    found = {finding.sha256: finding for finding in result.findings}
    corrupt = found[first.record.sha256]
    assert corrupt.quarantined_to is not None
    assert corrupt.quarantined_to.parent == settings.file_base_path / "quarantine"
    assert corrupt.quarantined_to.read_bytes() == damaged
    assert set(corrupt.file_keys) == {first.record.key, second.record.key}
    assert not path_of(settings, first).exists()
    assert found[truncated.record.sha256].quarantined_to is not None
    assert not path_of(settings, truncated).exists()
    assert found[missing.record.sha256].quarantined_to is None
    assert "file keys affected: 4; blobs quarantined: 2" in result.summary()


async def test_fsck_after_repair_and_reupload_is_clean(
    store: Store, service: FileService, settings: Settings
) -> None:
    stored = await store_bytes(service, b"will be healed")
    flip_first_byte(path_of(settings, stored))
    await IntegrityChecker(store, repair=True).check()

    await store_bytes(service, b"will be healed")
    result = await IntegrityChecker(store, full=True).check()
    reader = await service.open(stored.record)

    assert result.clean
    assert b"".join([chunk async for chunk in reader.chunks()]) == b"will be healed"


async def test_fsck_command_exit_status_and_summary(
    store: Store,
    service: FileService,
    settings: Settings,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stored = await store_bytes(service, b"checked by the command")
    # The command runs its own event loop, so it gets a thread of its own.
    clean_status = await asyncio.to_thread(main, ["fsck", "--full"])
    clean_output = capsys.readouterr().out
    path_of(settings, stored).write_bytes(b"short")

    broken_status = await asyncio.to_thread(main, ["fsck", "--repair"])
    broken_output = capsys.readouterr().out

    assert clean_status == 0
    assert "fsck: blobs checked: 1 (22 B); clean" in clean_output
    assert broken_status == 1
    assert f"wrong size: {path_of(settings, stored)}: expected 22 bytes, found 5" in broken_output
    assert f"affects files {stored.record.key}" in broken_output
    assert (
        "problems: 1 (wrong size: 1); file keys affected: 1; blobs quarantined: 1" in broken_output
    )
