"""Listings of the files under a local blob store, for the maintenance commands.

Listing walks one top-level shard (<base>/ab/) at a time, so a store with
millions of blobs is read in pieces of about 1/256 of the tree.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blake3 import blake3 as Blake3

from blobstore.storage.local import TEMP_DIR_NAME, blob_path

__all__ = [
    "QUARANTINE_DIR_NAME",
    "DiskFile",
    "file_digests",
    "quarantine_blob",
    "scan_shard",
    "shard_dirs",
    "stat_file",
    "temp_files",
]

QUARANTINE_DIR_NAME = "quarantine"
READ_CHUNK_BYTES = 1024 * 1024

_SHARD = re.compile(r"[0-9a-f]{2}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DiskFile:
    """A regular file found on disk; `sha256` is None unless it sits where a blob belongs."""

    path: Path
    size: int
    modified_at: datetime
    sha256: str | None = None


def stat_file(path: Path, sha256: str | None = None) -> DiskFile | None:
    """Return a regular file's size and modification time, or None if it is not there."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return None
    # Symbolic links are skipped: a link is never how the store places a blob.
    if not stat.S_ISREG(status.st_mode):
        return None
    return DiskFile(path, status.st_size, datetime.fromtimestamp(status.st_mtime, UTC), sha256)


def file_digests(path: Path, *, sha256: bool = True, blake3: bool = False) -> dict[str, str]:
    """Hash a file in one pass; return hex digests keyed "sha256" and "blake3"."""
    hashers: dict[str, Any] = {}
    if sha256:
        hashers["sha256"] = hashlib.sha256()
    if blake3:
        hashers["blake3"] = Blake3()
    with path.open("rb") as source:
        while chunk := source.read(READ_CHUNK_BYTES):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def shard_dirs(base: Path) -> list[Path]:
    """Return the top-level shard directories (<base>/00 to <base>/ff) that exist."""
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if _SHARD.fullmatch(p.name) and p.is_dir())


def scan_shard(shard: Path) -> tuple[list[DiskFile], list[DiskFile]]:
    """List one top-level shard: files at their blob path, and stray files that are not.

    A stray file is any other file in the shard, such as a name that is not a
    sha256 or a blob filed under the wrong prefix. Blobs come in sha256 order.
    """
    blobs: list[DiskFile] = []
    strays: list[DiskFile] = []
    for sub in sorted(shard.iterdir()):
        if not sub.is_dir() or sub.is_symlink():
            _add(strays, sub, None)
            continue
        for entry in sorted(sub.iterdir()):
            name = entry.name
            is_blob = bool(_SHA256_HEX.fullmatch(name)) and blob_path(shard.parent, name) == entry
            _add(blobs if is_blob else strays, entry, name if is_blob else None)
    return blobs, strays


def _add(found: list[DiskFile], path: Path, sha256: str | None) -> None:
    disk_file = stat_file(path, sha256)
    if disk_file is not None:
        found.append(disk_file)


def temp_files(base: Path) -> list[DiskFile]:
    """Return the files in <base>/tmp: uploads in progress or left by a crash."""
    temp_dir = base / TEMP_DIR_NAME
    if not temp_dir.is_dir():
        return []
    found: list[DiskFile] = []
    for entry in sorted(temp_dir.iterdir()):
        _add(found, entry, None)
    return found


def quarantine_blob(base: Path, sha256: str, moment: datetime) -> Path:
    """Move a blob file to <base>/quarantine/<sha256>.<UTC time> and return its new path.

    The move is a rename within the store's filesystem, so the blob path
    becomes empty at once and no reader sees a half-moved file.
    """
    target_dir = base / QUARANTINE_DIR_NAME
    target_dir.mkdir(exist_ok=True)
    target = target_dir / f"{sha256}.{moment.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"
    os.rename(blob_path(base, sha256), target)
    return target
