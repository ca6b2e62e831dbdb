"""The setup every maintenance command runs on: a current schema, an engine, the blob store."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.config import Settings
from blobstore.db import migrate
from blobstore.db.engine import create_engine
from blobstore.storage import LocalStorage

__all__ = ["Store", "format_bytes", "parse_duration", "run_with_store"]

# A command uses one connection at a time; two leave room for a lock check.
POOL_SIZE = 2

_DURATION = re.compile(r"(\d+)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Store:
    """The database engine and blob storage that a command works on."""

    settings: Settings
    engine: AsyncEngine
    storage: LocalStorage


def run_with_store(settings: Settings, command: Callable[[Store], Awaitable[int]]) -> int:
    """Run an async command against the configured store and return its exit status.

    The embedded SQLite file is migrated first, as `blobstore serve` does; a
    PostgreSQL database must already be at the head revision.
    """
    # The commands print their results and progress; per-file INFO lines from
    # the service and Alembic would bury both, so only warnings are logged.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        if settings.is_embedded:
            # Alembic's env.py starts its own event loop, so this runs before ours.
            migrate.upgrade(settings.database_url)
        return asyncio.run(_run(settings, command))
    finally:
        root.setLevel(level)


async def _run(settings: Settings, command: Callable[[Store], Awaitable[int]]) -> int:
    storage = LocalStorage(settings.file_base_path)
    storage.ensure_ready()
    engine = create_engine(settings.database_url, pool_size=POOL_SIZE)
    try:
        try:
            await migrate.check_schema(settings.database_url, engine)
        except migrate.SchemaOutOfDate as exc:
            print(f"blobstore: {exc}", file=sys.stderr)
            return 2
        return await command(Store(settings, engine, storage))
    finally:
        await engine.dispose()


def parse_duration(raw: str) -> timedelta:
    """Read a duration such as 90s, 30m, 1h or 7d; a bare number counts seconds.

    Raises ValueError naming the value, which argparse turns into a usage error.
    """
    match = _DURATION.fullmatch(raw.strip().lower())
    if match is None:
        raise ValueError(f"invalid duration {raw!r}: use a number with s, m, h or d, like 1h")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


def format_bytes(count: int) -> str:
    """Format a byte count for people, in binary units, with the exact count kept."""
    if count < 1024:
        return f"{count} B"
    size = float(count)
    units = ["KiB", "MiB", "GiB", "TiB"]
    unit = units.pop(0)
    size /= 1024
    while size >= 1024 and units:
        size /= 1024
        unit = units.pop(0)
    return f"{size:.1f} {unit} ({count} bytes)"
