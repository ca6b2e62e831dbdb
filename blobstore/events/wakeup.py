"""Wake the idle relay when new outbox rows commit.

On PostgreSQL the relay LISTENs on the channel that every transaction writing
an outbox row NOTIFYs on commit. The poll interval stays as a fallback, for
SQLite, which has no notifications, and for a listening connection that fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from sqlalchemy.engine import URL

from blobstore.events.lock import CONNECTION_ERRORS
from blobstore.events.outbox import OUTBOX_CHANNEL

__all__ = ["OutboxWakeup"]

logger = logging.getLogger(__name__)


class OutboxWakeup:
    """An event set by outbox notifications, and a wait that also ends after the poll interval."""

    def __init__(self, url: URL) -> None:
        self._url = url
        self._event = asyncio.Event()
        self._connection: asyncpg.Connection | None = None

    async def start(self) -> None:
        """Start listening on PostgreSQL; on failure, log it and rely on polling."""
        if self._url.get_backend_name() != "postgresql" or self._listening():
            return

        dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            self._connection = await asyncpg.connect(dsn)
            await self._connection.add_listener(OUTBOX_CHANNEL, self._notified)
        except CONNECTION_ERRORS as exc:
            logger.warning(
                "listening on %s failed, the relay polls instead: %s", OUTBOX_CHANNEL, exc
            )
            await self.close()

    def clear(self) -> None:
        """Forget earlier notifications; call it before looking for pending rows."""
        self._event.clear()

    async def wait(self, interval: float, stop: asyncio.Event) -> None:
        """Return on a notification since `clear`, on `stop`, or after `interval` seconds."""
        waiters = {
            asyncio.ensure_future(self._event.wait()),
            asyncio.ensure_future(stop.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(*CONNECTION_ERRORS):
                await connection.close(timeout=5)

    def _listening(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    def _notified(self, *_args: object) -> None:
        self._event.set()
