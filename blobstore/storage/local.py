"""Blobs on a local or NFS-mounted filesystem, sharded by digest.

Layout under the base path:

    <base>/ab/cd/<sha256>   placed blobs, immutable once there
    <base>/tmp/<id>.part    uploads being written; never read by anyone else
    <base>/tmp/<id>.probe   health checks' probe files, deleted at once

A blob appears at its final path only by a hard link from a fully written,
fsynced temp file, so a reader or a crash can never see a partial blob there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from blake3 import blake3

from blobstore.errors import StorageError
from blobstore.storage.backend import StagedBlob

__all__ = ["BlobMissing", "LocalStorage", "blob_path", "sharded_name"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Bytes gathered before one hand-off to the worker thread: large enough that the
# thread hop costs little per byte, small enough that memory stays flat.
WRITE_BATCH_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024
# Blobs up to this size are read on the event loop: a page-cache read of a few
# kilobytes is cheaper than the thread hop it would otherwise take.
INLINE_READ_BYTES = 64 * 1024

TEMP_DIR_NAME = "tmp"
TEMP_SUFFIX = ".part"
PROBE_SUFFIX = ".probe"

# Batches at least this large have BLAKE3 computed on a second thread. For
# smaller ones the hand-off would cost more than the hashing.
PARALLEL_HASH_BYTES = 64 * 1024
# Placing a new blob waits on two fsyncs, which hold a thread but no CPU. The
# filesystem journal commits concurrent fsyncs together, so a pool this wide
# lets one commit serve many uploads, where the default executor's few
# threads would queue them.
PLACE_THREADS = 32

_HASHERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="blake3")
_PLACERS = ThreadPoolExecutor(max_workers=PLACE_THREADS, thread_name_prefix="blob-place")

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class BlobMissing(StorageError):
    """Raised when a blob that the index references is not on disk."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"blob {sha256} is missing from storage")
        self.sha256 = sha256


def blob_path(base: Path, sha256: str) -> Path:
    """Return the sharded path of a blob, rejecting anything but a lowercase sha256 hex."""
    return base / sharded_name(sha256)


def sharded_name(sha256: str) -> str:
    """Return a blob's path relative to the base, `ab/cd/<sha256>`, with '/' separators.

    Raises ValueError for anything but a lowercase sha256 hex, so the name
    can never climb out of the base directory.
    """
    if not _SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a lowercase sha256 hex digest: {sha256!r}")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


async def _in_thread(func: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """A `StorageBackend` on a directory tree."""

    def __init__(self, base_path: Path) -> None:
        self.base_path = base_path
        self.temp_dir = base_path / TEMP_DIR_NAME
        # Temp files of uploads that have neither been aborted nor discarded yet.
        self._unfinished: set[Path] = set()
        # Probes get their own thread: on a hung filesystem, a stuck probe then
        # blocks only later probes (which time out), never the upload threads.
        self._probe_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-probe")

    def ensure_ready(self) -> None:
        """Create the base and temp directories, raising StorageError if that fails."""
        try:
            self.temp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create blob directory {self.temp_dir}: {exc}") from exc

    def create_sink(self) -> LocalSink:
        sink = LocalSink(self.temp_dir, on_abort=self._unfinished.discard)
        self._unfinished.add(sink.path)
        return sink

    async def place(self, staged: StagedBlob) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_PLACERS, self._place, staged)

    def _place(self, staged: StagedBlob) -> bool:
        final = blob_path(self.base_path, staged.sha256)
        temp = Path(staged.handle)

        try:
            if _size_or_none(final) == staged.size:
                # Deduplicated: the temp copy is about to be dropped, so it
                # is never flushed, and its pages mostly never reach the disk.
                return True
            _fsync_file(temp)

            new_dirs = [d for d in (final.parent.parent, final.parent) if not d.exists()]
            final.parent.mkdir(parents=True, exist_ok=True)

            existing_size = _link_or_existing_size(temp, final)
            if existing_size == staged.size:
                return True
            if existing_size is not None:
                # The stored copy has the wrong size, so it is damaged; the freshly
                # verified bytes take its place atomically.
                logger.error("replacing damaged blob %s", staged.sha256)
                swap = temp.with_suffix(".swap")
                os.link(temp, swap)
                os.replace(swap, final)

            _fsync_dir(final.parent)
            for directory in new_dirs:
                _fsync_dir(directory.parent)
        except OSError as exc:
            raise StorageError(f"cannot place blob {staged.sha256}: {exc}") from exc
        return False

    async def discard(self, staged: StagedBlob) -> None:
        await _in_thread(_unlink_quietly, Path(staged.handle))
        self._unfinished.discard(Path(staged.handle))

    async def exists(self, sha256: str) -> bool:
        return await _in_thread(blob_path(self.base_path, sha256).exists)

    async def open(self, sha256: str) -> LocalReader:
        path = blob_path(self.base_path, sha256)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise BlobMissing(sha256) from None
        except OSError as exc:
            raise StorageError(f"cannot open blob {sha256}: {exc}") from exc
        return LocalReader(fd, os.fstat(fd).st_size)

    async def delete(self, sha256: str) -> None:
        await _in_thread(_unlink_quietly, blob_path(self.base_path, sha256))

    async def probe(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._probe_executor, self._probe)

    def _probe(self) -> None:
        path = self.temp_dir / f"{uuid.uuid4().hex}{PROBE_SUFFIX}"
        expected = path.name.encode()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                os.write(fd, expected)
                found = os.pread(fd, len(expected) + 1, 0)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot write probe file in {self.temp_dir}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

        if found != expected:
            raise StorageError(f"probe file {path} read back {len(found)} bytes that differ")

    async def remove_unfinished(self) -> int:
        """Delete the temp files of uploads still in progress, returning how many.

        For shutdown, once in-flight requests have finished or been cancelled:
        a temp file still listed then belongs to an upload that will never end.
        Only this process's uploads are touched, so other processes sharing the
        directory keep theirs.
        """
        paths = list(self._unfinished)
        self._unfinished.clear()
        for path in paths:
            await _in_thread(_unlink_quietly, path)
        return len(paths)

    def close(self) -> None:
        # A probe stuck on a hung filesystem must not block the process exit.
        self._probe_executor.shutdown(wait=False, cancel_futures=True)


def _size_or_none(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_or_existing_size(temp: Path, final: Path) -> int | None:
    """Hard-link `temp` to `final` and return None, or return the size of a file already there."""
    while True:
        try:
            # link() fails if the name exists, unlike rename(), so a second
            # writer of the same content never replaces the first one's file.
            # NOTE: needs a filesystem with hard links (local disks and NFS have them).
            os.link(temp, final)
            return None
        except FileExistsError:
            pass
        try:
            return os.stat(final).st_size
        except FileNotFoundError:
            # Garbage collection removed the blob between the two calls.
            continue


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class LocalSink:
    """Writes an upload to a temp file while hashing it, off the event loop.

    One batch is hashed and written in a worker thread while the next one is
    received, so disk and network overlap. Memory stays at about two batches.
    """

    def __init__(self, temp_dir: Path, on_abort: Callable[[Path], None] | None = None) -> None:
        self.path = temp_dir / f"{uuid.uuid4().hex}{TEMP_SUFFIX}"
        self._on_abort = on_abort
        self._fd: int | None = None
        self._sha256 = hashlib.sha256()
        self._blake3 = blake3()
        self._size = 0
        self._batch = bytearray()
        self._pending: asyncio.Future[None] | None = None

    async def write(self, chunk: bytes) -> None:
        self._batch += chunk
        if len(self._batch) >= WRITE_BATCH_BYTES:
            await self._hand_off()

    async def finish(self) -> StagedBlob:
        await self._wait_pending()
        batch, self._batch = self._batch, bytearray()
        # The last batch and the close share one thread hop, which is the
        # only one a small upload takes.
        await _in_thread(self._consume_and_close, batch)
        return StagedBlob(
            sha256=self._sha256.hexdigest(),
            blake3=self._blake3.hexdigest(),
            size=self._size,
            handle=str(self.path),
        )

    async def abort(self) -> None:
        # The upload is being dropped anyway, so a failed write no longer matters.
        with contextlib.suppress(StorageError):
            await self._wait_pending()
        await _in_thread(self._close_and_remove)
        if self._on_abort is not None:
            self._on_abort(self.path)

    async def _hand_off(self) -> None:
        await self._wait_pending()
        batch, self._batch = self._batch, bytearray()
        self._pending = asyncio.get_running_loop().run_in_executor(None, self._consume, batch)

    async def _wait_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    def _consume(self, batch: bytearray) -> None:
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            # Both hashes release the GIL, so BLAKE3 runs on another core while
            # this thread computes sha256 and writes.
            blake3_done = None
            if len(batch) >= PARALLEL_HASH_BYTES:
                blake3_done = _HASHERS.submit(self._blake3.update, batch)
            else:
                self._blake3.update(batch)
            self._sha256.update(batch)
            view = memoryview(batch)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if blake3_done is not None:
                blake3_done.result()
        except OSError as exc:
            raise StorageError(f"cannot write temp file {self.path}: {exc}") from exc
        self._size += len(batch)

    def _consume_and_close(self, batch: bytearray) -> None:
        self._consume(batch)
        # No fsync here: place() flushes the file only if it becomes a blob.
        try:
            self._close()
        except OSError as exc:
            raise StorageError(f"cannot close temp file {self.path}: {exc}") from exc

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def _close_and_remove(self) -> None:
        self._close()
        _unlink_quietly(self.path)


class LocalReader:
    """An open blob file; closes itself once `chunks` has been read to the end."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd: int | None = fd
        self.size = size

    async def chunks(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        stop = self.size if end is None else min(end, self.size)
        position = start
        try:
            while position < stop and self._fd is not None:
                length = min(READ_CHUNK_BYTES, stop - position)
                if stop - start <= INLINE_READ_BYTES:
                    data = os.pread(self._fd, length, position)
                else:
                    data = await _in_thread(os.pread, self._fd, length, position)
                if not data:
                    raise StorageError(f"blob file ended at byte {position}, expected {stop}")
                position += len(data)
                yield data
        finally:
            await self.close()

    def fileno(self) -> int | None:
        return self._fd

    async def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
