"""The interface every blob store implements (local disk now, S3 later)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StagedBlob:
    """An upload that is fully written and hashed, but not yet placed.

    `handle` belongs to the backend that staged the blob (for the local store, the
    temp file's path); callers pass the object back and never look inside.
    """

    sha256: str
    blake3: str
    size: int
    handle: str


class BlobSink(Protocol):
    """Receives one upload's bytes as they stream in and hashes them in the same pass."""

    async def write(self, chunk: bytes) -> None: ...

    async def finish(self) -> StagedBlob:
        """Finish writing and return the digests; `place` makes new content durable."""
        ...

    async def abort(self) -> None:
        """Drop everything written so far; safe to call more than once."""
        ...


class BlobReader(Protocol):
    """An open blob, ready to stream a byte range."""

    size: int

    def chunks(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Yield the bytes from `start` up to, not including, `end` (default: the end)."""
        ...

    def fileno(self) -> int | None:
        """Return an OS file descriptor that sendfile(2) can read, or None if there is none."""
        ...

    async def close(self) -> None: ...


class StorageBackend(Protocol):
    """Content-addressed blob storage keyed by the lowercase hex sha256."""

    def create_sink(self) -> BlobSink: ...

    async def place(self, staged: StagedBlob) -> bool:
        """Make a staged blob readable under its sha256.

        Returns True when the content was already stored, so nothing new was
        written (deduplicated), and False when this call stored it. Placing the
        same staged blob again is allowed and puts it back if it went missing.
        """
        ...

    async def discard(self, staged: StagedBlob) -> None:
        """Remove the staging copy; the placed blob, if any, stays."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def open(self, sha256: str) -> BlobReader:
        """Open a stored blob, raising BlobMissing when it is not there."""
        ...

    async def delete(self, sha256: str) -> None: ...

    async def probe(self) -> None:
        """Write, read back and delete a small file, raising StorageError on any failure."""
        ...
