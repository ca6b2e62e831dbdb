"""Bulk import: ingest an existing folder through the normal upload path.

Each regular file under the folder is uploaded with `FileService.upload`, so
it is hashed, deduplicated, recorded and announced in the outbox exactly as
an HTTP upload would be. The same transaction writes an `imported_files`
row keyed by (user, path relative to the folder, sha256), and a later run
skips every file whose key is already there. Each file is read once to hash
it, because the sha256 is part of that key. A file not yet imported is then
read a second time by the upload.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import mimetypes
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from blobstore.config import Settings
from blobstore.db import imports
from blobstore.db.repository import FileRecord
from blobstore.errors import ClientError, InvalidRequest
from blobstore.maintenance.progress import Progress
from blobstore.maintenance.runtime import Store, format_bytes, run_with_store
from blobstore.service import FileService
from blobstore.service.tags import normalize_tags
from blobstore.storage.inventory import file_digests

__all__ = ["DEFAULT_USER", "ImportSummary", "Importer", "command"]

logger = logging.getLogger(__name__)

# The owner of uploads sent without a token, so imported files without
# --user belong to the same owner as anonymous uploads.
DEFAULT_USER = "anonymous"
READ_CHUNK_BYTES = 1024 * 1024
# The width of files.user_id.
MAX_USER_ID_CHARS = 255
# The ledger's primary key contains the path, and PostgreSQL rejects a B-tree
# entry over about 2700 bytes, a third of its 8 KiB page. This limit leaves
# room for the user id (up to 1020 bytes of UTF-8) and digest beside the path.
MAX_SOURCE_PATH_BYTES = 1536


@dataclass
class ImportSummary:
    files: int = 0
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    bytes_imported: int = 0
    failures: list[tuple[Path, str]] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"import: {self.files} files found; {self.imported} imported "
            f"({format_bytes(self.bytes_imported)}), of which {self.duplicates} duplicates "
            f"of stored content; {self.skipped} already imported; "
            f"{len(self.failures)} failed"
        )


class FileBody:
    """A file on disk as an upload body: name, guessed type and tags, read in chunks."""

    def __init__(self, path: Path, tags: list[str]) -> None:
        self.path = path
        self.filename: str | None = path.name
        self.content_type: str | None = mimetypes.guess_type(path.name)[0]
        self.tags = tags
        # No digest to check against: the bytes read during the upload decide
        # the sha256, even when the file changed after it was hashed.
        self.expected_sha256: str | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        with self.path.open("rb") as source:
            while chunk := await asyncio.to_thread(source.read, READ_CHUNK_BYTES):
                yield chunk


class Importer:
    """Imports every regular file under a folder for one user, with the given tags."""

    def __init__(self, store: Store, *, user_id: str, tags: list[str], url_base: str) -> None:
        self.store = store
        self.service = FileService(store.settings, store.storage, store.engine)
        self.user_id = user_id
        self.tags = normalize_tags(tags)
        self.url_base = url_base

    async def run(self, root: Path) -> ImportSummary:
        summary = ImportSummary()
        paths = await asyncio.to_thread(_regular_files, root, self.store.settings.file_base_path)
        summary.files = len(paths)

        with Progress("files", len(paths)) as progress:
            for path in paths:
                relative = path.relative_to(root).as_posix()
                try:
                    await self._import_one(path, relative, summary)
                except (ClientError, OSError) as exc:
                    # One unreadable or oversized file must not stop the rest.
                    reason = exc.detail if isinstance(exc, ClientError) else str(exc)
                    summary.failures.append((path, reason))
                    logger.warning("cannot import %s: %s", path, reason)
                    progress.echo(f"failed {relative}: {reason}")
                progress.advance()
        return summary

    async def _import_one(self, path: Path, relative: str, summary: ImportSummary) -> None:
        if len(relative.encode()) > MAX_SOURCE_PATH_BYTES:
            raise InvalidRequest(
                "path is longer than {max_bytes} bytes, the import ledger's limit",
                max_bytes=MAX_SOURCE_PATH_BYTES,
            )
        sha256 = (await asyncio.to_thread(file_digests, path))["sha256"]
        async with self.store.engine.connect() as conn:
            if await imports.was_imported(conn, self.user_id, relative, sha256):
                summary.skipped += 1
                return

        async def record_import(conn: AsyncConnection, record: FileRecord) -> None:
            # The uploaded bytes decide the sha256, in case the file changed
            # since it was hashed above.
            await imports.record_import(conn, self.user_id, relative, record)

        try:
            stored = await self.service.upload(
                FileBody(path, self.tags), self.user_id, self.url_base, extra_record=record_import
            )
        except IntegrityError:
            # Another import of the same folder recorded this file first, and
            # this upload's transaction rolled back with nothing recorded.
            summary.skipped += 1
            return
        summary.imported += 1
        summary.duplicates += stored.deduplicated
        summary.bytes_imported += stored.record.size


def _regular_files(root: Path, skip: Path) -> list[Path]:
    """List regular files under `root` in name order, without following symbolic links.

    `skip` is the blob store's own folder, in case it lies inside `root`.
    """
    found: list[Path] = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if Path(directory, d) != skip)
        for name in sorted(names):
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `blobstore import`: exit status 0 when every file was imported or skipped."""
    root = Path(args.directory).absolute()
    if not root.is_dir():
        print(f"blobstore: cannot import {root}: not a directory", file=sys.stderr)
        return 2
    if not 1 <= len(args.user) <= MAX_USER_ID_CHARS:
        print(
            f"blobstore: invalid --user: use 1 to {MAX_USER_ID_CHARS} characters", file=sys.stderr
        )
        return 2
    try:
        normalize_tags(args.tag)
    except ClientError as exc:
        print(f"blobstore: invalid --tag: {exc.detail}", file=sys.stderr)
        return 2
    return run_with_store(settings, lambda store: _import(store, args, root))


async def _import(store: Store, args: argparse.Namespace, root: Path) -> int:
    # Without FILE_PUBLIC_URL there is no base to build absolute URLs on, so
    # the events carry a path relative to wherever the API is served.
    url_base = store.settings.file_public_url or "/files/"
    importer = Importer(store, user_id=args.user, tags=args.tag, url_base=url_base)
    summary = await importer.run(root)
    print(summary.describe())
    return 1 if summary.failures else 0
