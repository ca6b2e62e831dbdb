"""Plain asyncpg calls for the harness's own SQL: setup, bulk rows and direct queries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import URL

__all__ = ["dsn", "execute", "run"]

T = TypeVar("T")


def dsn(url: URL) -> str:
    """Return the libpq form of a SQLAlchemy URL, which asyncpg and pgbench take."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def run(url: URL, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Open one connection, run `work` on it and close it."""

    async def _run() -> T:
        connection = await asyncpg.connect(dsn(url))
        try:
            return await work(connection)
        finally:
            await connection.close()

    return asyncio.run(_run())


def execute(url: URL, *statements: str) -> None:
    """Run statements one after another, each in its own implicit transaction."""

    async def _execute(connection: asyncpg.Connection) -> None:
        for statement in statements:
            await connection.execute(statement)

    run(url, _execute)


def fetchval(url: URL, query: str, *args: Any) -> Any:
    async def _fetch(connection: asyncpg.Connection) -> Any:
        return await connection.fetchval(query, *args)

    return run(url, _fetch)
