"""LocalStorage: staging, placement, deduplication and cleanup on a real directory."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from blake3 import blake3

from blobstore.storage.local import BlobMissing, LocalStorage, blob_path


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    storage = LocalStorage(tmp_path / "files")
    storage.ensure_ready()
    return storage


async def stage(storage: LocalStorage, *chunks: bytes):  # type: ignore[no-untyped-def]
    sink = storage.create_sink()
    for chunk in chunks:
        await sink.write(chunk)
    return await sink.finish()


async def test_sink_computes_both_digests(storage: LocalStorage) -> None:
    data = b"a" * 3_000_000

    staged = await stage(storage, data[:1_000_000], data[1_000_000:])

    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.blake3 == blake3(data).hexdigest()
    assert staged.size == len(data)
    assert Path(staged.handle).read_bytes() == data


async def test_place_links_blob_at_sharded_path(storage: LocalStorage) -> None:
    staged = await stage(storage, b"content")

    deduplicated = await storage.place(staged)
    await storage.discard(staged)

    final = storage.base_path / staged.sha256[:2] / staged.sha256[2:4] / staged.sha256
    assert deduplicated is False
    assert final.read_bytes() == b"content"
    assert list(storage.temp_dir.iterdir()) == []


async def test_second_place_of_same_content_deduplicates(storage: LocalStorage) -> None:
    first = await stage(storage, b"same")
    second = await stage(storage, b"same")

    assert await storage.place(first) is False
    assert await storage.place(second) is True


async def test_place_replaces_blob_of_wrong_size(storage: LocalStorage) -> None:
    staged = await stage(storage, b"the real bytes")
    final = blob_path(storage.base_path, staged.sha256)
    final.parent.mkdir(parents=True)
    final.write_bytes(b"trunc")

    deduplicated = await storage.place(staged)

    assert deduplicated is False
    assert final.read_bytes() == b"the real bytes"


async def test_place_again_restores_a_vanished_blob(storage: LocalStorage) -> None:
    staged = await stage(storage, b"gc raced me")
    await storage.place(staged)
    blob_path(storage.base_path, staged.sha256).unlink()

    await storage.place(staged)

    assert await storage.exists(staged.sha256)


async def test_abort_removes_temp_file(storage: LocalStorage) -> None:
    sink = storage.create_sink()
    await sink.write(b"x" * 2_000_000)

    await sink.abort()
    await sink.abort()

    assert list(storage.temp_dir.iterdir()) == []


async def test_reader_streams_a_range(storage: LocalStorage) -> None:
    data = bytes(range(256)) * 10_000
    staged = await stage(storage, data)
    await storage.place(staged)

    reader = await storage.open(staged.sha256)
    chunks = [chunk async for chunk in reader.chunks(100, 2_000_100)]

    assert reader.size == len(data)
    assert b"".join(chunks) == data[100:2_000_100]


async def test_open_missing_blob_raises(storage: LocalStorage) -> None:
    with pytest.raises(BlobMissing, match="missing from storage"):
        await storage.open("0" * 64)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "0" * 63, ""])
def test_blob_path_rejects_non_digests(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        blob_path(tmp_path, bad)
