"""The single-active-relay lock.

Only one relay may publish at a time, however many processes run one. On
PostgreSQL the lock is a session advisory lock, held by a connection of its
own for as long as the relay runs: if the process dies, the server closes the
session and the lock is free at once. On the embedded SQLite database it is an
fcntl lock on a file next to the database file, which the kernel releases the
same way.

The lock keeps a second relay idle. It cannot stop a relay that lost its lock
without noticing from committing: the fixed transactional.id does that, because
the next relay's init_transactions fences the older producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

import asyncpg
from sqlalchemy.engine import URL

from blobstore.config import Settings
from blobstore.errors import RelayError, RelayLockLost

__all__ = ["CONNECTION_ERRORS", "AdvisoryLock", "FileLock", "RelayLock", "acquire", "relay_lock"]

logger = logging.getLogger(__name__)

# Exceptions that asyncpg raises when its connection or the server fails. A
# connection whose server session was terminated can also raise InternalClientError.
CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

# How often a waiting relay tries the lock again, in seconds: the delay before
# a standby takes over from a relay that died.
RETRY_INTERVAL_S = 1.0

# pg_advisory_lock takes a bigint; this one is derived from a fixed name so
# that every blobstore release agrees on it.
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"blobstore.events.relay").digest()[:8], "big", signed=True
)


class RelayLock(Protocol):
    description: str

    @property
    def held(self) -> bool:
        """Whether this relay took the lock and has not seen it lost or released."""

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; return whether this relay now holds it."""

    async def check(self) -> None:
        """Raise RelayLockLost unless the lock is still held."""

    async def release(self) -> None: ...


def relay_lock(settings: Settings) -> RelayLock:
    url = settings.database_url
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(url)
    if not url.database or url.database == ":memory:":
        raise RelayError(
            "the relay needs a database file or server, not an in-memory SQLite database",
            stage="connect",
        )
    return FileLock(Path(url.database).with_name(Path(url.database).name + ".relay-lock"))


async def acquire(lock: RelayLock, stop: asyncio.Event) -> bool:
    """Wait until the lock is held, returning True, or until `stop` is set, returning False."""
    if lock.held:
        return True

    waiting_logged = False
    while not stop.is_set():
        if await lock.try_acquire():
            logger.info("acquired the relay lock (%s)", lock.description)
            return True

        if not waiting_logged:
            logger.info("waiting for the relay lock (%s): another relay holds it", lock.description)
            waiting_logged = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RETRY_INTERVAL_S)
    return False


class AdvisoryLock:
    """A PostgreSQL session advisory lock on a dedicated connection."""

    def __init__(self, url: URL) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.description = (
            f"PostgreSQL advisory lock {ADVISORY_LOCK_KEY} on "
            f"{url.render_as_string(hide_password=True)}"
        )
        self._connection: asyncpg.Connection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    async def try_acquire(self) -> bool:
        if self._held:
            return True

        try:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self._dsn)
            self._held = bool(
                await self._connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY
                )
            )
        except CONNECTION_ERRORS as exc:
            await self.release()
            raise RelayLockLost(f"taking the {self.description} failed: {exc}") from exc
        return self._held

    async def check(self) -> None:
        if not self._held or self._connection is None:
            raise RelayLockLost(f"the {self.description} is not held")
        try:
            await self._connection.fetchval("SELECT 1")
        except CONNECTION_ERRORS as exc:
            await self.release()
            raise RelayLockLost(f"lost the {self.description}: {exc}") from exc

    async def release(self) -> None:
        # Closing the session releases every advisory lock it holds.
        connection, self._connection = self._connection, None
        self._held = False
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(*CONNECTION_ERRORS):
                await connection.close(timeout=5)


class FileLock:
    """An exclusive fcntl lock on a file, for relays sharing one SQLite database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file lock {path}"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def check(self) -> None:
        if self._fd is None:
            raise RelayLockLost(f"the {self.description} is not held")

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
